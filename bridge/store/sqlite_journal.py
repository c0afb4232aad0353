"""What the inspector reads from SQLite: the recent-callbacks journal (one row per callback, trimmed to its
caps on every insert), each target's last error and rejected alerts, the lease holder.

One row of counters (``journal_counts``) keeps the journal's count and bytes, for all records and for
refused ones, so that an insert never scans the journal. Every page an insert touches is written to the
WAL at each commit, so the table has no AUTOINCREMENT (its sequence table would be one more page; ids
still only grow, as the newest row is never the one evicted) and no index on ``accepted`` (finding the
oldest refused record scans at most the journal's rows, and only refused inserts, written off the
request path, do it).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from bridge.store.base import StoreError
from bridge.store.group_commit import GroupCommit, PendingApply
from bridge.store.journal import (
    REJECTIONS_KEPT,
    CallbackRecord,
    JournalCaps,
    JournalQuery,
    outcomes_text,
    slack,
)
from bridge.store.writer_lock import WriterLock

log = logging.getLogger(__name__)

JOURNAL_FAILURES_TOLERATED = 3
"""Journal writes that may fail in a row (other than for a full disk, which passes) before this process turns
the journal off: diagnostic data must not cost every callback a failed write."""


class JournalLost(Exception):
    """SQLite rolled the whole transaction back on a journal write (it may on SQLITE_FULL): nothing of the batch
    is in, and it is written again without its records."""

    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".callbacks")


def attach(db: sqlite3.Connection, path: Path) -> None:
    """Open the journal's own file beside the store's, in the same connection, so that a transaction spans
    both: an accepted callback's record commits with its alerts. Its commits wait for no fsync of their own
    (``synchronous=NORMAL`` in WAL mode, as SQLite recommends): only the alerts' file pays for durability,
    so the journal adds no disk wait to a callback. A power loss may cost the journal its newest records,
    never the alerts, and never corrupts it. Raises sqlite3.Error (detached again) if the file is unusable:
    the PRAGMAs and the read of its schema read its header."""
    db.execute("ATTACH DATABASE ? AS inspector", (str(journal_path(path)),))
    try:
        db.execute("PRAGMA inspector.journal_mode=WAL")
        db.execute("PRAGMA inspector.synchronous=NORMAL")
        db.execute("SELECT count(*) FROM inspector.sqlite_master").fetchone()
    except sqlite3.Error:
        db.execute("DETACH DATABASE inspector")
        raise


def detach(db: sqlite3.Connection) -> bool:
    """Detach the journal if it is attached; False (it is not, now)."""
    if any(row[1] == "inspector" for row in db.execute("PRAGMA database_list")):
        db.execute("DETACH DATABASE inspector")
    return False


def unreadable(db: sqlite3.Connection) -> bool:
    """Whether the attached journal's file fails a read of its schema (overwritten, truncated)."""
    try:
        db.execute("SELECT count(*) FROM inspector.sqlite_master").fetchone()
    except sqlite3.Error:
        return True
    return False


def move_aside(path: Path, now: float) -> Path:
    """Rename the journal's file (and its WAL and shared-memory index) to ``<name>.corrupt-<unix time>``."""
    journal = journal_path(path)
    aside = journal.with_name(f"{journal.name}.corrupt-{int(now)}")
    for suffix in ("", "-wal", "-shm"):
        part = journal.with_name(journal.name + suffix)
        if part.exists():
            part.rename(aside.with_name(aside.name + suffix))
    return aside


REJECTIONS = """
CREATE TABLE IF NOT EXISTS rejections (
    target      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    message     TEXT NOT NULL,
    at          REAL NOT NULL,
    PRIMARY KEY (target, fingerprint)
);
"""
"""In the store's own file: the delivery loop writes it, journal or not."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS inspector.callbacks (
    id       INTEGER PRIMARY KEY,
    vendor   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    size     INTEGER NOT NULL,
    record   TEXT NOT NULL,
    outcomes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inspector.journal_counts (
    one INTEGER PRIMARY KEY CHECK (one = 1), count INTEGER NOT NULL, bytes INTEGER NOT NULL,
    refused INTEGER NOT NULL, refused_bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO inspector.journal_counts VALUES (1, 0, 0, 0, 0);
"""


