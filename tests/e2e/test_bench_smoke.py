"""The benchmark, with tiny numbers: it must keep running, and keep checking what it claims.

The full run (``make bench``) takes minutes and is not part of the test run; this one proves that
every scenario still starts its real servers, measures, and finds every acknowledged alarm in
Alertmanager, so the benchmark cannot rot between releases.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE_WRK_SECONDS = 2
"""bench/scenarios.py SMOKE.wrk_seconds (bench/ is not a package the tests import)."""

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(360)
def test_the_benchmark_runs_every_scenario_and_every_acknowledged_alarm_arrives(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["correctness_failures"] == []

    # Bounds that fail when a measurement rots (the wrong processes, an unparsed wrk line) or the bridge
    # regresses by an order of magnitude, yet hold with 10x slack on a loaded 2-core CI machine.
    throughput = report["throughput"]
    for server in ("bridge", "bare_flask", "naive_bridge"):
        figures = throughput[server]
        assert figures["non_2xx"] == 0 and figures["socket_errors"] == 0, (server, figures)
        assert figures["requests"] > 0
        # wrk's own two figures agree (both parsed from the right lines): requests over the run's seconds
        assert 0.5 < figures["requests"] / SMOKE_WRK_SECONDS / figures["requests_per_second"] < 2, figures
        assert figures["p50_ms"] <= figures["p99_ms"] < 5000, figures
        # a Flask request costs well over 0.05 ms of CPU (less: the CPU of the wrong processes was read);
        # the bridge takes about 2 ms, so 50 ms means a regression such as quadratic parsing
        assert 0.05 < figures["server_cpu_ms_per_callback"] < 50, (server, figures)
        if server != "naive_bridge":  # each vendor alone: wrk sent only its callbacks, all answered
            assert set(figures["by_vendor"]) == {"tencent", "kingsoft", "aliyun"}
            for vendor, alone in figures["by_vendor"].items():
                assert alone["non_2xx"] == 0 and alone["requests"] > 0, (server, vendor, alone)
                assert 0.05 < alone["server_cpu_ms_per_callback"] < 50, (server, vendor, alone)
    assert set(throughput["cpu_vs_bare_flask"]) == {"tencent", "kingsoft", "aliyun"}
    assert throughput["bridge"]["delivered"] == throughput["bridge"]["acknowledged"] > 0

    [rate] = report["fixed_rate"].values()
    assert rate["failed"] == 0 and rate["probes_seen"] == rate["probes"] > 0
    assert rate["rate_achieved"] >= 0.5 * rate["rate_requested"], rate  # else its latencies mean little
    assert 0 < rate["ack_p50_ms"] <= rate["ack_p99_ms"] < 5000, rate
    # end to end: the delivery loop polls every 0.1 s and pauses 0.25 s after a partial batch (~0.2 s here)
    assert 0 < rate["e2e_p50_ms"] <= rate["e2e_p99_ms"] < 3000, rate

    storm = report["storm"]
    assert storm["refused"] == 0 and storm["acknowledged"] == storm["alarms"] == storm["delivered"], storm
    assert 0 < storm["ack_p50_ms"] <= storm["ack_p99_ms"] <= storm["ack_max_ms"] < 5000, storm
    assert storm["all_visible_seconds_after_last_ack"] is not None, storm

    burst = report["burst"]
    assert burst["alertmanager_received"] == burst["alerts_sent"] >= burst["acknowledged"] == burst["alarms"]
    assert 0 < burst["posts"] < burst["alarms"]  # batched, not one POST per alarm

    outage = report["outage_drain"]
    assert outage["backlog_before"] == outage["acknowledged_during_outage"] == outage["delivered"] > 0

    memory = report["memory"]
    assert memory["delivered"] == memory["alerts"]
    assert set(memory["rss_mb_at_rest"]) == {"supervisor", "gunicorn_master", "worker_1", "worker_2"}
    assert memory["resent_alerts"] >= memory["alerts"]  # one full re-send was seen in Alertmanager

    replicas = report["replicas"]
    assert replicas["replicas_3"]["delivered"] == replicas["replicas_3"]["acknowledged"] > 0
    for count in ("replicas_1", "replicas_3"):
        assert replicas[count]["non_2xx"] == 0 and replicas[count]["socket_errors"] == 0, replicas[count]

    assert set(report["verdicts"]) == {"throughput_vs_bare_flask", "throughput_vs_naive",
                                       "cpu_per_callback_vs_bare_flask", "storm_ack_p99_ms", "storm_ack_max_ms",
                                       "storm_refused", "storm_all_visible_seconds", "ack_p99_ms_at_rate",
                                       "e2e_p99_ms_at_rate", "posts_per_1000_alerts", "outage_drain_seconds",
                                       "rss_mb_per_worker_at_rest"}
    table = (tmp_path / "latest.md").read_text()
    assert "Bridge ÷ bare Flask" in table and "3 replicas on Redis" in table and "Storm:" in table
