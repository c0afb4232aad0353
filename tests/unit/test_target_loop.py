"""One delivery target's scheduling, on a real SQLite store with a recording client."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bridge.deliver.lease import Lease
from bridge.deliver.target import BATCH_PAUSE, TargetLoop
from bridge.settings import Settings
from bridge.store.sqlite import SqliteStore
from tests.harness.delivery import TARGET, RecordingClient, alert, hosts


def loop(tmp_path: Path, **settings: Any) -> tuple[TargetLoop, SqliteStore, RecordingClient]:
    store = SqliteStore(tmp_path / "bridge.db")
    store.register_targets([TARGET.name])
    lease = Lease(store, "127.0.0.1:8080")
    assert lease.renew(0.0)
    target_loop = TargetLoop(store, TARGET, Settings(batch_size=2, **settings), lease, threading.Event())
    client = RecordingClient()
    target_loop.client = client  # type: ignore[assignment]
    return target_loop, store, client


def step(target_loop: TargetLoop, now: float) -> bool:
    """Step at ``now``, having renewed the lease every 5 s on the way, as the Deliverer does."""
    renewed = getattr(target_loop, "_renewed", 0.0)
    while renewed + 5 < now:
        renewed += 5
        assert target_loop.lease.renew(renewed)
    assert target_loop.lease.renew(now)
    target_loop._renewed = now  # type: ignore[attr-defined]
    target_loop.clock = lambda: now
    return target_loop.step(now)


def drain(target_loop: TargetLoop, now: float) -> None:
    """Step as the loop would, sitting out its pauses, until everything due at ``now`` has gone out."""
    for index in range(20):
        step(target_loop, now + index * BATCH_PAUSE)


def test_changes_go_out_in_batches_then_the_resend_sweeps_everything(tmp_path: Path) -> None:
    target_loop, store, client = loop(tmp_path, resend_interval=60)
    store.apply([alert(f"h{i}", 1.0) for i in range(3)], 1.0)
    drain(target_loop, 2.0)
    sent = [h for p in client.posts for h in hosts(p)]
    assert all(len(p) <= 2 for p in client.posts)
    assert sorted(sent) == ["h0", "h0", "h1", "h1", "h2", "h2"]  # each as a change and in the re-send
    assert store.stats([TARGET.name], 2.0).targets[TARGET.name].backlog == 0
    client.posts.clear()
    assert not step(target_loop, 30.0)  # nothing new, and the next re-send is due at 62 s
    assert step(target_loop, 62.5)
    assert client.posts


def test_a_storm_of_changes_does_not_starve_the_resend(tmp_path: Path) -> None:
    target_loop, store, client = loop(tmp_path, resend_interval=60)
    store.apply([alert("steady", 1.0)], 1.0)
    drain(target_loop, 2.0)
    client.posts.clear()
    for i in range(10):  # the queue of changes never empties while the re-send is due
        store.apply([alert(f"storm-{i}-a", 70.0), alert(f"storm-{i}-b", 70.0)], 70.0)
        step(target_loop, 70.0)
    assert any("steady" in hosts(p) for p in client.posts)


def test_after_a_partial_batch_the_loop_pauses_so_the_next_post_carries_more(tmp_path: Path) -> None:
    target_loop, store, client = loop(tmp_path, resend_interval=60)
    drain(target_loop, 1.0)  # the first (empty) re-send
    store.apply([alert(f"h{i}", 1.0) for i in range(5)], 1.0)
    assert step(target_loop, 2.0)  # a full batch (2): more are waiting, go on at once
    assert step(target_loop, 2.0)
    assert not step(target_loop, 2.0)  # the last one, partial: pause before looking again
    assert [len(p) for p in client.posts] == [2, 2, 1]
    store.apply([alert("late", 2.1)], 2.1)
    assert not step(target_loop, 2.1) and len(client.posts) == 3  # still pausing: "late" waits
    step(target_loop, 2.0 + BATCH_PAUSE)
    assert hosts(client.posts[-1]) == ["late"]


def test_a_quiet_bridge_probes_its_alertmanager_once_per_resend_interval(tmp_path: Path) -> None:
    """No alerts: no POST, but a probe each interval, so ``alertmanager_up`` is known without traffic."""
    target_loop, _, client = loop(tmp_path, resend_interval=60)
    drain(target_loop, 1.0)
    assert client.probes == 1 and not client.posts
    drain(target_loop, 30.0)
    assert client.probes == 1
    drain(target_loop, 62.0)
    assert client.probes == 2
