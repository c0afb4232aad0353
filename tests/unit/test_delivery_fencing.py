"""Issue 19 items 11 and 3: a deliverer that lost its lease never POSTs, and no POST is huge."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bridge.deliver.alertmanager import MAX_POST_BYTES
from bridge.deliver.lease import Lease
from bridge.deliver.target import TargetLoop
from bridge.model import AlarmState, Alert
from bridge.settings import Settings
from bridge.store.sqlite import SqliteStore
from tests.harness.delivery import TARGET, RecordingClient, alert, hosts


class SlowStore(SqliteStore):
    """A store under heavy load: reading the changes takes ``delay`` seconds of the test's clock."""

    delay = 0.0
    clock = 0.0

    def changes(self, target: str, limit: int):
        self.clock += self.delay
        return super().changes(target, limit)


def loop(tmp_path: Path, ttl: float = 15.0, **settings) -> tuple[TargetLoop, SlowStore, RecordingClient]:
    store = SlowStore(tmp_path / "bridge.db")
    store.register_targets([TARGET.name])
    lease = Lease(store, "127.0.0.1:8080", ttl)
    target_loop = TargetLoop(store, TARGET, Settings(**settings), lease, threading.Event())
    target_loop.client = client = RecordingClient()  # type: ignore[assignment]
    target_loop.clock = lambda: store.clock
    return target_loop, store, client


def test_a_post_never_starts_once_the_lease_may_have_passed_to_another_replica(tmp_path: Path) -> None:
    target_loop, store, client = loop(tmp_path)
    assert target_loop.lease.renew(0.0)
    store.apply([alert("h1", 0.0)], 0.0)
    store.delay = 15.0  # the store read outlasted the lease: another replica may be delivering by now
    target_loop.step(0.0)
    assert client.posts == []
    assert store.stats([TARGET.name], 0.0).targets[TARGET.name].backlog == 1  # still queued for the holder


def test_a_post_must_end_before_the_lease_can_pass(tmp_path: Path) -> None:
    target_loop, store, client = loop(tmp_path, ttl=6.0)
    assert target_loop.lease.renew(0.0)  # the store may give it away at 6 s
    store.apply([alert("h1", 0.0)], 0.0)
    store.delay = 1.0
    target_loop.step(0.0)
    assert [hosts(p) for p in client.posts] == [["h1"]]
    assert client.timeouts == [pytest.approx(5.0, abs=0.5)]  # not the target's 10 s


def test_large_alerts_go_out_in_posts_of_bounded_size(tmp_path: Path) -> None:
    target_loop, store, client = loop(tmp_path, batch_size=256)
    big = [Alert(labels={"alertname": "a", "host": f"h{i}"}, annotations={"description": "x" * 400_000},
                 state=AlarmState.FIRING, starts_at=0.0, event_at=0.0) for i in range(5)]
    store.apply(big, 0.0)
    for _ in range(5):
        assert target_loop.lease.renew(store.clock)
        target_loop.step(store.clock)
    assert {h for p in client.posts for h in hosts(p)} == {f"h{i}" for i in range(5)}  # changes, then re-sends
    assert all(sum(len(a["annotations"]["description"]) for a in p) <= MAX_POST_BYTES for p in client.posts)
    assert store.stats([TARGET.name], 0.0).targets[TARGET.name].backlog == 0
