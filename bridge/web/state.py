"""What the request handlers share, kept in ``app.extensions`` (there is no global app)."""

from __future__ import annotations

import threading

from flask import current_app

from bridge.discovery import Resolver, TargetSet
from bridge.mapping.limits import Limits
from bridge.metrics import Metrics, StoreCollector
from bridge.reload import RulesInForce
from bridge.settings import Settings
from bridge.store import JournalCaps, Store, open_store
from bridge.vendors import VENDORS
from bridge.verify.gate import Gate, GateSettings, gates_for
from bridge.web.auth import Guard
from bridge.web.journal import RefusedWriter


def signed_gates(settings: Settings) -> dict[str, Gate]:
    """The check of signed pushes for each vendor that declares ``signed_by`` (bridge.verify)."""
    signed_by = {name: vendor.signed_by for name, vendor in VENDORS.items() if getattr(vendor, "signed_by", "")}
    return gates_for(signed_by, GateSettings(settings.signing_hosts, settings.signing_ca_files,
                                             settings.allow_topics, settings.max_json_depth))


class AppState:
    """What the request handlers share: settings, rules, metrics, the store (opened lazily, after gunicorn forks)."""

    def __init__(self, settings: Settings, store: Store | None, rules: RulesInForce, metrics: Metrics) -> None:
        self.settings = settings
        self.guard = Guard.from_settings(settings)
        self.limits = Limits.from_settings(settings)
        self.gates = signed_gates(settings)
        self.rules = rules
        self.metrics = metrics
        self._store = store
        self._lock = threading.Lock()
        self.journal = RefusedWriter(self.store)
        self.secrets = tuple(dict.fromkeys((*settings.tokens, *settings.admin_tokens,
                                            *(t for ts in settings.vendor_tokens.values() for t in ts))))
        """Every token the bridge knows: redacted wherever a recorded callback shows one."""
        self.targets = targets = TargetSet(settings.alertmanagers, settings.alertmanager_refresh_interval,
                                           Resolver(settings.dns_server))
        self.collector = StoreCollector(self.store, lambda: [t.name for t in targets.current()],
                                        settings.store_max_alerts, settings.store_max_bytes,
                                        targets.discovered_counts)

    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.settings.store, max_alerts=self.settings.store_max_alerts,
                                             max_bytes=self.settings.store_max_bytes,
                                             journal=JournalCaps(self.settings.journal_max_callbacks,
                                                                 self.settings.journal_max_bytes))
        return self._store


def app_state() -> AppState:
    """The state of the app handling the current request."""
    return current_app.extensions["bridge"]
