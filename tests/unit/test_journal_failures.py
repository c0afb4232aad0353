"""The recent-callbacks journal is diagnostic data: when its SQLite file breaks or its writes fail, callbacks
are still taken (no alarm lost, no 5xx it caused), and a disk that is really full is still reported as one.

The journal lives in its own file (``bridge.db.callbacks``) attached to the store's connection, so that an
accepted callback's record commits with its alerts; these tests break that file for real, or make its
writes fail as SQLite does.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bridge.settings import Settings
from bridge.store import JournalQuery
from bridge.store import sqlite_journal as journal_table
from bridge.store.sqlite import SqliteStore
from bridge.web.app import create_app
from tests.harness.payloads import kingsoft
from tests.harness.stores import corrupt_sqlite

JSON = "application/json"


def post(client: FlaskClient, host: str):
    return client.post("/callbacks/kingsoft", data=kingsoft(host), content_type=JSON)


def journal_file(tmp_path: Path) -> Path:
    return tmp_path / "bridge.db.callbacks"


def test_a_corrupt_journal_at_start_is_moved_aside_and_callbacks_are_taken(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = SqliteStore(tmp_path / "bridge.db")
    assert post(create_app(Settings(), store=first).test_client(), "host-0").status_code == 200
    first.close()
    corrupt_sqlite(journal_file(tmp_path))
    with caplog.at_level(logging.WARNING, logger="bridge.store"):
        store = SqliteStore(tmp_path / "bridge.db")
        client = create_app(Settings(), store=store).test_client()
        responses = [post(client, f"host-{n}").status_code for n in (1, 2)]
    assert responses == [200, 200]
    assert store.stats([], 0).total == 3  # the alerts acknowledged before, and both new ones
    assert client.get("/-/ready").status_code == 200
    moved = [r.getMessage() for r in caplog.records if "journal" in r.getMessage()]
    assert len(moved) == 1 and "moved aside" in moved[0], moved
    [aside] = tmp_path.glob("bridge.db.callbacks.corrupt-*[0-9]")
    assert aside.read_bytes().startswith(b"garbage!")  # kept for whoever wants to look at it
    assert [r.vendor for r in store.callbacks(JournalQuery())] == ["kingsoft", "kingsoft"]  # a fresh journal


def test_a_journal_corrupted_while_running_is_turned_off_and_callbacks_are_taken(
        client: FlaskClient, store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert post(client, "host-0").status_code == 200
    corrupt_sqlite(journal_file(tmp_path))
    with caplog.at_level(logging.WARNING, logger="bridge.store"):
        responses = [post(client, f"host-{n}").status_code for n in (1, 2, 3)]
    assert responses == [200, 200, 200]
    assert store.stats([], 0).total == 4
    store.advance("am", 1, 0)  # the delivery's writes go on too
    off = [r.getMessage() for r in caplog.records if "journal" in r.getMessage()]
    assert len(off) == 1 and "off" in off[0], off
    assert store.callbacks(JournalQuery()) == []


def test_a_journal_write_that_fails_loses_the_record_not_the_callback(
        client: FlaskClient, store: SqliteStore, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def fail(*args, **kwargs):
        raise sqlite3.OperationalError("database table is locked: callbacks")

    monkeypatch.setattr(journal_table, "insert", fail)
    with caplog.at_level(logging.WARNING, logger="bridge.store"):
        responses = [post(client, f"host-{n}").status_code for n in range(6)]
    assert responses == [200] * 6
    assert store.stats([], 0).total == 6
    messages = [r.getMessage() for r in caplog.records]
    # a few failures are each logged; then the journal is off in this process, said once, and costs nothing
    assert messages.count("could not record a callback in the journal") == journal_table.JOURNAL_FAILURES_TOLERATED
    assert len([m for m in messages if "journal is off" in m]) == 1


def test_a_full_journal_file_loses_records_not_callbacks(client: FlaskClient, store: SqliteStore) -> None:
    """SQLite rolls the whole transaction back on SQLITE_FULL (here: the journal's file may not grow), alerts
    and all: they are written again without the records."""
    db = store._db()  # the test client answers in this thread, on this connection
    (pages,) = db.execute("PRAGMA inspector.page_count").fetchone()
    db.execute(f"PRAGMA inspector.max_page_count = {pages}")
    responses = [client.post("/callbacks/kingsoft", data=kingsoft(f"host-{n}"), content_type=JSON,
                             query_string={"padding": "x" * 1500}).status_code for n in range(60)]
    assert responses == [200] * 60
    assert store.stats([], 0).total == 60
    assert 0 < store.journal_size()[0] < 60  # the records that fitted


def test_a_disk_full_for_both_files_is_still_store_disk_full(client: FlaskClient, store: SqliteStore) -> None:
    db = store._db()
    for schema in ("main", "inspector"):
        (pages,) = db.execute(f"PRAGMA {schema}.page_count").fetchone()
        db.execute(f"PRAGMA {schema}.max_page_count = {pages}")
    for index in range(500):
        response = post(client, f"host-{index}")
        if response.status_code != 200:
            break
    assert 0 < index < 499
    assert (response.status_code, response.json) == (503, {"error": "the store's disk is full; retry later"})
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'cloud_alarm_bridge_callbacks_total{outcome="store_unavailable",vendor="kingsoft"} 0.0' in metrics
    for schema in ("main", "inspector"):
        db.execute(f"PRAGMA {schema}.max_page_count = 1073741823")
    assert post(client, f"host-{index}").status_code == 200
    assert store.stats([], 0).total == index + 1  # every callback answered 200 is there
