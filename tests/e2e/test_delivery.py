"""The delivery guarantees, each against real Alertmanager processes and the real ``serve``.

Nothing acknowledged is lost (crash, outage), firing stays firing (re-sends), sends are prompt and
batched, retries and late repeats are harmless, a bad alert does not block the rest, and SIGTERM is
graceful.
"""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bridge.model import AlarmState, Alert
from bridge.store.sqlite import SqliteStore
from tests.harness.alertmanager import Alertmanager, hosts
from tests.harness.bridge_process import Bridge, metric
from tests.harness.payloads import kingsoft, shanghai_now, tencent
from tests.harness.processes import free_port, wait_for

pytestmark = pytest.mark.e2e


def post_many(bridge: Bridge, names: list[str], timestamp: int | None = None) -> list[int]:
    ts = timestamp or int(time.time())
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda h: bridge.post("kingsoft", kingsoft(h, timestamp=ts)).status_code, names))


def sent_series(alertmanager: str, outcome: str) -> str:
    return f'cloud_alarm_bridge_alerts_sent_total{{alertmanager="{alertmanager}",outcome="{outcome}"}}'


def test_acknowledged_callbacks_survive_kill_9_of_the_whole_bridge(
        tmp_path: Path, new_alertmanager: Callable[..., Alertmanager]) -> None:
    am = new_alertmanager("am")  # not started: nothing can be delivered before the crash
    bridge = Bridge(tmp_path, [am.url]).start()
    names = [f"crash-{i}" for i in range(50)]
    assert post_many(bridge, names) == [200] * 50
    bridge.kill()
    am.start()
    try:
        restarted = Bridge(tmp_path, [am.url], port=bridge.port).start()
        # well within the lease's 15 s: the restarted bridge (same host and port) takes its lease back
        am.wait_for(lambda a: hosts(a) == set(names), timeout=8, message="every acknowledged alarm")
        restarted.stop()
    finally:
        am.stop()


def test_an_alertmanager_outage_loses_nothing_and_the_backlog_drains_in_batches(
        tmp_path: Path, new_alertmanager: Callable[..., Alertmanager]) -> None:
    am = new_alertmanager("am").start()
    bridge = Bridge(tmp_path, [am.url]).start()
    try:
        assert post_many(bridge, ["before"]) == [200]
        am.wait_for(lambda a: hosts(a) == {"before"})
        am.stop()
        during = [f"outage-{i}" for i in range(300)]
        assert post_many(bridge, during) == [200] * 300  # callbacks are still acknowledged
        metrics = bridge.metrics()
        assert metric(metrics, "cloud_alarm_bridge_backlog_alerts") == 300
        assert metric(metrics, "cloud_alarm_bridge_alertmanager_up") == 0
        posts_before = metric(metrics, "cloud_alarm_bridge_batch_size_count")
        am.start()
        am.wait_for(lambda a: hosts(a) >= set(during), timeout=20, message="the backlog to drain")
        metrics = bridge.metrics()
        assert metric(metrics, "cloud_alarm_bridge_backlog_alerts") == 0
        assert metric(metrics, "cloud_alarm_bridge_alertmanager_up") == 1
        successful = metric(metrics, sent_series(am.url, "success"))
        assert successful >= 301
        # 300 changes leave in a few POSTs of up to 256, not one POST per callback
        drain_posts = metric(metrics, "cloud_alarm_bridge_batch_size_count") - posts_before
        assert drain_posts < 60, drain_posts
    finally:
        bridge.stop()
        am.stop()


def test_a_burst_of_1000_alerts_costs_few_posts(tmp_path: Path, alertmanager: Alertmanager) -> None:
    bridge = Bridge(tmp_path, [alertmanager.url]).start()
    try:
        names = [f"burst-{i}" for i in range(1000)]
        started = time.monotonic()
        assert set(post_many(bridge, names)) == {200}
        alertmanager.wait_for(lambda a: len(hosts(a)) == 1000, timeout=20, message="1000 alerts")
        elapsed = time.monotonic() - started
        posts = metric(bridge.metrics(), "cloud_alarm_bridge_batch_size_count")
        # Full batches of 256 go at once; after a partial one the target pauses 250 ms, so a burst
        # costs at most four POSTs a second, plus its full batches, plus the first re-send.
        assert posts <= 4 * elapsed + 1000 / 256 + 2, f"{posts} POSTs for 1000 alerts in {elapsed:.1f} s"
    finally:
        bridge.stop()


def test_one_dead_alertmanager_does_not_delay_the_others(
        tmp_path: Path, new_alertmanager: Callable[..., Alertmanager]) -> None:
    healthy = new_alertmanager("am1").start()
    late = new_alertmanager("am2")
    bridge = Bridge(tmp_path, [healthy.url, late.url]).start()
    try:
        for i in range(3):
            started = time.monotonic()
            assert post_many(bridge, [f"ha-{i}"]) == [200]
            healthy.wait_for(lambda a, i=i: f"ha-{i}" in hosts(a), timeout=5)
            assert time.monotonic() - started < 1.0  # prompt, as if the dead one were not there
        late.start()
        late.wait_for(lambda a: hosts(a) == {"ha-0", "ha-1", "ha-2"}, timeout=15, message="the late replica")
    finally:
        bridge.stop()
        healthy.stop()
        late.stop()


