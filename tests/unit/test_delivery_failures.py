"""Delivery when things fail, at the fast layer: an Alertmanager down, one that rejects an alert, a store down.

On a real SQLite store with a client that records POSTs and fails on demand; the e2e tests cover the same
against a real Alertmanager, but a regression here must fail in seconds, not only in the slow layer.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bridge.deliver import HOUSEKEEPING_BACKOFF_CAP, HOUSEKEEPING_EVERY
from bridge.deliver.alertmanager import SendError
from bridge.deliver.lease import Lease
from bridge.deliver.target import BACKOFF_CAP, TargetLoop, capped_doubling
from bridge.model import AlarmState, Alert
from bridge.settings import Settings
from bridge.store import StoredAlert, StoreError
from bridge.store.sqlite import SqliteStore
from tests.harness.delivery import TARGET, RecordingClient, alert, hosts
from tests.harness.processes import wait_for


class FailingClient(RecordingClient):
    """Raises a retryable SendError on POSTs while ``down``; answers ``rejected`` hosts as Alertmanager's 400 would."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.rejected: set[str] = set()
        self.probe_down = False
        """Fails the probe (GET /api/v2/status); ``down`` fails only the POSTs, as a server may."""

    def send(self, alerts: list[dict[str, Any]], offset: int = 0, deadline: float | None = None) -> list[int]:
        if self.down:
            raise SendError("ConnectionError: connection refused", permanent=False)
        super().send(alerts, offset, deadline)
        return [i for i, a in enumerate(alerts) if a["labels"]["host"] in self.rejected]

    def probe(self) -> None:
        if self.probe_down:
            raise SendError("Connection refused", permanent=False)
        super().probe()


def make_loop(tmp_path: Path, store: SqliteStore | None = None) -> tuple[TargetLoop, SqliteStore, FailingClient]:
    store = store or SqliteStore(tmp_path / "bridge.db")
    store.register_targets([TARGET.name])
    lease = Lease(store, "127.0.0.1:8080", ttl=3600)
    assert lease.renew(time.time())
    target_loop = TargetLoop(store, TARGET, Settings(batch_size=10, resend_interval=60), lease, threading.Event())
    client = FailingClient()
    target_loop.client = client  # type: ignore[assignment]
    return target_loop, store, client


def backlog(store: SqliteStore) -> int:
    return store.stats([TARGET.name], time.time()).targets[TARGET.name].backlog


def steps(target_loop: TargetLoop, start: float, count: int = 8) -> None:
    """Step as the loop would, half a second apart: past its batch pauses and first backoffs."""
    for index in range(count):
        target_loop.step(start + index * 0.5)


def test_a_failed_post_keeps_the_changes_until_alertmanager_takes_them(tmp_path: Path) -> None:
    target_loop, store, client = make_loop(tmp_path)
    now = time.time()
    store.apply([alert("h1", now), alert("h2", now)], now)
    client.down = True
    steps(target_loop, now)
    assert backlog(store) == 2, "the cursor moved past a batch Alertmanager never got"
    assert target_loop.failures >= 2 and target_loop.retry_at > now  # backing off and retrying
    client.down = False
    steps(target_loop, now + 10)
    assert {h for p in client.posts for h in hosts(p)} == {"h1", "h2"}
    assert backlog(store) == 0


def test_an_alert_alertmanager_rejected_is_not_resent_until_it_changes(tmp_path: Path) -> None:
    target_loop, store, client = make_loop(tmp_path)
    now = time.time()
    store.apply([alert("bad", now), alert("good", now)], now)
    client.rejected = {"bad"}
    steps(target_loop, now)  # the changes, then the first re-send sweep
    assert backlog(store) == 0  # a rejected alert does not block the target
    sent = [h for p in client.posts for h in hosts(p)]
    assert sent.count("bad") == 1, sent  # the sweep skipped it: sending it again would be rejected again
    assert sent.count("good") == 2  # as a change, and in the sweep
    rejected = store.rejections([target_loop.name_label])[target_loop.name_label]
    [bad] = [s for s in store.active("", 10, now, 1e12) if s.alert.labels["host"] == "bad"]
    assert rejected == {bad.fingerprint: (bad.seq, "rejected", rejected[bad.fingerprint][2])}  # for the inspector
    client.posts.clear()
    recovered = Alert(labels={"alertname": "a", "host": "bad"}, annotations={}, state=AlarmState.RESOLVED,
                      starts_at=now, event_at=now + 10, ends_at=now + 10)
    store.apply([recovered], now + 10)  # changed: worth another try
    steps(target_loop, now + 10, count=2)
    assert [h for p in client.posts for h in hosts(p)] == ["bad"]


class DownStore(SqliteStore):
    """A store whose reads fail while ``down``."""

    down = False

    def changes(self, target: str, limit: int) -> list[StoredAlert]:
        if self.down:
            raise StoreError("redis: Connection refused")
        return super().changes(target, limit)


