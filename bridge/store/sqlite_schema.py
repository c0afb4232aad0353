"""The embedded store's tables, and how a row becomes a StoredAlert (bridge.store.sqlite)."""

from __future__ import annotations

import json

from bridge.model import AlarmState, Alert
from bridge.store import sqlite_capacity as capacity
from bridge.store.base import StoredAlert

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    fingerprint   TEXT PRIMARY KEY,
    object_key    TEXT NOT NULL,
    vendor        TEXT NOT NULL,
    labels        TEXT NOT NULL,
    annotations   TEXT NOT NULL,
    generator_url TEXT NOT NULL,
    state         TEXT NOT NULL,
    starts_at     REAL NOT NULL,
    ends_at       REAL,
    event_at      REAL NOT NULL,
    expires_at    REAL,
    seq           INTEGER NOT NULL,
    changed_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_seq ON alerts (seq);
CREATE INDEX IF NOT EXISTS alerts_by_object ON alerts (object_key);
CREATE TABLE IF NOT EXISTS targets (
    name         TEXT PRIMARY KEY,
    cursor       INTEGER NOT NULL,
    last_success REAL,
    up           INTEGER
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('seq', 0), ('alerts', 0);
INSERT OR IGNORE INTO counters SELECT 'bytes', coalesce(sum(SIZE), 0) FROM alerts;
""".replace("SIZE", capacity.SIZE)

COLUMNS = ("fingerprint, labels, annotations, generator_url, state, starts_at, ends_at, event_at, "
           "expires_at, seq, changed_at, object_key")
"""The columns :func:`row` reads, in its order."""


def row(values: tuple) -> StoredAlert:
    """A row of :data:`COLUMNS` as the alert it stores."""
    fingerprint, labels, annotations, url, state, starts, ends, event, expires, seq, changed, key = values
    alert = Alert(labels=json.loads(labels), annotations=json.loads(annotations), state=AlarmState(state),
                  starts_at=starts, event_at=event, ends_at=ends, generator_url=url, expires_at=expires,
                  source_key=key)
    return StoredAlert(alert=alert, fingerprint=fingerprint, seq=seq, changed_at=changed)
