"""Three ``cloud-alarm-bridge serve`` replicas on one real Redis, delivering to a real Alertmanager.

Any replica accepts any callback; one replica at a time (the lease holder) delivers; killing it or
restarting Redis loses nothing that was acknowledged.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests

from tests.harness.alertmanager import Alertmanager, hosts
from tests.harness.bridge_process import Bridge, metric
from tests.harness.payloads import kingsoft
from tests.harness.processes import wait_for
from tests.harness.redis_server import RedisServer

pytestmark = pytest.mark.e2e

LEASE_TTL = 3.0


def start_replicas(tmp_path: Path, am: Alertmanager, redis_server: RedisServer, count: int = 3) -> list[Bridge]:
    replicas = []
    for index in range(count):
        workdir = tmp_path / f"replica-{index}"
        workdir.mkdir()
        replicas.append(Bridge(workdir, [am.url], "--resend-interval=1", f"--lease-ttl={LEASE_TTL:g}",
                               store=redis_server.url).start())
    return replicas


def stop_all(replicas: list[Bridge]) -> None:
    for replica in replicas:
        replica.stop() if replica.process else None


def lease_holders(replica: Bridge) -> list[str]:
    """Owners (host:port) this replica logged taking the delivery lease as."""
    lines = [json.loads(line) for line in replica.log_text().splitlines() if line.startswith("{")]
    return [line["owner"] for line in lines if line.get("msg") == "holding the delivery lease"]


def holder(replicas: list[Bridge]) -> Bridge:
    """The replica that holds the lease (its listen port is in the owner)."""
    def find() -> Bridge | None:
        found = [r for r in replicas if r.process and any(
            owner.rpartition(":")[2] == str(r.port) for owner in lease_holders(r))]
        return found[0] if len(found) == 1 else None
    return wait_for(find, 10, message="one replica holding the delivery lease")


def post(replica: Bridge, host: str, state: int = 1, timestamp: int | None = None) -> int:
    try:
        return replica.post("kingsoft", kingsoft(host, state=state, timestamp=timestamp or int(time.time()))
                            ).status_code
    except requests.RequestException:
        return 0


def test_any_replica_accepts_callbacks_and_a_recovery_elsewhere_resolves_for_good(
        tmp_path: Path, alertmanager: Alertmanager, redis_server: RedisServer) -> None:
    replicas = start_replicas(tmp_path, alertmanager, redis_server)
    try:
        names = [f"spread-{i}" for i in range(9)]
        fired_at = int(time.time()) - 10
        for i, name in enumerate(names):
            assert post(replicas[i % 3], name, timestamp=fired_at) == 200
        alertmanager.wait_for(lambda a: hosts(a) == set(names), timeout=10, message="every alert, once")
        for replica in replicas:  # each replica took its share
            assert metric(replica.metrics(), 'cloud_alarm_bridge_callbacks_total{outcome="accepted"') == 3
        for i, name in enumerate(names):  # each recovery lands on another replica than its firing
            assert post(replicas[(i + 1) % 3], name, state=0, timestamp=fired_at + 5) == 200
        alertmanager.wait_for(lambda a: not a, timeout=10, message="every alert resolved")
        deadline = time.monotonic() + 4  # four resend intervals: whoever delivers must not re-fire them
        while time.monotonic() < deadline:
            assert alertmanager.alerts() == [], "a replica re-fired a resolved alert"
            time.sleep(0.25)
        assert sum(len(lease_holders(r)) for r in replicas) == 1  # one deliverer all along
        # the inspector of any replica shows every replica's callbacks: the journal is in the shared store
        listed = requests.get(f"{replicas[0].url}/api/v1/callbacks", params={"vendor": "kingsoft", "limit": 1000},
                              timeout=5).json()["callbacks"]
        seen = {(alert["labels"]["host"], alert["state"]) for record in listed for alert in record["alerts"]}
        assert {(name, state) for name in names for state in ("firing", "resolved")} <= seen
        status = requests.get(f"{replicas[2].url}/api/v1/status", timeout=5).json()
        assert status["store"]["type"] == "redis"
        assert status["store"]["lease_holder"].rpartition(":")[2] == str(holder(replicas).port)
    finally:
        stop_all(replicas)


def test_killing_the_lease_holder_hands_delivery_over_and_loses_nothing(
        tmp_path: Path, alertmanager: Alertmanager, redis_server: RedisServer) -> None:
    replicas = start_replicas(tmp_path, alertmanager, redis_server)
    try:
        dying = holder(replicas)
        survivors = [r for r in replicas if r is not dying]
        acknowledged: list[str] = []
        stop = threading.Event()

        def keep_posting(replica: Bridge, name: str) -> None:
            n = 0
            while not stop.is_set():
                host = f"{name}-{n}"
                if post(replica, host) == 200:
                    acknowledged.append(host)
                n += 1
                time.sleep(0.02)

        posters = [threading.Thread(target=keep_posting, args=(r, f"r{i}")) for i, r in enumerate(replicas)]
        for thread in posters:
            thread.start()
        time.sleep(1)
        dying.kill()  # supervisor, gunicorn and workers: kill -9 mid-stream
        killed_at = time.monotonic()
        time.sleep(1)
        stop.set()
        for thread in posters:
            thread.join()
        after_kill = f"after-kill-{int(killed_at)}"
        assert post(survivors[0], after_kill) == 200
        alertmanager.wait_for(lambda a: after_kill in hosts(a), timeout=LEASE_TTL + 5,
                              message="a survivor to take the lease over and deliver")
        assert time.monotonic() - killed_at < LEASE_TTL + 5
        alertmanager.wait_for(lambda a: hosts(a) >= set(acknowledged), timeout=10,
                              message="every callback acknowledged before, during and after the kill")
        assert sum(len(lease_holders(r)) for r in survivors) == 1  # exactly one successor
    finally:
        stop_all(replicas)


def test_a_redis_restart_mid_stream_loses_nothing_acknowledged(
        tmp_path: Path, new_alertmanager: Callable[..., Alertmanager], redis_server: RedisServer) -> None:
    am = new_alertmanager("am")  # started last: everything acknowledged must wait in Redis
    replicas = start_replicas(tmp_path, am, redis_server, count=2)
    try:
        acknowledged: list[str] = []
        refused = 0
        unexpected: list[int] = []
        stop = threading.Event()

        def keep_posting(index: int) -> None:
            nonlocal refused
            n = 0
            while not stop.is_set():
                host = f"r{index}-{n}"
                status = post(replicas[index], host)
                if status == 200:
                    acknowledged.append(host)
                elif status == 503:  # the store is down: the vendor is told to retry
                    refused += 1
                else:  # a 500, a 4xx, or the replica itself unreachable (0): not how an outage is answered
                    unexpected.append(status)
                n += 1
                time.sleep(0.01)

        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(keep_posting, i) for i in range(2)]
            time.sleep(1)
            redis_server.kill()  # kill -9: only what is in the append-only file survives
            time.sleep(1)
            redis_server.start()
            time.sleep(1.5)
            stop.set()
            for future in futures:
                future.result()
        assert unexpected == [], "during a Redis outage every refusal must be a 503"
        assert refused > 0, "no callback met the outage: the test proves nothing"
        assert len(acknowledged) > 50
        am.start()
        am.wait_for(lambda a: hosts(a) >= set(acknowledged), timeout=20,
                    message=f"all {len(acknowledged)} acknowledged alarms")
    finally:
        stop_all(replicas)
        am.stop()


def test_a_redis_that_lost_its_data_gets_the_cursor_back(
        tmp_path: Path, alertmanager: Alertmanager, redis_server: RedisServer) -> None:
    """Redis restarted without persistence: new changes flow again, not only at the next re-send."""
    bridge = Bridge(tmp_path, [alertmanager.url], "--resend-interval=1h", store=redis_server.url).start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert post(bridge, "before") == 200
        alertmanager.wait_for(lambda a: hosts(a) == {"before"})
        client.flushall()
        wait_for(lambda: client.hexists("cab:targets", f"cursor:{alertmanager.url}"), timeout=15,
                 message="the target registered again")
        assert post(bridge, "after") == 200
        alertmanager.wait_for(lambda a: "after" in hosts(a), timeout=5, message="the change after the loss")
    finally:
        bridge.stop()
        client.close()
