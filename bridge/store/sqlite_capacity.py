"""The SQLite store's caps: counting bytes, refusing what does not fit, evicting resolved alerts to make room.

Every function runs inside the caller's write transaction. The counters ``alerts`` and ``bytes`` track
what the ``alerts`` table holds; the bytes are those of an alert's labels and annotations as stored
(JSON) and its generator URL, the same measure the Redis store keeps.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from bridge.model import Alert
from bridge.store.base import Caps, StoreFull, dump_map

log = logging.getLogger(__name__)

SIZE = "length(CAST(labels AS BLOB)) + length(CAST(annotations AS BLOB)) + length(CAST(generator_url AS BLOB))"
"""The bytes a row takes, in SQL; :func:`stored_bytes` is the same for an Alert."""
_ROW_SIZE = f"SELECT {SIZE} FROM alerts WHERE fingerprint = ?"


def stored_bytes(alert: Alert) -> int:
    """The bytes an alert takes in the store: its labels and annotations as stored (JSON), and its URL."""
    return sum(len(text.encode("utf-8", "surrogatepass"))
               for text in (dump_map(alert.labels), dump_map(alert.annotations), alert.generator_url))


def _at_most_bytes(alert: Alert) -> int:
    """A cheap upper bound of :func:`stored_bytes`: a character takes at most 6 bytes in JSON (an escape
    such as ``\\u0000``), a pair at most 8 more (quotes, colon, comma, spaces), a URL character at most 4."""
    pairs = (*alert.labels.items(), *alert.annotations.items())
    return sum(6 * (len(k) + len(v)) + 8 for k, v in pairs) + 4 + 4 * len(alert.generator_url)


def _counters(db: sqlite3.Connection) -> tuple[int, int]:
    count, size = (value for (value,) in db.execute(
        "SELECT value FROM counters WHERE name IN ('alerts', 'bytes') ORDER BY name"))
    return count, size


def reserve_row(db: sqlite3.Connection, caps: Caps, optional: bool) -> bool:
    """Count one more alert; at ``max_alerts``, StoreFull (False, nothing counted, if ``optional``)."""
    (count,) = db.execute("UPDATE counters SET value = value + 1 WHERE name = 'alerts' RETURNING value").fetchone()
    if not caps.max_alerts or count <= caps.max_alerts:
        return True
    if not optional:
        raise StoreFull(caps.full_message)
    release_row(db)
    return False


def release_row(db: sqlite3.Connection) -> None:
    db.execute("UPDATE counters SET value = value - 1 WHERE name = 'alerts'")


def take_bytes(db: sqlite3.Connection, caps: Caps, fingerprint: str, size: int, optional: bool) -> bool:
    """Count the bytes of a write of ``size`` over the row ``fingerprint``; if it grows the store past
    ``max_bytes``, StoreFull (False, nothing counted, if ``optional``)."""
    (before,) = db.execute(f"SELECT coalesce(({_ROW_SIZE}), 0)", (fingerprint,)).fetchone()
    grows = size - before
    if not grows:
        return True
    (total,) = db.execute("UPDATE counters SET value = value + ? WHERE name = 'bytes' RETURNING value",
                          (grows,)).fetchone()
    if not caps.max_bytes or grows < 0 or total <= caps.max_bytes:
        return True
    if not optional:
        raise StoreFull(caps.full_message)
    db.execute("UPDATE counters SET value = value - ? WHERE name = 'bytes'", (grows,))
    return False


def make_room(db: sqlite3.Connection, caps: Caps, alerts: Sequence[Alert]) -> None:
    """Evict resolved alerts if the callback's alerts might not fit, so that resolved alerts (an
    attacker's, or recoveries of objects never seen) never lock real alarms out until they are forgotten.

    Those delivered to every target go first, then the undelivered ones, oldest ``endsAt`` first: an
    Alertmanager that never gets a resolution resolves the alert itself when its last ``endsAt`` passes.
    Alerts of the callback's own objects stay, so its late retries remain stale.
    """
    if not (caps.max_alerts or caps.max_bytes):
        return
    count, size = _counters(db)
    if (not caps.max_alerts or count + len(alerts) <= caps.max_alerts) and (
            not caps.max_bytes or size + sum(map(_at_most_bytes, alerts)) <= caps.max_bytes):
        return  # fits even if every alert were new: no need to look at what is stored
    # An alert that updates a stored fingerprint takes no new row and only its growth in bytes: a
    # repeated firing callback at the cap must not evict anything (issue 19, review of item 4).
    incoming = {a.fingerprint: a for a in alerts}
    marks = ", ".join("?" * len(incoming))
    stored = dict(db.execute(f"SELECT fingerprint, {SIZE} FROM alerts WHERE fingerprint IN ({marks})",
                             list(incoming)).fetchall())
    need_rows = count + len(incoming.keys() - stored.keys()) - caps.max_alerts if caps.max_alerts else 0
    need_bytes = 0
    if caps.max_bytes:
        need_bytes = size + sum(max(0, stored_bytes(a) - stored.get(a.fingerprint, 0)) for a in alerts) \
            - caps.max_bytes
    if need_rows <= 0 and need_bytes <= 0:
        return
    keys = sorted({a.object_key for a in alerts})
    candidates = db.execute(  # the callback's own rows stay: they were counted as already stored
        f"SELECT fingerprint, {SIZE} FROM alerts WHERE state = 'resolved'"
        f" AND object_key NOT IN ({', '.join('?' * len(keys))}) AND fingerprint NOT IN ({marks})"
        " ORDER BY seq > (SELECT coalesce(min(cursor), (SELECT value FROM counters WHERE name = 'seq'))"
        " FROM targets), ends_at, fingerprint", [*keys, *incoming])
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
