"""What clients, probes and scrapers get when something fails: a store that really fails, a bug in a view.

The store is the real SQLite store, broken for real (its files overwritten with garbage), so the errors
are those an outage raises, not a mock's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bridge.settings import Settings
from bridge.store.sqlite import SqliteStore
from bridge.web.app import create_app
from tests.harness.fixtures import fixture_bytes
from tests.harness.payloads import kingsoft
from tests.harness.stores import corrupt_sqlite

STORE_UNAVAILABLE = 'cloud_alarm_bridge_callbacks_total{outcome="store_unavailable",vendor="kingsoft"}'


@pytest.fixture
def broken(client: FlaskClient, store: SqliteStore, tmp_path: Path) -> FlaskClient:
    """The default app, on a store that worked at first and then broke."""
    assert client.post("/callbacks/kingsoft", data=fixture_bytes("kingsoft", "alarm.json"),
                       content_type="application/json").status_code == 200
    corrupt_sqlite(tmp_path / "bridge.db")
    return client


def test_a_callback_during_a_store_outage_is_a_json_503_with_retry_after_and_counted(broken: FlaskClient) -> None:
    response = broken.post("/callbacks/kingsoft", data=fixture_bytes("kingsoft", "restore.json"),
                           content_type="application/json")
    assert response.status_code == 503
    assert response.json == {"error": "the store is unavailable; retry later"}
    assert response.headers["Retry-After"] == "5"
    assert f"{STORE_UNAVAILABLE} 1.0" in broken.get("/metrics").get_data(as_text=True)


def test_readiness_is_503_while_the_store_is_down(broken: FlaskClient) -> None:
    response = broken.get("/-/ready")
    assert response.status_code == 503
    # the cause goes to the log, never to whoever probes (issue 19 item 11: no internal addresses)
    assert response.get_data(as_text=True) == "not ready: the store is unavailable\n"
    assert broken.get("/-/healthy").status_code == 200  # the process itself is fine: no restart


def test_metrics_say_the_store_is_down_instead_of_dropping_its_gauges_silently(broken: FlaskClient) -> None:
    text = broken.get("/metrics")
    assert text.status_code == 200  # the counters still reach Prometheus
    body = text.get_data(as_text=True)
    assert "cloud_alarm_bridge_store_up 0.0" in body
    assert "cloud_alarm_bridge_store_alerts " not in body


def test_metrics_say_the_store_is_up_with_its_gauges(client: FlaskClient) -> None:
    body = client.get("/metrics").get_data(as_text=True)
    assert "cloud_alarm_bridge_store_up 1.0" in body
    assert "cloud_alarm_bridge_store_alerts 0.0" in body


def test_an_unexpected_error_is_a_json_500_without_internals_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(Settings(), store=SqliteStore(tmp_path / "bridge.db"))

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals at /srv/bridge/x.py")

    with caplog.at_level(logging.ERROR, logger="bridge.web.errors"):
        response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.json == {"error": "internal error"}
    assert "secret" not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    [record] = [r for r in caplog.records if r.getMessage() == "unexpected error handling a request"]
    assert record.exc_info and "secret internals" in str(record.exc_info[1])



def test_a_full_disk_is_a_503_with_retry_after_that_names_it_and_ends_when_space_returns(
        client: FlaskClient, store: SqliteStore, caplog: pytest.LogCaptureFixture) -> None:
    """An operator must tell a full volume from a store that is down: its own outcome and log line, not
    ``store_unavailable`` (the disk holds what was acknowledged; reads, /-/ready and store_up still work)."""
    db = store._db()  # the test client answers in this thread, on this connection
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    # not one page more: SQLite reports this as it reports a full disk (SQLITE_FULL)
    db.execute(f"PRAGMA max_page_count = {pages}")
    with caplog.at_level(logging.ERROR, logger="bridge.web.errors"):
        for index in range(500):  # the pages the file has fill up
            response = client.post("/callbacks/kingsoft", data=kingsoft(f"host-{index}"),
                                   content_type="application/json")
            if response.status_code != 200:
                break
    assert 0 < index < 499
    assert response.status_code == 503
    assert response.json == {"error": "the store's disk is full; retry later"}
    assert response.headers["Retry-After"] == "5"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'cloud_alarm_bridge_callbacks_total{outcome="store_disk_full",vendor="kingsoft"} 1.0' in metrics
    assert f"{STORE_UNAVAILABLE} 0.0" in metrics
    assert [r.getMessage() for r in caplog.records] == ["store disk full: refusing callbacks until space is freed"]
    assert store.stats([], 0).total == index  # reads still work: every callback answered 200 is there
    db.execute("PRAGMA max_page_count = 1073741823")  # space returns: the same process takes callbacks again
    assert client.post("/callbacks/kingsoft", data=kingsoft(f"host-{index}"),
                       content_type="application/json").status_code == 200
    assert store.stats([], 0).total == index + 1  # nothing acknowledged was lost, and the retry is in
    assert {a.alert.labels["host"] for a in store.active("", 1000, 0, 0)} == {f"host-{n}" for n in range(index + 1)}
