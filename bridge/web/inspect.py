"""The inspector's data: each section of the page (GET /) and each answer of /api/v1/, as plain JSON values.

Nothing here is escaped: the values (payloads, labels, error messages) are attacker-controlled, and the
page escapes them where it renders them. Nothing here writes to the store or sends to an Alertmanager.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from bridge import __version__, metrics, pipeline
from bridge.deliver.alertmanager import ENDS_AT_RESENDS, postable
from bridge.deliver.lease import LEASE_NAME
from bridge.model import InvalidPayload, UnsupportedMediaType
from bridge.settings import Settings
from bridge.store import JournalQuery, StoredAlert, TargetStats, redact_url
from bridge.store.admin import Selection, parse_matcher, selected
from bridge.store.journal import JOURNAL_ONLY_OUTCOMES
from bridge.vendors import VENDORS
from bridge.web.state import AppState

MAX_LIMIT = 1000
_UNKNOWN = TargetStats(backlog=0, oldest_change_at=None, last_success_at=None, up=None)
"""A target the delivery loop has not registered in the store yet."""
REDACTED = "<redacted>"
CALLBACK_OUTCOMES = (*metrics.CALLBACK_OUTCOMES, *JOURNAL_ONLY_OUTCOMES)
"""What a recorded callback's ``outcome`` may be; the filter also takes ``refused`` (any not answered 2xx)."""


