"""The store's contract: the bridge's own record of every alert, and each Alertmanager's delivery progress.

Callbacks are acknowledged only after :meth:`Store.apply` commits. Every visible change gets a new,
store-wide sequence number; each Alertmanager target has a cursor, the highest sequence number it has
accepted, so an outage or a crash leaves exactly the undelivered changes behind. Implementations:
``sqlite`` (embedded default, one replica) and ``redis`` (shared by several replicas). A new backend
is one module here plus a parameter of the shared contract tests (tests/contract/test_store.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bridge.model import Alert, json_string
from bridge.store.journal import CallbackRecord, JournalQuery


class StoreError(RuntimeError):
    """The store cannot be used now; callbacks get 503 so that the vendor retries."""


class StoreDiskFull(StoreError):
    """The store's disk (the SQLite file's volume, or Redis' for its append-only file) has no space left.
    What was acknowledged is on it; callbacks get 503 until space is freed, then flow again, no restart."""


class StoreFull(StoreError):
    """The store holds its configured maximum of alerts or bytes, and evicting resolved alerts did not make
    room; callbacks get 503 until it drains."""


@dataclass(frozen=True)
class Caps:
    """How much a store may hold (0: no limit); near either cap it evicts resolved alerts first."""

    max_alerts: int = 0
    max_bytes: int = 0

    @property
    def full_message(self) -> str:
        caps = [f"{self.max_alerts} alerts" if self.max_alerts else "", f"{self.max_bytes} bytes" if self.max_bytes
                else ""]
        return f"the store holds its maximum of {' or '.join(filter(None, caps))}"


class Outcome(StrEnum):
    CHANGED = "changed"
    """Something Alertmanager must learn: queued for delivery to every target."""
    UNCHANGED = "unchanged"
    """A retry or repeat with nothing new: refreshed, nothing queued."""
    STALE = "stale"
    """Older than what the store already knows (a late retry after a recovery): ignored."""


@dataclass(frozen=True)
class StoredAlert:
    alert: Alert
    fingerprint: str
    seq: int
    changed_at: float


@dataclass(frozen=True)
class TargetStats:
    backlog: int
    oldest_change_at: float | None
    last_success_at: float | None
    up: bool | None
    cursor: int | None = field(default=None, compare=False)
    """The highest sequence number the target has accepted: changes up to it are delivered."""


@dataclass(frozen=True)
class StoreStats:
    alerts_by_vendor_state: dict[tuple[str, str], int] = field(default_factory=dict)
    total: int = 0
    targets: dict[str, TargetStats] = field(default_factory=dict)
    bytes: int = 0
    """What the alerts take, as counted against the store's ``max_bytes``."""


class Store(Protocol):
    def apply(self, alerts: Sequence[Alert], now: float, journal: CallbackRecord | None = None) -> list[Outcome]:
        """Record alert changes atomically, in order; raise StoreFull or StoreError.

        ``journal`` is the accepted callback's record for the recent-callbacks journal, committed in the same
        transaction (with the alerts' outcomes) and rolled back with them.

        Near its caps (``max_alerts``, ``max_bytes``) the store first evicts resolved alerts of other
        objects, delivered ones first, oldest first; a recovery of an object it does not know is then
        acknowledged without being kept. Only firing alerts that do not fit raise StoreFull.
        """
        ...

    def register_targets(self, targets: Sequence[str]) -> None:
        """Start cursors for new targets at the current sequence (a full resend covers the past)."""
        ...

    def changes(self, target: str, limit: int) -> list[StoredAlert]:
        """The oldest changes the target has not accepted yet, in sequence order."""
        ...

    def advance(self, target: str, seq: int, now: float) -> None:
        """Mark every change up to ``seq`` as delivered to ``target``."""
        ...

    def record_failure(self, target: str, now: float, error: str = "") -> None:
        """The target is down; ``error`` is what its last POST or probe said."""
        ...

    def target_errors(self, targets: Sequence[str]) -> dict[str, tuple[str, float | None]]:
        """Each target's last error and its time (``("", None)`` if none)."""
        ...

    def record_rejections(self, target: str, rejected: Sequence[tuple[str, int, str]], now: float) -> None:
        """Remember what ``target`` said rejecting alerts: (fingerprint, sequence number, message) each; the
        newest 1000 per target are kept."""
        ...

    def rejections(self, targets: Sequence[str]) -> dict[str, dict[str, tuple[int, str, float]]]:
        """Per target, fingerprint -> (sequence number, message, time) of its remembered rejections."""
        ...

    def record_callbacks(self, records: Sequence[CallbackRecord]) -> None:
        """Add records (refused callbacks) to the journal, evicting the oldest beyond its caps."""
        ...

    def callbacks(self, query: JournalQuery) -> list[CallbackRecord]:
        """The journal's records, newest first."""
        ...

    def journal_size(self) -> tuple[int, int]:
        """How many records the journal holds, and their bytes."""
        ...

    def lease_holder(self, name: str, now: float) -> tuple[str, float] | None:
        """Who holds a lease and until when, or None."""
        ...

    def active(self, after: str, limit: int, now: float, resolved_for: float) -> list[StoredAlert]:
        """Alerts to re-send, by fingerprint after ``after``: firing ones, and ones resolved recently."""
        ...

    def expire(self, now: float, max_firing_age: float) -> int:
        """Resolve firing alerts past their expiry, or that the vendor has not mentioned for
        ``max_firing_age`` seconds (0: off)."""
        ...

    def forget(self, now: float, keep_resolved_for: float) -> int:
        """Delete alerts resolved (and unchanged) for ``keep_resolved_for`` seconds, delivered or not.

        A dead target must not keep them until the store is full: by then every Alertmanager has
        expired them itself (their last ``endsAt`` has passed), and a cursor skips what is gone.
        """
        ...

    def delete(self, fingerprints: Sequence[str]) -> tuple[int, int]:
        """Delete these alerts (the admin's purge): how many were deleted, and the bytes they took."""
        ...

    def acquire_lease(self, name: str, owner: str, ttl: float, now: float) -> bool:
        """Take or renew a named lease; True while ``owner`` holds it."""
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """Drop the lease if ``owner`` holds it."""
        ...

    def stats(self, targets: Sequence[str], now: float) -> StoreStats: ...

    def ping(self) -> None:
        """Raise StoreError unless the store answers."""
        ...

    def close(self) -> None: ...


def redact_url(url: str) -> str:
    """Hide a password in a URL before it is logged."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in userinfo else url


def dump_map(values: dict[str, str]) -> str:
    """Labels or annotations as both stores keep them: sorted keys, UTF-8 as it is. One spelling, because the
    byte budgets count these exact strings (bridge.store.sqlite_capacity, lua/apply.lua). That is
    ``json.dumps(values, ensure_ascii=False, sort_keys=True)``, spelled out with its string encoder: two per
    alert stored, and json.dumps' set-up cost more than the encoding."""
    try:
        return "{" + ", ".join(f"{json_string(k)}: {json_string(v)}" for k, v in sorted(values.items())) + "}"
    except TypeError:  # a key or value that is not a string: as json.dumps spells it
        return json.dumps(values, ensure_ascii=False, sort_keys=True)
