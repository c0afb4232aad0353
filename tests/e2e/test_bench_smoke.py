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

pytestmark = pytest.mark.e2e


def test_the_benchmark_runs_every_scenario_and_every_acknowledged_alarm_arrives(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--output", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["correctness_failures"] == []

    throughput = report["throughput"]
    for server in ("bridge", "bare_flask", "naive_bridge"):
        assert throughput[server]["requests_per_second"] > 0
        assert throughput[server]["non_2xx"] == 0
        assert throughput[server]["server_cpu_ms_per_callback"] > 0
    assert throughput["bridge"]["delivered"] == throughput["bridge"]["acknowledged"] > 0

    [rate] = report["fixed_rate"].values()
    assert rate["failed"] == 0 and rate["probes_seen"] == rate["probes"] > 0
    assert 0 < rate["ack_p50_ms"] <= rate["ack_p99_ms"]
    assert 0 < rate["e2e_p50_ms"] <= rate["e2e_p99_ms"]

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

    assert set(report["verdicts"]) == {"throughput_vs_bare_flask", "throughput_vs_naive", "ack_p99_ms_at_rate",
                                       "e2e_p99_ms_at_rate", "posts_per_1000_alerts", "outage_drain_seconds",
                                       "rss_mb_per_worker_at_rest"}
    table = (tmp_path / "latest.md").read_text()
    assert "Bridge ÷ bare Flask" in table and "3 replicas on Redis" in table
