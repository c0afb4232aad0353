"""The SQLite store's caps: counting bytes, refusing what does not fit, evicting resolved alerts to make room.

Every function runs inside the caller's write transaction. The counters ``alerts`` and ``bytes`` track
what the ``alerts`` table holds; the bytes are those of an alert's labels and annotations as stored
(JSON) and its generator URL, the same measure the Redis store keeps.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence

from bridge.model import Alert
from bridge.store.base import Caps, StoreFull

log = logging.getLogger(__name__)

SIZE = "length(CAST(labels AS BLOB)) + length(CAST(annotations AS BLOB)) + length(CAST(generator_url AS BLOB))"
"""The bytes a row takes, in SQL; :func:`stored_bytes` is the same for an Alert."""


def stored_bytes(alert: Alert) -> int:
    """The bytes an alert takes in the store: its labels and annotations as stored (JSON), and its URL."""
    return sum(len(text.encode("utf-8", "surrogatepass"))
               for text in (_dump(alert.labels), _dump(alert.annotations), alert.generator_url))


def _dump(values: dict[str, str]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def _counters(db: sqlite3.Connection) -> tuple[int, int]:
    count, size = (value for (value,) in db.execute(
        "SELECT value FROM counters WHERE name IN ('alerts', 'bytes') ORDER BY name"))
    return count, size


def fits(db: sqlite3.Connection, caps: Caps, alert: Alert, existing: Alert | None, optional: bool) -> bool:
    """Whether writing ``alert`` over ``existing`` leaves the store within its caps; StoreFull unless
    ``optional``."""
    count, size = _counters(db)
    grows = stored_bytes(alert) - (stored_bytes(existing) if existing else 0)
    full = ((caps.max_alerts and existing is None and count >= caps.max_alerts)
            or (caps.max_bytes and grows > 0 and size + grows > caps.max_bytes))
    if full and not optional:
        raise StoreFull(caps.full_message)
    return not full


def make_room(db: sqlite3.Connection, caps: Caps, alerts: Sequence[Alert]) -> None:
    """Evict resolved alerts if the callback's alerts might not fit, so that resolved alerts (an
    attacker's, or recoveries of objects never seen) never lock real alarms out until they are forgotten.

    Those delivered to every target go first, then the undelivered ones, oldest ``endsAt`` first: an
    Alertmanager that never gets a resolution resolves the alert itself when its last ``endsAt`` passes.
    Alerts of the callback's own objects stay, so its late retries remain stale.
    """
    count, size = _counters(db)
    need_rows = count + len(alerts) - caps.max_alerts if caps.max_alerts else 0
    need_bytes = size + sum(map(stored_bytes, alerts)) - caps.max_bytes if caps.max_bytes else 0
    if need_rows <= 0 and need_bytes <= 0:
        return
    keys = sorted({a.object_key for a in alerts})
    candidates = db.execute(
        f"SELECT fingerprint, {SIZE} FROM alerts WHERE state = 'resolved'"
        f" AND object_key NOT IN ({', '.join('?' * len(keys))})"
        " ORDER BY seq > (SELECT coalesce(min(cursor), (SELECT value FROM counters WHERE name = 'seq'))"
        " FROM targets), ends_at, fingerprint", keys)
    evicted: list[str] = []
    for fingerprint, taken in candidates:
        if need_rows <= 0 and need_bytes <= 0:
            break
        evicted.append(fingerprint)
        need_rows, need_bytes = need_rows - 1, need_bytes - taken
    candidates.close()
    delete(db, evicted)
    if evicted:
        log.warning("store full: evicted resolved alerts to make room", extra={"alerts": len(evicted)})


def delete(db: sqlite3.Connection, fingerprints: Sequence[str]) -> tuple[int, int]:
    """Delete these alerts and count them off; the number deleted and the bytes they took."""
    deleted = taken = 0
    for start in range(0, len(fingerprints), 500):
        chunk = list(fingerprints[start:start + 500])
        marks = ", ".join("?" * len(chunk))
        rows, size = db.execute(f"SELECT count(*), coalesce(sum({SIZE}), 0) FROM alerts"
                                f" WHERE fingerprint IN ({marks})", chunk).fetchone()
        db.execute(f"DELETE FROM alerts WHERE fingerprint IN ({marks})", chunk)
        deleted, taken = deleted + rows, taken + size
    db.execute("UPDATE counters SET value = value - CASE name WHEN 'alerts' THEN ? ELSE ? END"
               " WHERE name IN ('alerts', 'bytes')", (deleted, taken))
    return deleted, taken