def test_a_store_outage_while_delivering_is_logged_as_such_and_delivery_resumes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = DownStore(tmp_path / "bridge.db")
    target_loop, _, client = make_loop(tmp_path, store)
    store.down = True
    first, recovered = "store error while delivering; will retry", "store reachable again"
    with caplog.at_level(logging.INFO, logger="bridge.deliver"):
        target_loop.start()
        try:
            wait_for(lambda: [r for r in caplog.records if r.getMessage() == first], timeout=5,
                     message="the store error logged")
            store.down = False
            store.apply([alert("after", time.time())], time.time())
            wait_for(lambda: any("after" in hosts(p) for p in client.posts), timeout=10,
                     message="delivery after the store came back")
        finally:
            target_loop.stop.set()
            target_loop.join(5)
    messages = [r.getMessage() for r in caplog.records]
    [record] = [r for r in caplog.records if r.getMessage() == first]  # once, not at every poll
    assert record.levelno == logging.ERROR and not record.exc_info  # an outage, not a bug
    assert record.__dict__["error"] == "redis: Connection refused"
    assert recovered in messages
    assert "unexpected error while delivering" not in messages


def test_a_store_outage_is_not_called_over_while_the_loop_only_waits(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """During a Redis outage the lease lapses and the loop waits without reading the store: that is no
    recovery, and the real one must still get its line (issue 20 review, item 1)."""
    store = DownStore(tmp_path / "bridge.db")
    target_loop, _, _ = make_loop(tmp_path, store)
    target_loop.lease = lease = Lease(store, "127.0.0.1:8080", ttl=0.3)  # lapses unless renewed
    assert lease.renew(time.time())
    store.down = True
    recovered = "store reachable again"
    with caplog.at_level(logging.INFO, logger="bridge.deliver"):
        target_loop.start()
        try:
            wait_for(lambda: target_loop.store_down.failures > 0, timeout=5, message="the store error")
            time.sleep(0.8)  # the lease has lapsed: the loop polls without a lease, the store still down
            assert recovered not in [r.getMessage() for r in caplog.records]
            store.down = False
            assert lease.renew(time.time())
            wait_for(lambda: recovered in [r.getMessage() for r in caplog.records], timeout=5,
                     message="the real recovery logged")
        finally:
            target_loop.stop.set()
            target_loop.join(5)
    assert [r.getMessage() for r in caplog.records].count(recovered) == 1


def test_an_outage_of_hours_keeps_backing_off_instead_of_overflowing(tmp_path: Path) -> None:
    """2 ** 1024 as a float raises OverflowError: after ~1 h of failures the thread died (review item 2)."""
    target_loop, store, client = make_loop(tmp_path)
    now = time.time()
    store.apply([alert("h1", now)], now)
    client.down = True
    target_loop.failures = 2000
    target_loop.step(now)
    assert target_loop.failures == 2001
    assert now < target_loop.retry_at <= time.time() + BACKOFF_CAP
    assert capped_doubling(HOUSEKEEPING_EVERY, HOUSEKEEPING_BACKOFF_CAP, 2000) == HOUSEKEEPING_BACKOFF_CAP


def test_a_probe_never_hides_changes_that_keep_failing(tmp_path: Path) -> None:
    """A change the re-send sweep no longer carries (resolved long ago) fails at every POST: the sweep has
    nothing to send, and its probe of /api/v2/status must not call the Alertmanager up meanwhile, resetting
    the backoff and ``alertmanager_up`` (issue 20 review item 4)."""
    target_loop, store, client = make_loop(tmp_path)
    now = time.time()
    past = now - 2 * 3600
    store.apply([alert("old", past)], past)
    store.apply([Alert(labels={"alertname": "a", "host": "old"}, annotations={}, state=AlarmState.RESOLVED,
                       starts_at=past, event_at=past + 1, ends_at=past + 1)], past + 1)
    client.down = True
    for index in range(6):  # each past the previous backoff (at most BACKOFF_CAP)
        target_loop.step(now + index * (BACKOFF_CAP + 1))
    assert client.probes == 0
    assert target_loop.failures >= 3 and backlog(store) == 1  # still failing, still backing off
    client.down = False
    target_loop.step(now + 6 * (BACKOFF_CAP + 1))
    assert backlog(store) == 0 and target_loop.failures == 0


def test_an_idle_loop_probes_and_a_failed_probe_is_retried_with_backoff(tmp_path: Path) -> None:
    """Nothing to send at all: the probe is what tells whether the Alertmanager is up (issue 20 item 1)."""
    target_loop, _, client = make_loop(tmp_path)
    now = time.time()
    client.probe_down = True
    target_loop.step(now)
    assert target_loop.failures == 1 and client.probes == 0
    client.probe_down = False
    target_loop.step(now + BACKOFF_CAP + 1)  # retried after the backoff, not a whole re-send interval later
    assert client.probes == 1 and target_loop.failures == 0
