"""The embedded store: one SQLite file in WAL mode, shared by every process of one bridge.

Writers serialise on SQLite's write lock (``BEGIN IMMEDIATE``), so sequence numbers commit in order
and a cursor never skips a change. ``synchronous=FULL`` makes a commit survive power loss, not only
a crash of the bridge; it costs a wait for the disk per commit, which :class:`GroupCommit` shares
among the callbacks that arrive together.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bridge.model import AlarmState, Alert
from bridge.store import sqlite_capacity as capacity
from bridge.store import sqlite_journal as journal_table
from bridge.store.base import (
    Caps,
    Outcome,
    StoredAlert,
    StoreDiskFull,
    StoreError,
    StoreStats,
    TargetStats,
    dump_map,
)
from bridge.store.group_commit import GroupCommit, PendingApply
from bridge.store.journal import DEFAULT_JOURNAL, CallbackRecord, JournalCaps
from bridge.store.sqlite_journal import InspectorTables, JournalLost, add_target_error_columns
from bridge.store.sqlite_paths import unusable_directory, unwritable_because
from bridge.store.sqlite_schema import COLUMNS as _COLUMNS
from bridge.store.sqlite_schema import SCHEMA
from bridge.store.sqlite_schema import row as _row
from bridge.store.writer_lock import WriterLock

WRITER_LOCK_TIMEOUT = 10.0
"""How long a write waits for another writer, as SQLite's own busy timeout did before."""

log = logging.getLogger(__name__)


