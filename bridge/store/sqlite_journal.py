"""The recent-callbacks journal in SQLite: one row per callback, trimmed to its caps on every insert.

Counters (in the store's ``counters`` table) keep the journal's count and bytes, for all records and for
refused ones, so that an insert never scans the journal: it costs one INSERT, one counter read and
write, and a DELETE per evicted record, inside the transaction that commits the callback's alerts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bridge.store.journal import CallbackRecord, JournalCaps, JournalQuery, outcomes_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS callbacks (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    vendor   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    record   TEXT NOT NULL,
    outcomes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS callbacks_refused ON callbacks (accepted, id);
INSERT OR IGNORE INTO counters VALUES ('journal_count', 0), ('journal_bytes', 0), ('journal_refused_count', 0),
    ('journal_refused_bytes', 0);
"""
_COUNTERS = ("journal_count", "journal_bytes", "journal_refused_count", "journal_refused_bytes")


def insert(db: sqlite3.Connection, caps: JournalCaps, record: CallbackRecord, outcomes: Sequence[str] = ()) -> None:
    """Add a record, then evict the oldest until the journal is within its caps (refused ones first
    beyond their share). Runs inside the caller's transaction."""
    text, done = record.to_json(), outcomes_text(outcomes)
    size = len(text.encode("utf-8", "surrogatepass")) + len(done)
    db.execute("INSERT INTO callbacks (vendor, outcome, accepted, size, record, outcomes) VALUES (?, ?, ?, ?, ?, ?)",
               (record.vendor, record.outcome, int(record.accepted), size, text, done))
    values = dict(db.execute(f"SELECT name, value FROM counters WHERE name IN {_COUNTERS}").fetchall())
    count, total = values["journal_count"] + 1, values["journal_bytes"] + size
    refused, refused_bytes = values["journal_refused_count"], values["journal_refused_bytes"]
    if not record.accepted:
        refused, refused_bytes = refused + 1, refused_bytes + size
        while refused > caps.refused_callbacks or refused_bytes > caps.refused_bytes:
            gone = db.execute("DELETE FROM callbacks WHERE id = (SELECT min(id) FROM callbacks WHERE accepted = 0)"
                              " RETURNING size").fetchone()
            if gone is None:
                break
            count, total, refused, refused_bytes = count - 1, total - gone[0], refused - 1, refused_bytes - gone[0]
    while count > caps.max_callbacks or total > caps.max_bytes:
        gone = db.execute("DELETE FROM callbacks WHERE id = (SELECT min(id) FROM callbacks)"
                          " RETURNING size, accepted").fetchone()
        if gone is None:
            break
        count, total = count - 1, total - gone[0]
        if not gone[1]:
            refused, refused_bytes = refused - 1, refused_bytes - gone[0]
    db.executemany("UPDATE counters SET value = ? WHERE name = ?",
                   zip((count, total, refused, refused_bytes), _COUNTERS, strict=True))


def listing(db: sqlite3.Connection, query: JournalQuery) -> list[CallbackRecord]:
    where, args = ["id < ?"], [query.before if query.before is not None else 1 << 62]
    if query.vendor:
        where.append("vendor = ?")
        args.append(query.vendor)
    if query.outcome == "refused":
        where.append("accepted = 0")
    elif query.outcome:
        where.append("outcome = ?")
        args.append(query.outcome)
    rows = db.execute(f"SELECT id, record, outcomes FROM callbacks WHERE {' AND '.join(where)}"
                      " ORDER BY id DESC LIMIT ?", (*args, query.limit)).fetchall()
    return [CallbackRecord.from_stored(*row) for row in rows]


def size(db: sqlite3.Connection) -> tuple[int, int]:
    """How many records the journal holds, and their bytes."""
    values = dict(db.execute("SELECT name, value FROM counters WHERE name IN ('journal_count', 'journal_bytes')"))
    return values.get("journal_count", 0), values.get("journal_bytes", 0)
