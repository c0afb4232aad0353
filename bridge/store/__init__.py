"""The store: the bridge's own record of every alert, and each Alertmanager's delivery progress.

The contract is :class:`~bridge.store.base.Store`; ``sqlite`` (embedded default, one replica) and
``redis`` (shared by several replicas) implement it, and one contract suite (tests/contract/) runs on
both. A new backend is one module here, a scheme in :func:`open_store`, and a parameter of that suite.
"""

from __future__ import annotations

from bridge.store.base import (
    Outcome,
    Store,
    StoredAlert,
    StoreDiskFull,
    StoreError,
    StoreFull,
    StoreStats,
    TargetStats,
    redact_url,
)
from bridge.store.journal import DEFAULT_JOURNAL, CallbackRecord, JournalCaps, JournalQuery
from bridge.store.redis import RedisStore
from bridge.store.sqlite import SqliteStore

__all__ = ["CallbackRecord", "JournalCaps", "JournalQuery", "Outcome", "Store", "StoreDiskFull", "StoreError",
           "StoreFull", "StoreStats", "StoredAlert", "TargetStats", "open_store", "redact_url"]


def open_store(url: str, *, max_alerts: int = 0, max_bytes: int = 0,
               journal: JournalCaps = DEFAULT_JOURNAL) -> Store:
    """Open the store a URL names: ``sqlite:///relative/path``, ``sqlite:////absolute/path``,
    ``redis://[user:pass@]host:port/db``, ``rediss://...`` (TLS) or ``redis+sentinel://...``."""
    scheme, sep, _ = url.partition("://")
    if scheme == "sqlite" and sep:
        return SqliteStore.from_url(url, max_alerts=max_alerts, max_bytes=max_bytes, journal=journal)
    if scheme in ("redis", "rediss", "redis+sentinel") and sep:
        return RedisStore.from_url(url, max_alerts=max_alerts, max_bytes=max_bytes, journal=journal)
    raise ValueError(f"unsupported store URL {redact_url(url)!r}: expected sqlite:///path or redis://host:port/db")