def test_firing_stays_firing_past_resolve_timeout_and_endsat(
        tmp_path: Path, new_alertmanager: Callable[..., Alertmanager]) -> None:
    am = new_alertmanager("am", resolve_timeout="1s").start()
    bridge = Bridge(tmp_path, [am.url], "--resend-interval=1").start()
    try:
        post_many(bridge, ["steady"])
        first = am.wait_for(lambda a: a)[0]
        deadline = time.monotonic() + 7  # beyond the first endsAt (now + 4 x 1 s)
        while time.monotonic() < deadline:
            assert hosts(am.alerts()) == {"steady"}
            time.sleep(0.5)
        last = am.alerts()[0]
        assert last["endsAt"] > first["endsAt"]  # re-sent with a fresh endsAt
        assert last["startsAt"] == first["startsAt"]
    finally:
        bridge.stop()
        am.stop()


def test_a_restarted_alertmanager_relearns_firing_alerts(
        tmp_path: Path, new_alertmanager: Callable[..., Alertmanager]) -> None:
    am = new_alertmanager("am").start()
    bridge = Bridge(tmp_path, [am.url], "--resend-interval=2").start()
    try:
        post_many(bridge, ["relearn-1", "relearn-2"])
        am.wait_for(lambda a: len(a) == 2)
        am.stop()
        am.start()  # a fresh Alertmanager knows nothing
        am.wait_for(lambda a: hosts(a) == {"relearn-1", "relearn-2"}, timeout=6, message="re-sent alerts")
    finally:
        bridge.stop()
        am.stop()


def test_retries_are_harmless_and_a_late_retry_never_resurrects(tmp_path: Path, alertmanager: Alertmanager) -> None:
    bridge = Bridge(tmp_path, [alertmanager.url], "--resend-interval=1").start()
    first = shanghai_now(-300)
    firing = tencent("ins-late", first=first, duration=240)
    try:
        for _ in range(3):  # the vendor's retries
            assert bridge.post("tencent", firing).status_code == 200
        [alert] = alertmanager.wait_for(lambda a: a)
        assert 'outcome="unchanged",vendor="tencent"} 2.0' in bridge.metrics()
        recovery = tencent("ins-late", status=0, first=first, recover=shanghai_now(-10), duration=290)
        assert bridge.post("tencent", recovery).status_code == 200
        alertmanager.wait_for(lambda a: not a, message="resolved")
        assert bridge.post("tencent", firing).status_code == 200  # a late retry of the firing callback
        deadline = time.monotonic() + 3.5  # several resend intervals
        while time.monotonic() < deadline:
            assert alertmanager.alerts() == [], "a stale retry re-fired the alert"
            time.sleep(0.25)
        assert 'outcome="stale",vendor="tencent"} 1.0' in bridge.metrics()
        again = tencent("ins-late", first=shanghai_now(-5), duration=5)  # a genuinely new occurrence
        assert bridge.post("tencent", again).status_code == 200
        [refired] = alertmanager.wait_for(lambda a: a, message="the new occurrence")
        assert refired["labels"] == alert["labels"]
        assert refired["startsAt"] > alert["startsAt"]
    finally:
        bridge.stop()


def test_an_alert_alertmanager_rejects_does_not_block_the_batch(tmp_path: Path, alertmanager: Alertmanager) -> None:
    store = SqliteStore(tmp_path / "bridge.db")
    now = time.time()
    bad = Alert(labels={"alertname": "bad", "not-a-valid-name": "x", "vendor": "kingsoft"}, annotations={},
                state=AlarmState.FIRING, starts_at=now, event_at=now)
    good = [Alert(labels={"alertname": "good", "host": f"good-{i}", "vendor": "kingsoft"}, annotations={},
                  state=AlarmState.FIRING, starts_at=now, event_at=now) for i in range(5)]
    store.register_targets([alertmanager.url])
    store.apply([*good[:2], bad, *good[2:]], now)
    bridge = Bridge(tmp_path, [alertmanager.url]).start()
    try:
        alertmanager.wait_for(lambda a: hosts(a) == {f"good-{i}" for i in range(5)})
        wait_for(lambda: metric(bridge.metrics(), "cloud_alarm_bridge_backlog_alerts") == 0, message="backlog 0")
        metrics = bridge.metrics()
        assert metric(metrics, sent_series(alertmanager.url, "rejected")) == 1
        assert re.search(r"alertmanager rejected an alert.*invalid name", bridge.log_text())
    finally:
        bridge.stop()