def insert(db: sqlite3.Connection, caps: JournalCaps, record: CallbackRecord, outcomes: Sequence[str] = ()) -> None:
    """Add a record; past its kind's budget, evict down to a little below it (:func:`slack`): a refused record
    evicts the oldest refused ones only, an accepted one (any answered 2xx) the oldest records whatever they
    are. Runs inside the caller's transaction: an INSERT and a counter UPDATE, and, for one insert in about 32
    once the journal is full, the DELETEs and another UPDATE."""
    text, done = record.to_json(), outcomes_text(outcomes)
    size = len(text.encode("utf-8", "surrogatepass")) + len(done)
    db.execute("INSERT INTO callbacks (vendor, outcome, accepted, size, record, outcomes) VALUES (?, ?, ?, ?, ?, ?)",
               (record.vendor, record.outcome, int(not record.refused), size, text, done))
    count, total, refused, refused_bytes = db.execute(
        "UPDATE journal_counts SET count = count + 1, bytes = bytes + ?, refused = refused + ?,"
        " refused_bytes = refused_bytes + ? RETURNING count, bytes, refused, refused_bytes",
        (size, int(record.refused), size if record.refused else 0)).fetchone()
    before = (count, total, refused, refused_bytes)
    most, most_bytes = ((caps.refused_callbacks, caps.refused_bytes) if record.refused
                        else (caps.max_callbacks, caps.max_bytes))
    kept = (refused, refused_bytes) if record.refused else (count - refused, total - refused_bytes)
    over = kept[0] > most or kept[1] > most_bytes
    where = " WHERE accepted = 0" if record.refused else ""
    while over and (kept[0] > most - slack(most) or kept[1] > most_bytes - slack(most_bytes)):
        gone = db.execute(f"DELETE FROM callbacks WHERE id = (SELECT min(id) FROM callbacks{where})"
                          " RETURNING size, accepted").fetchone()
        if gone is None:
            break
        count, total = count - 1, total - gone[0]
        if not gone[1]:
            refused, refused_bytes = refused - 1, refused_bytes - gone[0]
        kept = (refused, refused_bytes) if record.refused else (count - refused, total - refused_bytes)
    if (count, total, refused, refused_bytes) != before:
        db.execute("UPDATE journal_counts SET count = ?, bytes = ?, refused = ?, refused_bytes = ?",
                   (count, total, refused, refused_bytes))


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
    count, total = db.execute("SELECT count, bytes FROM journal_counts").fetchone()
    return count, total