class SqliteStore(InspectorTables):
    def __init__(self, path: Path, *, max_alerts: int = 0, max_bytes: int = 0, synchronous: str = "FULL",
                 journal: JournalCaps = DEFAULT_JOURNAL) -> None:
        self.path = path
        self.caps = Caps(max_alerts, max_bytes)
        self.journal_caps = journal
        self._synchronous = synchronous
        self._local = threading.local()
        self._group = GroupCommit(self._commit_all)
        self._writers = WriterLock(f"{path}-writer.lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory {path.parent}: {unusable_directory(exc)}") from None
        try:
            db = self._db()  # attaches the journal, unless it is off
            db.executescript(SCHEMA + journal_table.REJECTIONS + (journal_table.SCHEMA if self._local.journal else ""))
            add_target_error_columns(self._db())
        except sqlite3.Error as exc:
            raise StoreError(f"cannot initialise {path}: {exc}{unwritable_because(path)}") from exc

    @classmethod
    def from_url(cls, url: str, *, max_alerts: int = 0, max_bytes: int = 0,
                 journal: JournalCaps = DEFAULT_JOURNAL) -> SqliteStore:
        path = url.removeprefix("sqlite:///")
        if not path:
            raise ValueError("sqlite store URL names no file: use sqlite:///data/bridge.db")
        return cls(Path(path), max_alerts=max_alerts, max_bytes=max_bytes, journal=journal)

    # Connections are per thread (gunicorn threads, delivery threads) and opened after fork.
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=True)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={self._synchronous}")
                self._local.journal = self._attach_journal(db)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open {self.path}: {exc}{unwritable_because(self.path)}") from exc
            self._local.db = db
        return db

    def _lock_writer(self) -> None:
        """Take the lock that queues writers of every process (bridge.store.writer_lock), or give up after
        WRITER_LOCK_TIMEOUT: a wedged writer (a stalled disk, a stopped process) then costs callbacks a 503
        that the vendor retries, never a hung thread. Only the leader of a group commit ever waits."""
        try:
            taken = self._writers.acquire(WRITER_LOCK_TIMEOUT)
        except OSError as exc:
            raise StoreError(f"cannot open the writer lock of {self.path}: {exc}") from exc
        if not taken:
            raise StoreError(f"another writer has held {self.path} for {WRITER_LOCK_TIMEOUT:g}s")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        self._lock_writer()
        try:
            self._begin(db)  # in sqlite_journal: an unreadable journal is turned off, not a failed write
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled it back itself (see _apply_pending)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise _store_error(exc) from exc
        finally:
            self._writers.release()

    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    # --- the request path -------------------------------------------------------------------
    def apply(self, alerts: Sequence[Alert], now: float, journal: CallbackRecord | None = None) -> list[Outcome]:
        records = (journal,) if journal is not None and self.journal_on else ()
        return self._group.apply(alerts, now, records)

    def _commit_all(self, batch: list[PendingApply]) -> None:
        """One transaction for the whole batch; each caller's changes in a savepoint of their own."""
        try:
            self._commit_batch(batch)
        except JournalLost as lost:  # the journal's write cost the transaction: again without the records
            for pending in batch:
                pending.journal, pending.outcomes, pending.error = (), None, None
            self._commit_batch(batch)  # a full disk fails this too, and is answered as one
            self._journal_failed(lost.error)

    def _commit_batch(self, batch: list[PendingApply]) -> None:
        with self._transaction() as db:
            for pending in batch:
                self._apply_pending(db, pending)

    def _apply_pending(self, db: sqlite3.Connection, pending: PendingApply) -> None:
        db.execute("SAVEPOINT callback")
        try:
            capacity.make_room(db, self.caps, pending.alerts)
            pending.outcomes = [self._apply_one(db, alert, pending.now) for alert in pending.alerts]
        except Exception as exc:  # handed to the caller whose change it is, not the others
            if not db.in_transaction:
                # SQLite rolled the whole transaction back (it does on SQLITE_FULL, a full disk): every
                # change of the batch is out, so every caller gets this error, not "no transaction".
                raise
            db.execute("ROLLBACK TO callback")
            pending.error = _store_error(exc) if isinstance(exc, sqlite3.Error) else exc
        else:
            self._journal(db, pending)
        db.execute("RELEASE callback")

    def _apply_one(self, db: sqlite3.Connection, alert: Alert, now: float) -> Outcome:
        fingerprint = alert.fingerprint
        # Relabeling may give two objects one label set: then they share one alert, as in Alertmanager.
        rows, existing = self._object_rows_and(db, alert.object_keys, fingerprint)
        if alert.state is AlarmState.FIRING and not alert.resolve_only:
            return self._fire(db, alert, fingerprint, existing, rows, now)
        return self._resolve(db, alert, fingerprint, existing, rows, now)

    def _fire(self, db: sqlite3.Connection, alert: Alert, fingerprint: str, existing: StoredAlert | None,
              rows: list[StoredAlert], now: float) -> Outcome:
        """Fire, unless the store knows something newer of this object (a recovery, a level change)."""
        newer = any(r.alert.event_at > alert.event_at for r in rows)
        recovered = any(r.alert.state is AlarmState.RESOLVED and r.alert.event_at >= alert.event_at for r in rows)
        if newer or recovered:
            return Outcome.STALE
        starts_at = alert.starts_at
        if existing and existing.alert.state is AlarmState.FIRING:
            starts_at = min(starts_at, existing.alert.starts_at)
        for row in rows:
            if row.alert.state is AlarmState.FIRING and row.fingerprint != fingerprint:
                self._write(db, row.fingerprint, row.alert, AlarmState.RESOLVED, row.alert.starts_at,
                            _clamp(alert.event_at, row.alert.starts_at, now), alert.event_at,
                            row.alert.annotations, now)
        return self._upsert(db, alert, fingerprint, existing, starts_at, None, now)

    def _resolve(self, db: sqlite3.Connection, alert: Alert, fingerprint: str, existing: StoredAlert | None,
                 rows: list[StoredAlert], now: float) -> Outcome:
        """Resolve whichever alert of this object fires, whatever its severity."""
        firing = [r for r in rows if r.alert.state is AlarmState.FIRING]
        ending = [r for r in firing if r.alert.event_at <= alert.event_at]
        for row in ending:
            ends_at = _clamp(alert.ends_at or now, row.alert.starts_at, now)
            self._write(db, row.fingerprint, row.alert, AlarmState.RESOLVED, row.alert.starts_at, ends_at,
                        alert.event_at, {**row.alert.annotations, **alert.annotations}, now)
        if ending:
            return Outcome.CHANGED
        if firing:
            return Outcome.STALE  # only a newer occurrence fires; this recovery is for an older one
        if alert.resolve_only:
            return Outcome.UNCHANGED  # dropped by the rules: nothing of it may reach Alertmanager
        if rows:
            for key in alert.object_keys:
                db.execute("UPDATE alerts SET event_at = max(event_at, ?) WHERE object_key = ?",
                           (alert.event_at, key))
            return Outcome.UNCHANGED
        # A recovery for an alert never seen: record it, so that a late firing retry cannot fire it, but
        # only while there is room: it must never cost a real alarm its place (SECURITY.md, item 4).
        ends_at = _clamp(alert.ends_at or now, alert.starts_at, now)
        return self._upsert(db, alert, fingerprint, existing, alert.starts_at, ends_at, now, optional=True)

    def _upsert(self, db: sqlite3.Connection, alert: Alert, fingerprint: str, existing: StoredAlert | None,
                starts_at: float, ends_at: float | None, now: float, *, optional: bool = False) -> Outcome:
        """Write the alert; at the store's caps, StoreFull (or, for an ``optional`` row, UNCHANGED: not kept)."""
        if existing is None:
            if not capacity.reserve_row(db, self.caps, optional):
                return Outcome.UNCHANGED
        elif (existing.alert.state is alert.state and existing.alert.annotations == alert.annotations
              and existing.alert.starts_at == starts_at and existing.alert.ends_at == ends_at
              and existing.alert.generator_url == alert.generator_url):
            db.execute("UPDATE alerts SET event_at = ?, expires_at = ? WHERE fingerprint = ?",
                       (max(alert.event_at, existing.alert.event_at), alert.expires_at, fingerprint))
            return Outcome.UNCHANGED
        if not self._write(db, fingerprint, alert, alert.state, starts_at, ends_at, alert.event_at,
                           alert.annotations, now, capped=True, optional=optional):
            if existing is None:
                capacity.release_row(db)
            return Outcome.UNCHANGED
        return Outcome.CHANGED

    def _write(self, db: sqlite3.Connection, fingerprint: str, alert: Alert, state: AlarmState,
               starts_at: float, ends_at: float | None, event_at: float, annotations: dict[str, str],
               now: float, *, capped: bool = False, optional: bool = False) -> bool:
        """Write a new state with a new sequence number; False if a ``capped`` write would pass the byte cap
        and is ``optional`` (StoreFull if it is not). Resolutions are never ``capped``: they always land."""
        labels, notes = dump_map(alert.labels), dump_map(annotations)
        size = sum(len(text.encode("utf-8", "surrogatepass")) for text in (labels, notes, alert.generator_url))
        if not capacity.take_bytes(db, self.caps if capped else Caps(), fingerprint, size, optional):
            return False
        (seq,) = db.execute("UPDATE counters SET value = value + 1 WHERE name = 'seq' RETURNING value").fetchone()
        db.execute(
            "INSERT INTO alerts (fingerprint, object_key, vendor, labels, annotations, generator_url, state,"
            " starts_at, ends_at, event_at, expires_at, seq, changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (fingerprint) DO UPDATE SET annotations = excluded.annotations,"
            " generator_url = excluded.generator_url, state = excluded.state, starts_at = excluded.starts_at,"
            " ends_at = excluded.ends_at, event_at = excluded.event_at, expires_at = excluded.expires_at,"
            " seq = excluded.seq, changed_at = excluded.changed_at",
            (fingerprint, alert.object_key, alert.vendor, labels, notes, alert.generator_url, state.value,
             starts_at, ends_at, event_at, alert.expires_at if state is AlarmState.FIRING else None, seq, now),
        )
        return True

    def _object_rows_and(self, db: sqlite3.Connection, object_keys: tuple[str, ...],
                         fingerprint: str) -> tuple[list[StoredAlert], StoredAlert | None]:
        """The object's alerts (under any of its keys), and the alert with this fingerprint (whichever
        object it belongs to)."""
        keys = ", ".join("?" * len(object_keys))
        found = [_row(r) for r in db.execute(f"SELECT {_COLUMNS} FROM alerts WHERE object_key IN ({keys})"
                                             " OR fingerprint = ?", (*object_keys, fingerprint))]
        rows = [r for r in found if r.alert.source_key in object_keys]
        return rows, next((r for r in found if r.fingerprint == fingerprint), None)

    # --- delivery ---------------------------------------------------------------------------
    def register_targets(self, targets: Sequence[str]) -> None:
        with self._transaction() as db:
            for name in targets:
                db.execute("INSERT OR IGNORE INTO targets (name, cursor)"
                           " SELECT ?, value FROM counters WHERE name = 'seq'", (name,))

    def changes(self, target: str, limit: int) -> list[StoredAlert]:
        rows = self._read(f"SELECT {_COLUMNS} FROM alerts WHERE seq > (SELECT cursor FROM targets WHERE name = ?)"
                          " ORDER BY seq LIMIT ?", (target, limit))
        return [_row(r) for r in rows]

    def advance(self, target: str, seq: int, now: float) -> None:
        with self._transaction() as db:
            db.execute("UPDATE targets SET cursor = max(cursor, ?), last_success = ?, up = 1 WHERE name = ?",
                       (seq, now, target))

    def record_failure(self, target: str, now: float, error: str = "") -> None:
        with self._transaction() as db:
            db.execute("UPDATE targets SET up = 0, last_error = ?, last_error_at = ? WHERE name = ?",
                       (error, now, target))

    def active(self, after: str, limit: int, now: float, resolved_for: float) -> list[StoredAlert]:
        rows = self._read(f"SELECT {_COLUMNS} FROM alerts WHERE fingerprint > ?"
                          " AND (state = 'firing' OR ends_at > ?) ORDER BY fingerprint LIMIT ?",
                          (after, now - resolved_for, limit))
        return [_row(r) for r in rows]

    # --- housekeeping -----------------------------------------------------------------------
    def expire(self, now: float, max_firing_age: float) -> int:
        last_heard = now - max_firing_age if max_firing_age > 0 else float("-inf")
        with self._transaction() as db:
            rows = [_row(r) for r in db.execute(
                f"SELECT {_COLUMNS} FROM alerts WHERE state = 'firing' AND (expires_at <= ? OR event_at <= ?)",
                (now, last_heard))]
            for row in rows:
                reason = ("the vendor sends no recovery for this event" if row.alert.expires_at
                          and row.alert.expires_at <= now else
                          f"no word from the vendor for the maximum firing age of {max_firing_age:g}s")
                annotations = {**row.alert.annotations, "resolved_reason": f"Resolved by the bridge: {reason}"}
                self._write(db, row.fingerprint, row.alert, AlarmState.RESOLVED, row.alert.starts_at, now,
                            max(now, row.alert.event_at), annotations, now)
        return len(rows)

    def forget(self, now: float, keep_resolved_for: float) -> int:
        with self._transaction() as db:
            old = [fp for (fp,) in db.execute("SELECT fingerprint FROM alerts WHERE state = 'resolved'"
                                              " AND changed_at < ?", (now - keep_resolved_for,))]
            deleted, _ = capacity.delete(db, old)
        return deleted

    def delete(self, fingerprints: Sequence[str]) -> tuple[int, int]:
        with self._transaction() as db:
            return capacity.delete(db, fingerprints)

    def acquire_lease(self, name: str, owner: str, ttl: float, now: float) -> bool:
        with self._transaction() as db:
            db.execute("INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
                       " SET owner = excluded.owner, until = excluded.until"
                       " WHERE leases.owner = excluded.owner OR leases.until < ?",
                       (name, owner, now + ttl, now))
            (holder,) = db.execute("SELECT owner FROM leases WHERE name = ?", (name,)).fetchone()
        return holder == owner

    def release_lease(self, name: str, owner: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def stats(self, targets: Sequence[str], now: float) -> StoreStats:
        by_state = {(vendor, state): count for vendor, state, count in self._read(
            "SELECT vendor, state, count(*) FROM alerts GROUP BY vendor, state")}
        per_target = {}
        for name in targets:
            found = self._read("SELECT cursor, last_success, up FROM targets WHERE name = ?", (name,))
            if not found:
                continue
            cursor, last_success, up = found[0]
            backlog, oldest = self._read("SELECT count(*), min(changed_at) FROM alerts WHERE seq > ?", (cursor,))[0]
            per_target[name] = TargetStats(backlog, oldest, last_success, None if up is None else bool(up), cursor)
        (size,) = self._read("SELECT value FROM counters WHERE name = 'bytes'")[0]
        return StoreStats(by_state, sum(by_state.values()), per_target, size)

    def ping(self) -> None:
        self._read("SELECT value FROM counters WHERE name = 'seq'")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        self._writers.close()


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(value, high))


def _store_error(exc: sqlite3.Error) -> StoreError:
    """What a failed write means: SQLITE_FULL (the disk, as SQLite reports ENOSPC) is not an outage, and the
    operator must be told which it is."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StoreDiskFull(f"sqlite: {exc}")
    return StoreError(f"sqlite: {exc}")