def _limit(limit: int | str | None, default: int) -> int:
    try:
        value = default if limit in (None, "") else int(limit)
    except ValueError:
        raise ValueError(f"limit must be a number from 1 to {MAX_LIMIT}, got {limit!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise ValueError(f"limit must be a number from 1 to {MAX_LIMIT}, got {limit!r}")
    return value


def recent_callbacks(state: AppState, *, vendor: str | None = None, outcome: str | None = None,
                     limit: int | str | None = 100, before: int | str | None = None) -> list[dict[str, Any]]:
    """The journal's callbacks, newest first; ValueError names a bad filter."""
    if vendor and len(vendor) > 64:
        raise ValueError("vendor: too long")
    if outcome and outcome not in (*CALLBACK_OUTCOMES, "refused"):
        raise ValueError(f"unknown outcome {outcome!r}; known: refused, {', '.join(CALLBACK_OUTCOMES)}")
    try:
        below = int(before) if before not in (None, "") else None
    except ValueError:
        raise ValueError(f"before must be a callback id, got {before!r}") from None
    query = JournalQuery(vendor or None, outcome or None, _limit(limit, 100), below)
    return [record.as_dict() for record in state.store().callbacks(query)]


def alerts(state: AppState, *, matchers: Sequence[str] = (), limit: int | str | None = 500) -> dict[str, Any]:
    """The store's firing and resolved alerts (firing first, newest change first), each with its delivery
    state at every Alertmanager; ValueError names a bad matcher."""
    selection = Selection(tuple(parse_matcher(m) for m in matchers if m.strip()))
    most = _limit(limit, 500)
    now = time.time()
    store = state.store()
    found = list(selected(store, selection, now))
    found.sort(key=lambda s: (s.alert.state.value != "firing", -s.changed_at, s.fingerprint))
    names = [target.name for target in state.targets.current()]
    targets = store.stats(names, now).targets
    errors = store.target_errors(names)
    rejections = store.rejections(names)
    return {"alerts": [_alert(stored, names, targets, errors, rejections) for stored in found[:most]],
            "total": len(found), "alertmanagers": names}


def _alert(stored: StoredAlert, names: list[str], targets: dict[str, TargetStats],
           errors: dict[str, tuple[str, float | None]],
           rejections: dict[str, dict[str, tuple[int, str, float]]]) -> dict[str, Any]:
    alert = stored.alert
    delivery = {}
    for name in names:  # a target the delivery loop has not registered yet has no cursor: nothing delivered
        stats = targets.get(name, _UNKNOWN)
        error, error_at = errors.get(name, ("", None))
        seq, rejection, rejected_at = rejections.get(name, {}).get(stored.fingerprint, (-1, "", None))
        current = seq == stored.seq  # a rejection of an older state of the alert no longer applies
        delivery[name] = {"delivered": stats.cursor is not None and stored.seq <= stats.cursor and not current,
                          "last_success": stats.last_success_at, "up": stats.up, "last_error": error,
                          "last_error_at": error_at, "rejected": rejection if current else "",
                          "rejected_at": rejected_at if current else None}
    return {"fingerprint": stored.fingerprint, "state": alert.state.value, "vendor": alert.vendor,
            "labels": alert.labels, "annotations": alert.annotations, "starts_at": alert.starts_at,
            "ends_at": alert.ends_at, "changed_at": stored.changed_at, "delivery": delivery}


def try_payload(state: AppState, vendor: str, body: bytes, content_type: str | None = None) -> dict[str, Any]:
    """What ``serve`` would make of a payload, by the same code and rules (``translate``'s): nothing is
    stored, nothing sent. A payload the vendor's parser refuses gives ``ok: false`` and the reason."""
    parser = VENDORS.get(vendor)
    if parser is None:
        return {"ok": False, "vendor": vendor, "error": f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}"}
    now = time.time()
    try:
        parsed = pipeline.parse_pasted(parser, body, content_type or None, state.settings, now)
        made = pipeline.to_alerts(parsed.alarms, state.rules.current(), state.limits, now)
    except (InvalidPayload, UnsupportedMediaType) as exc:
        return {"ok": False, "vendor": vendor, "error": str(exc)}
    valid_for = ENDS_AT_RESENDS * state.settings.resend_interval
    unchecked = {"signature_checked": False} if getattr(parser, "signed_by", "") else {}  # as translate says
    return {"ok": True, "vendor": vendor, **unchecked, "reply": parsed.reply,
            "alerts": [postable(alert, now, valid_for) for alert in made if not alert.resolve_only],
            "dropped": [alarm.name for alarm, alert in zip(parsed.alarms, made, strict=True) if alert.resolve_only]}


def status(state: AppState) -> dict[str, Any]:
    """Version, the configuration in force (secrets redacted), the rules' generation, each Alertmanager's
    state and the store's."""
    now = time.time()
    store = state.store()
    names = [target.name for target in state.targets.current()]
    stats = store.stats(names, now)
    errors = store.target_errors(names)
    holder = store.lease_holder(LEASE_NAME, now)
    journal_count, journal_bytes = store.journal_size()
    settings = state.settings
    return {
        "version": __version__,
        "config": redacted_settings(settings),
        "rules": {"generation": state.rules.generation, "last_reload_at": state.rules.last_reload_at,
                  "config_file": settings.config_file},
        "alertmanagers": [{"name": name, "up": target.up, "backlog": target.backlog,
                           "oldest_change_at": target.oldest_change_at, "last_success": target.last_success_at,
                           "last_error": errors.get(name, ("", None))[0],
                           "last_error_at": errors.get(name, ("", None))[1]}
                          for name, target in ((n, stats.targets.get(n, _UNKNOWN)) for n in names)],
        "store": {"type": settings.store.partition(":")[0], "url": redact_url(settings.store),
                  "alerts": stats.total, "bytes": stats.bytes, "max_alerts": settings.store_max_alerts,
                  "max_bytes": settings.store_max_bytes,
                  "lease_holder": holder[0] if holder else None, "lease_until": holder[1] if holder else None,
                  "journal": {"callbacks": journal_count, "bytes": journal_bytes,
                              "max_callbacks": settings.journal_max_callbacks,
                              "max_bytes": settings.journal_max_bytes, "refused_not_recorded": state.journal.dropped}},
    }


def redacted_settings(settings: Settings) -> dict[str, Any]:
    """The settings as JSON, every secret replaced: tokens, passwords, bearer tokens, header values (they may
    carry credentials; the tenant header is shown), the store URL's password."""
    data = dataclasses.asdict(settings)
    for key in ("tokens", "admin_tokens"):
        data[key] = [REDACTED for _ in data[key]]
    data["vendor_tokens"] = {vendor: [REDACTED for _ in tokens] for vendor, tokens in data["vendor_tokens"].items()}
    data["store"] = redact_url(settings.store)
    data.pop("default_severity_from", None)
    for target, shown in zip(settings.alertmanagers, data["alertmanagers"], strict=True):
        shown["url"] = redact_url(target.url)
        for key in ("password", "bearer_token"):
            if shown[key]:
                shown[key] = REDACTED
        shown["headers"] = {name: value if name.lower() == "x-scope-orgid" else REDACTED
                            for name, value in target.headers.items()}
    return data