def test_a_full_store_answers_503_and_says_so(tmp_path: Path, alertmanager: Alertmanager) -> None:
    bridge = Bridge(tmp_path, [alertmanager.url], "--store-max-alerts=3").start()
    try:
        assert post_many(bridge, ["full-1", "full-2", "full-3"]) == [200] * 3
        response = bridge.post("kingsoft", kingsoft("full-4"))
        assert response.status_code == 503
        assert "retry" in response.json()["error"]
        metrics = bridge.metrics()
        assert 'cloud_alarm_bridge_callbacks_total{outcome="store_full",vendor="kingsoft"} 1.0' in metrics
        assert metric(metrics, "cloud_alarm_bridge_store_capacity_alerts") == 3
        assert "store full" in bridge.log_text()
    finally:
        bridge.stop()


def test_the_staleness_guard_resolves_alerts_that_never_recover(tmp_path: Path, alertmanager: Alertmanager) -> None:
    bridge = Bridge(tmp_path, [alertmanager.url], "--max-firing-age=2s", "--resend-interval=1").start()
    try:
        bridge.post("kingsoft", kingsoft("forgotten", timestamp=int(time.time())))
        alertmanager.wait_for(lambda a: hosts(a) == {"forgotten"})
        alertmanager.wait_for(lambda a: not a, timeout=12, message="the guard to resolve it")
        assert metric(bridge.metrics(), "cloud_alarm_bridge_alerts_expired_total") == 1
    finally:
        bridge.stop()


def test_sigterm_is_graceful_and_loses_nothing_acknowledged(tmp_path: Path, alertmanager: Alertmanager) -> None:
    bridge = Bridge(tmp_path, [alertmanager.url], "--shutdown-timeout=10s").start()
    acknowledged: list[str] = []
    failures: list[int] = []
    stop = threading.Event()

    def sender(worker: int) -> None:
        i = 0
        while not stop.is_set():
            name = f"term-{worker}-{i}"
            try:
                code = bridge.post("kingsoft", kingsoft(name)).status_code
            except requests.ConnectionError:
                return  # the listener is closed: the vendor would retry
            (acknowledged.append(name) if code == 200 else failures.append(code))
            i += 1

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    process = bridge.process
    assert process is not None
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(15)
    elapsed = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join()
    assert process.returncode == 0
    assert elapsed < 10
    assert not [c for c in failures if c >= 500], failures
    bridge.process = None
    bridge.log.close()
    restarted = Bridge(tmp_path, [alertmanager.url], port=bridge.port).start()
    try:
        alertmanager.wait_for(lambda a: hosts(a) >= set(acknowledged), timeout=20, message="every acknowledged alarm")
        assert len(acknowledged) > 20
    finally:
        restarted.stop()


def test_an_alertmanager_under_a_path_prefix(tmp_path: Path, new_alertmanager: Callable[..., Alertmanager]) -> None:
    am = new_alertmanager("am", route_prefix="/alertmanager").start()
    bridge = Bridge(tmp_path, [am.url]).start()
    try:
        post_many(bridge, ["prefixed"])
        am.wait_for(lambda a: hosts(a) == {"prefixed"})
    finally:
        bridge.stop()
        am.stop()


def test_metrics_pass_promtool(tmp_path: Path, alertmanager: Alertmanager) -> None:
    bridge = Bridge(tmp_path, [alertmanager.url, f"http://127.0.0.1:{free_port()}"]).start()
    try:
        post_many(bridge, ["lint"])
        alertmanager.wait_for(lambda a: a)
        result = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"],
                                input=bridge.metrics(), capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        bridge.stop()


def test_the_store_is_sqlite_in_wal_mode(tmp_path: Path, alertmanager: Alertmanager) -> None:
    bridge = Bridge(tmp_path, [alertmanager.url]).start()
    try:
        post_many(bridge, ["wal"])
        (mode,) = sqlite3.connect(tmp_path / "bridge.db").execute("PRAGMA journal_mode").fetchone()
        assert mode == "wal"
    finally:
        bridge.stop()


def test_two_tenants_on_one_url_each_get_every_alert(tmp_path: Path, alertmanager: Alertmanager) -> None:
    """Mimir takes alerts once per tenant at one URL; Alertmanager ignores the header, the bridge must not."""
    config = tmp_path / "bridge.yml"
    config.write_text("alertmanagers:\n" + "".join(
        f"  - {{url: '{alertmanager.url}', headers: {{X-Scope-OrgID: {tenant}}}}}\n"
        for tenant in ("team-a", "team-b")))
    bridge = Bridge(tmp_path, [], f"--config={config}").start()
    names = [f"{alertmanager.url} (tenant team-a)", f"{alertmanager.url} (tenant team-b)"]
    try:
        post_many(bridge, ["tenanted"])
        alertmanager.wait_for(lambda a: hosts(a) == {"tenanted"})
        wait_for(lambda: all(metric(bridge.metrics(), sent_series(name, "success")) >= 1 for name in names),
                 message="a successful send to each tenant")
        metrics = bridge.metrics()
        for name in names:
            assert f'cloud_alarm_bridge_backlog_alerts{{alertmanager="{name}"}} 0.0' in metrics
            assert f'cloud_alarm_bridge_alertmanager_up{{alertmanager="{name}"}} 1.0' in metrics
    finally:
        bridge.stop()