def add_target_error_columns(db: sqlite3.Connection) -> None:
    """A store written by an older version lacks the columns of a target's last error."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(targets)")}
    for column, kind in (("last_error", "TEXT"), ("last_error_at", "REAL")):
        if column not in columns:
            db.execute(f"ALTER TABLE targets ADD COLUMN {column} {kind}")


class InspectorTables:
    """The SqliteStore's methods for the inspector (bridge.store.base.Store documents them), and what keeps
    the journal from ever costing a callback: a journal file that cannot be read at start is moved aside
    and started afresh; one that breaks, or whose writes keep failing, while the process runs is turned off
    in this process (until it restarts), each said once in the log."""

    path: Path
    journal_caps: JournalCaps
    _local: threading.local
    _group: GroupCommit
    _db: Callable[[], sqlite3.Connection]
    _read: Callable[..., list[tuple]]
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _lock_writer: Callable[[], None]
    _writers: WriterLock
    _journal_off = ""
    """Why the journal is off in this process ("" while it is on)."""
    _journal_failures = 0
    """Journal writes failed in a row."""

    @property
    def journal_on(self) -> bool:
        return self.journal_caps.enabled and not self._journal_off

    def _attach_journal(self, db: sqlite3.Connection) -> bool:
        """Attach the journal to a new connection; False if it is off. Called before the connection is used."""
        if self._journal_off:
            return False
        try:
            attach(db, self.path)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
                self._turn_journal_off(f"cannot open it: {exc}")
                return False
            return self._replace_journal(db, exc)
        return True

    def _replace_journal(self, db: sqlite3.Connection, error: sqlite3.Error) -> bool:
        """Move an unreadable journal file aside and attach a fresh one, under the writer lock: another process
        may be doing the same, and the first to get there does it for all."""
        try:
            self._lock_writer()
        except StoreError as exc:
            self._turn_journal_off(f"cannot replace an unreadable one: {exc}")
            return False
        try:
            try:
                attach(db, self.path)  # replaced meanwhile by another process?
            except sqlite3.DatabaseError:
                aside = move_aside(self.path, time.time())
                attach(db, self.path)
                db.executescript(SCHEMA)
                log.warning("the recent-callbacks journal could not be read; moved aside, starting a fresh one",
                            extra={"error": str(error), "moved_to": str(aside)})
        except (sqlite3.Error, OSError) as exc:
            self._turn_journal_off(f"cannot replace an unreadable one: {exc}")
            detach(db)
            return False
        finally:
            self._writers.release()
        return True

    def _turn_journal_off(self, reason: str) -> None:
        if not self._journal_off:
            self._journal_off = reason
            log.error("the recent-callbacks journal is off in this process until it restarts; callbacks are"
                      " still taken", extra={"error": reason})

    def _begin(self, db: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, which locks the journal's file too: one that broke while running (overwritten)
        is detached and turned off rather than failing every write of the store."""
        if self._journal_off and self._local.journal:
            self._local.journal = detach(db)
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            if not self._local.journal or not unreadable(db):
                raise
            self._turn_journal_off(f"its file broke: {exc}")
            self._local.journal = detach(db)
            db.execute("BEGIN IMMEDIATE")

    def _journal(self, db: sqlite3.Connection, pending: PendingApply) -> None:
        """Record the journal entries; a failure here loses the record, never the callback's alerts."""
        for record in pending.journal if self.journal_on else ():
            db.execute("SAVEPOINT journal")
            try:
                insert(db, self.journal_caps, record, pending.outcomes or () if record.accepted else ())
            except sqlite3.Error as exc:
                if not db.in_transaction:  # SQLite rolled everything back: the batch goes again without them
                    raise JournalLost(exc) from exc
                db.execute("ROLLBACK TO journal")
                self._journal_failed(exc)
            else:
                self._journal_failures = 0
            db.execute("RELEASE journal")

    def _journal_failed(self, error: sqlite3.Error) -> None:
        log.warning("could not record a callback in the journal", extra={"error": str(error)})
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return  # the disk's, not the journal's: it records again once there is room
        self._journal_failures += 1
        if self._journal_failures >= JOURNAL_FAILURES_TOLERATED:
            self._turn_journal_off(f"{self._journal_failures} writes failed in a row, the last: {error}")

    def record_callbacks(self, records: Sequence[CallbackRecord]) -> None:
        if records and self.journal_on:
            self._group.apply((), records[0].received_at, records)  # shares a commit with accepted callbacks

    def callbacks(self, query: JournalQuery) -> list[CallbackRecord]:
        if not self.journal_on:
            return []
        try:
            return listing(self._db(), query)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    def journal_size(self) -> tuple[int, int]:
        if not self.journal_on:
            return 0, 0
        try:
            return size(self._db())
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    def target_errors(self, targets: Sequence[str]) -> dict[str, tuple[str, float | None]]:
        found = {}
        for name in targets:
            rows = self._read("SELECT last_error, last_error_at FROM targets WHERE name = ?", (name,))
            if rows:
                found[name] = (rows[0][0] or "", rows[0][1])
        return found

    def record_rejections(self, target: str, rejected: Sequence[tuple[str, int, str]], now: float) -> None:
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO rejections VALUES (?, ?, ?, ?, ?)",
                           [(target, fingerprint, seq, message, now) for fingerprint, seq, message in rejected])
            db.execute("DELETE FROM rejections WHERE target = ? AND fingerprint NOT IN (SELECT fingerprint FROM"
                       " rejections WHERE target = ? ORDER BY at DESC LIMIT ?)", (target, target, REJECTIONS_KEPT))

    def rejections(self, targets: Sequence[str]) -> dict[str, dict[str, tuple[int, str, float]]]:
        found: dict[str, dict[str, tuple[int, str, float]]] = {name: {} for name in targets}
        for name in targets:
            for fingerprint, seq, message, at in self._read(
                    "SELECT fingerprint, seq, message, at FROM rejections WHERE target = ?", (name,)):
                found[name][fingerprint] = (seq, message, at)
        return found

    def lease_holder(self, name: str, now: float) -> tuple[str, float] | None:
        rows = self._read("SELECT owner, until FROM leases WHERE name = ? AND until >= ?", (name, now))
        return (rows[0][0], rows[0][1]) if rows else None
