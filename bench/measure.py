"""What the scenarios measure with: /metrics scrapes and counters' growth, delivery into Alertmanager,
the CPU and resident memory of processes (from /proc), and wrk runs with their output parsed.

Kept apart from the scenarios so that each scenario reads as what it does, not how a figure is taken.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from bench.servers import BENCH, TOKEN, Alertmanager, Bridge

WRK = shutil.which("wrk") or "wrk"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def scrape(url: str) -> dict[str, float]:
    """A /metrics page as {'name{label="v",...}': value}, summed over nothing. An Alertmanager holding
    100,000 alerts on a loaded machine may take longer than 10 s to answer: one retry, with 30 s."""
    try:
        text = requests.get(f"{url}/metrics", timeout=10).text
    except requests.Timeout:
        text = requests.get(f"{url}/metrics", timeout=30).text
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(value for key, value in samples.items()
               if key.startswith(name + "{") and all(w in key for w in wanted))


def grown(before: dict[str, float], after: dict[str, float], name: str) -> float:
    """How much a counter grew between two scrapes."""
    return total(after, name) - total(before, name)


def am_alerts(am: Alertmanager) -> int:
    """Alerts Alertmanager holds (every state): a cheap count, unlike listing them."""
    return int(total(scrape(am.url), "alertmanager_alerts"))


def accepted(bridge: Bridge) -> int:
    """Callbacks the bridge acknowledged, once the count stops moving: wrk stops with requests in flight,
    and the bridge still commits and counts those it had begun."""
    count, previous = -1, -2
    while count != previous:
        previous = count
        time.sleep(0.3)
        count = int(total(scrape(bridge.url), "cloud_alarm_bridge_callbacks_total", outcome="accepted"))
    return count


def wait_delivered(am: Alertmanager, expected: int, timeout: float) -> float | None:
    """Seconds until Alertmanager holds ``expected`` alerts; None if it never does within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if am_alerts(am) >= expected:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def delivery(am: Alertmanager, bridges: list[Bridge], timeout: float) -> tuple[int, float | None, int]:
    """After a load: the callbacks ``bridges`` acknowledged, the seconds until Alertmanager held as many
    alerts (None if not within ``timeout``), and the alerts it held then."""
    acknowledged = sum(accepted(bridge) for bridge in bridges)
    return acknowledged, wait_delivered(am, acknowledged, timeout), am_alerts(am)


def resend_sweep(am: Alertmanager, pid: int, interval: float) -> dict[str, Any]:
    """One whole re-send sweep, seen as alerts arriving in Alertmanager: its wall time, and the CPU
    the delivering process spent from the quiet before it to the quiet after it."""
    quiet = min(5.0, interval / 3)

    def received() -> float:
        return total(scrape(am.url), "alertmanager_alerts_received_total")

    def wait_for_quiet(deadline: float) -> tuple[float, float]:
        count, since = received(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if (now_count := received()) != count:
                count, since = now_count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return count, since

    deadline = time.monotonic() + 3 * interval + 30
    count_start, _ = wait_for_quiet(deadline)  # a sweep begun while loading is over
    cpu_start = cpu_seconds(pid)
    while time.monotonic() < deadline and received() == count_start:
        time.sleep(0.05)
    first = time.monotonic()
    count_end, last = wait_for_quiet(deadline)
    return {"resend_cpu_seconds": round(cpu_seconds(pid) - cpu_start, 3),
            "resend_wall_seconds": round(last - first, 2), "resent_alerts": int(count_end - count_start)}


def process_tree(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(c) for c in task.read_text().split()]
    return [pid] + [p for child in children for p in process_tree(child)]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_ms_per_request(pids: list[int], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s figures (a wrk run), with the CPU all of ``pids`` spent during it per request, in ms."""
    before = sum(cpu_seconds(pid) for pid in pids)
    figures = run()
    spent = sum(cpu_seconds(pid) for pid in pids) - before
    return figures | {"server_cpu_ms_per_callback": round(spent * 1e3 / max(1, figures["requests"]), 3)}


def cpu_over(pid: int, seconds: float) -> float:
    """CPU seconds ``pid`` spends in the next ``seconds`` of wall time."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


def bridge_rss(bridge: Bridge) -> dict[str, float]:
    """Resident MB of each process of one bridge: the supervisor (with the delivery loop), gunicorn's
    master and its workers."""
    assert bridge.process is not None
    pids = process_tree(bridge.process.pid)
    names = ["supervisor", "gunicorn_master"] + [f"worker_{i}" for i in range(1, len(pids) - 1)]
    return {name: round(rss_mb(pid), 1) for name, pid in zip(names, pids, strict=False)}


def run_wrk(url: str, seconds: int, threads: int, connections: int, run_id: str,
            vendor: str | None = None) -> dict[str, float]:
    """wrk with the vendors' payloads (all three in turn, or only ``vendor``'s); requests per second,
    latency percentiles (ms), non-2xx answers."""
    env = {**os.environ, "BENCH_PAYLOADS": str(BENCH / "payloads"), "BENCH_RUN": run_id, "BENCH_TOKEN": TOKEN,
           **({"BENCH_VENDOR": vendor} if vendor else {})}
    out = subprocess.run([WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", str(BENCH / "lua" / "callbacks.lua"), url],
                         capture_output=True, text=True, env=env, check=True, timeout=seconds + 30).stdout
    result = {"requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1)),
              "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
              "socket_errors": sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.MULTILINE):
        result[f"p{pct}_ms"] = round(float(value) * _UNITS[unit], 3)
    return result


def parallel_wrk(bridges: list[Bridge], seconds: int, run_id: str) -> list[dict[str, float]]:
    """The same 16 connections in all, spread over the replicas as a Service would spread them."""
    results: list[dict[str, float]] = [{} for _ in bridges]
    per = max(1, 16 // len(bridges))

    def one(index: int) -> None:
        results[index] = run_wrk(bridges[index].url, seconds, max(1, 2 // len(bridges)), per, f"{run_id}-{index}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bridges))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
