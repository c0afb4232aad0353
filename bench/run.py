"""The benchmark: throughput, latency, batching, outage drain, memory and replicas, each beside a baseline.

Run ``make bench`` (or ``.venv/bin/python bench/run.py``). Everything runs on this machine in one go,
so the ratios hold on a noisy machine even where the absolute figures do not. Every server here is real:
Debian's Alertmanager, the real ``cloud-alarm-bridge serve`` (SQLite, and Redis for replicas), and two
baselines under the same gunicorn settings as the bridge (bench/baselines/). Load comes from wrk
(saturation) and from bench/load.py (a fixed rate). A figure only counts if every acknowledged alarm
reached Alertmanager: that is checked in each scenario, and a failed check makes the run exit 1.

``--smoke`` runs every scenario with tiny numbers (CI runs it, so the benchmark cannot rot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import Payloads, percentile, send  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.support import Alertmanager, Bridge, free_port, terminate, wait_for  # noqa: E402

BENCH = ROOT / "bench"
TOKEN = "bench-token-0123456789abcdef"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
WRK = shutil.which("wrk") or "wrk"


@dataclass(frozen=True)
class Scale:
    """How big each scenario is; ``FULL`` answers the issue's questions, ``SMOKE`` only proves it runs."""

    warmup_seconds: int
    wrk_seconds: int
    rates: tuple[int, ...]
    """Fixed rates for the latency scenario: the target's first, then one the bridge sustains here."""
    rate_seconds: int
    burst: int
    outage_alarms: int
    memory_alerts: int
    resend_interval: int
    probe_every: int


FULL = Scale(warmup_seconds=3, wrk_seconds=15, rates=(1000, 500), rate_seconds=30, burst=1000, outage_alarms=20_000,
             memory_alerts=100_000, resend_interval=60, probe_every=30)
SMOKE = Scale(warmup_seconds=1, wrk_seconds=2, rates=(200,), rate_seconds=2, burst=200, outage_alarms=300,
              memory_alerts=300, resend_interval=3, probe_every=10)

TARGETS = {
    "throughput_vs_bare_flask": (">=", 0.6),
    "throughput_vs_naive": (">=", 2.5),
    "ack_p99_ms_at_rate": ("<", 20.0),
    "e2e_p99_ms_at_rate": ("<", 1000.0),
    "posts_per_1000_alerts": ("<=", 10.0),
    "outage_drain_seconds": ("<", 15.0),
    "rss_mb_per_worker_at_rest": ("<", 80.0),
}


# --- measuring -------------------------------------------------------------------------------------
def scrape(url: str) -> dict[str, float]:
    """A /metrics page as {'name{label="v",...}': value}, summed over nothing."""
    text = requests.get(f"{url}/metrics", timeout=10).text
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


def bridge_rss(bridge: Bridge) -> dict[str, float]:
    """Resident MB of each process of one bridge: the supervisor (with the delivery loop), gunicorn's
    master and its workers."""
    assert bridge.process is not None
    pids = process_tree(bridge.process.pid)
    names = ["supervisor", "gunicorn_master"] + [f"worker_{i}" for i in range(1, len(pids) - 1)]
    return {name: round(rss_mb(pid), 1) for name, pid in zip(names, pids, strict=False)}


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(url: str, seconds: int, threads: int, connections: int, run_id: str) -> dict[str, float]:
    """wrk with the vendors' payloads; requests per second, latency percentiles (ms), non-2xx answers."""
    env = {**os.environ, "BENCH_PAYLOADS": str(BENCH / "payloads"), "BENCH_RUN": run_id, "BENCH_TOKEN": TOKEN}
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


PROBE_ROUTING = """\
route:
  receiver: blackhole
  group_wait: 1h
  routes:
    - receiver: probes
      matchers: ['unInstanceId=~"ins-probe-.*"']
      group_by: ['...']
      group_wait: 0s
      group_interval: 1h
      repeat_interval: 24h
receivers:
  - name: blackhole
  - name: probes
    webhook_configs:
      - url: {url}
        send_resolved: false
"""


class ProbeReceiver:
    """A webhook for Alertmanager's notifications: when each probe alert was first notified."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                for alert in body.get("alerts", []):
                    seen.setdefault(int(alert["labels"]["unInstanceId"].rpartition("-")[2]), now)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def __enter__(self) -> ProbeReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- servers ---------------------------------------------------------------------------------------
class Baseline:
    """One of bench/baselines under gunicorn with the bridge's settings: gthread, 2 workers x 4 threads."""

    def __init__(self, workdir: Path, module: str, alertmanager_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{module}.log"
        self.argv = [GUNICORN, "--worker-class=gthread", "--workers=2", "--threads=4", "--keep-alive=5",
                     f"--bind=127.0.0.1:{self.port}", "--access-logfile=-", f"--chdir={BENCH / 'baselines'}",
                     f"{module}:app"]
        self.env = {**os.environ, "ALERTMANAGER_URL": alertmanager_url}
        self.process: subprocess.Popen | None = None

    def start(self) -> Baseline:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_for(lambda: requests.get(f"{self.url}/callbacks/tencent", timeout=1).status_code == 405, 20,
                 message=f"baseline ready (log: {self.log_path})")
        return self

    def stop(self) -> None:
        terminate(self.process)
        self.log.close()


@contextmanager
def running(*servers: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for server in reversed(servers):
            server.stop()


class Bench:
    def __init__(self, scale: Scale, workdir: Path) -> None:
        self.scale = scale
        self.workdir = workdir
        self.payloads = Payloads(TOKEN)
        self._count = 0

    def dir(self, name: str) -> Path:
        self._count += 1
        path = self.workdir / f"{self._count:02d}-{name}"
        path.mkdir(parents=True)
        return path

    def alertmanager(self, workdir: Path, port: int | None = None) -> Alertmanager:
        return Alertmanager(workdir, resolve_timeout="5m", port=port)

    def bridge(self, workdir: Path, am_url: str, *args: str, store: str | None = None) -> Bridge:
        return Bridge(workdir, [am_url], f"--token={TOKEN}", f"--resend-interval={self.scale.resend_interval}",
                      "--log-level=warning", *args, store=store)

    def make(self, prefix: str) -> Callable[[int], Any]:
        return lambda index: self.payloads.callback(index, f"{prefix}-{index}")

    # --- 1 and 2: saturation throughput against the baselines ---------------------------------------
    def throughput(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for name in ("bridge", "bare_flask", "naive_bridge"):
            workdir = self.dir(f"throughput-{name}")
            am = self.alertmanager(workdir).start()
            server = (self.bridge(workdir, am.url) if name == "bridge"
                      else Baseline(workdir, name, am.url)).start()
            with running(am, server):
                run_wrk(server.url, self.scale.warmup_seconds, 2, 16, f"{name}-warm")
                pids = process_tree(server.process.pid)
                cpu_before = sum(cpu_seconds(pid) for pid in pids)
                figures = run_wrk(server.url, self.scale.wrk_seconds, 2, 16, name)
                figures["server_cpu_ms_per_callback"] = round(
                    (sum(cpu_seconds(pid) for pid in pids) - cpu_before) * 1e3 / max(1, figures["requests"]), 3)
                if name == "bridge":
                    acknowledged = accepted(server)
                    figures["acknowledged"] = acknowledged
                    figures["drain_after_load_seconds"] = wait_delivered(am, acknowledged, 120)
                    figures["delivered"] = am_alerts(am)
                    figures["every_ack_delivered"] = figures["delivered"] == acknowledged
                elif name == "naive_bridge":
                    figures["delivered"] = am_alerts(am)
            results[name] = figures
            print(f"  {name}: {figures['requests_per_second']:.0f} callbacks/s, "
                  f"p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms", flush=True)
        bridge = results["bridge"]["requests_per_second"]
        results["ratio_vs_bare_flask"] = round(bridge / results["bare_flask"]["requests_per_second"], 3)
        results["ratio_vs_naive"] = round(bridge / results["naive_bridge"]["requests_per_second"], 3)
        return results

    # --- 3: acknowledgement and end-to-end latency at a fixed rate ----------------------------------
    def fixed_rate(self) -> dict[str, Any]:
        return {str(rate): self._at_rate(rate) for rate in self.scale.rates}

    def _at_rate(self, rate: int) -> dict[str, Any]:
        """Every ``probe_every``-th Tencent callback is a probe; Alertmanager routes probes (only) to a
        webhook here with ``group_wait: 0s``, so the time a probe reaches the webhook is when
        Alertmanager had it, measured without polling its API (which would load the machine)."""
        workdir = self.dir(f"rate-{rate}")
        count = rate * self.scale.rate_seconds
        probes = {i for i in range(0, count, self.scale.probe_every) if i % 3 == 0}  # Tencent: unInstanceId
        with ProbeReceiver() as receiver:
            am = self.alertmanager(workdir)
            am.config.write_text(PROBE_ROUTING.format(url=receiver.url))
            am.start()
            bridge = self.bridge(workdir, am.url).start()

            def make(index: int) -> Any:
                return self.payloads.callback(index, f"probe-{index}" if index in probes else f"rate-{index}")

            with running(am, bridge):
                load = send(bridge.url, make, count, rate=rate, connections=32, track=probes)
                acknowledged = accepted(bridge)
                wait_delivered(am, acknowledged, 60)
                delivered = am_alerts(am)
                wait_for(lambda: len(receiver.seen) >= len(load.acked_at), 30, message="every probe at the webhook")
        e2e = [receiver.seen[i] - load.acked_at[i] for i in probes if i in receiver.seen and i in load.acked_at]
        return {"rate_requested": rate, "rate_achieved": round(load.rate, 1), "callbacks": count,
                "failed": load.failed, "ack_p50_ms": round(percentile(load.latencies, 0.5) * 1e3, 2),
                "ack_p99_ms": round(percentile(load.latencies, 0.99) * 1e3, 2),
                "probes": len(probes), "probes_seen": len(e2e),
                "e2e_p50_ms": round(percentile(e2e, 0.5) * 1e3, 1), "e2e_p99_ms": round(percentile(e2e, 0.99) * 1e3, 1),
                "e2e_max_ms": round(max(e2e, default=0) * 1e3, 1), "acknowledged": acknowledged,
                "delivered": delivered, "every_ack_delivered": delivered == acknowledged == load.ok}

    # --- 4: POSTs per 1,000 alerts in a burst --------------------------------------------------------
    def burst(self) -> dict[str, Any]:
        workdir = self.dir("burst")
        am = self.alertmanager(workdir).start()
        bridge = self.bridge(workdir, am.url).start()
        with running(am, bridge):
            time.sleep(1)  # past the first (empty) re-send sweep
            before_bridge, before_am = scrape(bridge.url), scrape(am.url)
            load = send(bridge.url, self.make("burst"), self.scale.burst, connections=32)
            seconds = wait_delivered(am, load.ok, 60)
            after_bridge, after_am = scrape(bridge.url), scrape(am.url)
        posts = grown(before_bridge, after_bridge, "cloud_alarm_bridge_batch_size_count")
        sent = grown(before_bridge, after_bridge, "cloud_alarm_bridge_batch_size_sum")
        received = grown(before_am, after_am, "alertmanager_alerts_received_total")
        return {"alarms": self.scale.burst, "acknowledged": load.ok, "burst_seconds": round(load.elapsed, 3),
                "posts": int(posts), "alerts_sent": int(sent), "alertmanager_received": int(received),
                "posts_per_1000_alerts": round(posts * 1000 / max(1, load.ok), 2),
                "delivered_within_seconds": seconds, "every_ack_delivered": seconds is not None,
                "counts_agree": int(sent) == int(received)}

    # --- 5: outage, then drain -----------------------------------------------------------------------
    def outage_drain(self) -> dict[str, Any]:
        workdir = self.dir("outage")
        am = self.alertmanager(workdir)  # not started: the outage
        bridge = self.bridge(workdir, am.url).start()
        with running(bridge):
            load = send(bridge.url, self.make("storm"), self.scale.outage_alarms, connections=32)
            backlog = total(scrape(bridge.url), "cloud_alarm_bridge_backlog_alerts")
            started = time.monotonic()
            am.start()
            ready = time.monotonic() - started
            with running(am):
                seconds = wait_delivered(am, load.ok, 120)
                delivered = am_alerts(am)
        drain = None if seconds is None else round(ready + seconds, 2)
        return {"alarms": self.scale.outage_alarms, "acknowledged_during_outage": load.ok,
                "accept_rate_during_outage": round(load.rate, 1), "backlog_before": int(backlog),
                "alertmanager_ready_seconds": round(ready, 2), "drain_seconds": drain,
                "drain_alerts_per_second": round(load.ok / drain, 1) if drain else None,
                "delivered": delivered, "every_ack_delivered": delivered == load.ok}

    # --- 6: memory, and the CPU of one full re-send --------------------------------------------------
    def memory(self) -> dict[str, Any]:
        workdir = self.dir("memory")
        am = self.alertmanager(workdir).start()
        bridge = self.bridge(workdir, am.url, "--store-max-alerts=0").start()
        interval = self.scale.resend_interval
        with running(am, bridge):
            assert bridge.process is not None
            supervisor = bridge.process.pid
            requests.get(f"{bridge.url}/-/ready", timeout=5)
            time.sleep(2)
            at_rest = bridge_rss(bridge)
            idle_cpu = self._cpu_over(supervisor, interval)
            load = send(bridge.url, self.make("mem"), self.scale.memory_alerts, connections=32)
            wait_delivered(am, load.ok, 300)
            delivered = am_alerts(am)
            loaded = bridge_rss(bridge)
            cycle = self._resend_cycle(am, supervisor, interval)
            loaded_after_resend = bridge_rss(bridge)
        workers = [v for k, v in at_rest.items() if k.startswith("worker")]
        return {"alerts": self.scale.memory_alerts, "acknowledged": load.ok, "delivered": delivered,
                "every_ack_delivered": delivered == load.ok, "rss_mb_at_rest": at_rest,
                "rss_mb_with_alerts": loaded, "rss_mb_after_resend": loaded_after_resend,
                "rss_mb_per_worker_at_rest": max(workers, default=0.0),
                "resend_interval_seconds": interval, "idle_cpu_seconds_per_interval": round(idle_cpu, 3), **cycle}

    @staticmethod
    def _cpu_over(pid: int, seconds: float) -> float:
        before = cpu_seconds(pid)
        time.sleep(seconds)
        return cpu_seconds(pid) - before

    @staticmethod
    def _resend_cycle(am: Alertmanager, pid: int, interval: float) -> dict[str, Any]:
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

    # --- issue 7: one and three replicas on Redis ----------------------------------------------------
    def replicas(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for count in (1, 3):
            workdir = self.dir(f"redis-{count}")
            redis_server = RedisServer(workdir / "redis").start()
            am = self.alertmanager(workdir).start()
            bridges = [self.bridge(workdir, am.url, store=redis_server.url).start() for _ in range(count)]
            with running(redis_server, am, *bridges):
                for index, bridge in enumerate(bridges):
                    run_wrk(bridge.url, self.scale.warmup_seconds, 1, 4, f"warm{count}-{index}")
                runs = self._parallel_wrk(bridges, f"redis{count}")
                acknowledged = sum(accepted(b) for b in bridges)
                drain = wait_delivered(am, acknowledged, 120)
                delivered = am_alerts(am)
            rps = sum(r["requests_per_second"] for r in runs)
            results[f"replicas_{count}"] = {
                "requests_per_second": round(rps, 1), "p99_ms": max(r.get("p99_ms", 0) for r in runs),
                "acknowledged": acknowledged, "delivered": delivered, "drain_after_load_seconds": drain,
                "every_ack_delivered": delivered == acknowledged}
            print(f"  {count} replica(s) on Redis: {rps:.0f} callbacks/s", flush=True)
        results["ratio_3_vs_1"] = round(results["replicas_3"]["requests_per_second"]
                                        / results["replicas_1"]["requests_per_second"], 3)
        return results

    def _parallel_wrk(self, bridges: list[Bridge], run_id: str) -> list[dict[str, float]]:
        """The same 16 connections in all, spread over the replicas as a Service would spread them."""
        results: list[dict[str, float]] = [{} for _ in bridges]
        per = max(1, 16 // len(bridges))

        def one(index: int) -> None:
            results[index] = run_wrk(bridges[index].url, self.scale.wrk_seconds, max(1, 2 // len(bridges)),
                                     per, f"{run_id}-{index}")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bridges))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results


# --- reporting -------------------------------------------------------------------------------------
def target_rate(results: dict[str, Any]) -> dict[str, Any]:
    """The fixed-rate run the targets speak of: the first rate."""
    return next(iter(results["fixed_rate"].values()))


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    values = {
        "throughput_vs_bare_flask": results["throughput"]["ratio_vs_bare_flask"],
        "throughput_vs_naive": results["throughput"]["ratio_vs_naive"],
        "ack_p99_ms_at_rate": target_rate(results)["ack_p99_ms"],
        "e2e_p99_ms_at_rate": target_rate(results)["e2e_p99_ms"],
        "posts_per_1000_alerts": results["burst"]["posts_per_1000_alerts"],
        "outage_drain_seconds": results["outage_drain"]["drain_seconds"],
        "rss_mb_per_worker_at_rest": results["memory"]["rss_mb_per_worker_at_rest"],
    }
    checks = {">=": lambda v, t: v >= t, "<": lambda v, t: v < t, "<=": lambda v, t: v <= t}
    return {name: {"value": values[name], "target": f"{op} {limit}",
                   "met": values[name] is not None and checks[op](values[name], limit)}
            for name, (op, limit) in TARGETS.items()}


def correctness(results: dict[str, Any]) -> list[str]:
    """Every scenario's delivery check; names of the ones that failed."""
    flags = {"throughput": results["throughput"]["bridge"]["every_ack_delivered"],
             "fixed_rate": all(r["every_ack_delivered"] for r in results["fixed_rate"].values()),
             "burst": results["burst"]["every_ack_delivered"] and results["burst"]["counts_agree"],
             "outage_drain": results["outage_drain"]["every_ack_delivered"],
             "memory": results["memory"]["every_ack_delivered"]}
    flags |= {f"redis_{k}": v["every_ack_delivered"] for k, v in results["replicas"].items() if isinstance(v, dict)}
    return [name for name, ok in flags.items() if not ok]


def markdown(results: dict[str, Any]) -> str:
    t, r, b = results["throughput"], results["fixed_rate"], results["burst"]
    o, m, rep = results["outage_drain"], results["memory"], results["replicas"]
    v = results["verdicts"]

    def met(name: str) -> str:
        return "met" if v[name]["met"] else "**missed**"

    rest = m["rss_mb_at_rest"]
    rows = [
        "| Measurement | Result | Target |",
        "|---|---|---|",
        f"| Throughput, bridge (SQLite, durable) | {t['bridge']['requests_per_second']:.0f} callbacks/s "
        f"(p50 {t['bridge'].get('p50_ms')} ms, p99 {t['bridge'].get('p99_ms')} ms) | |",
        f"| Throughput, bare Flask baseline | {t['bare_flask']['requests_per_second']:.0f} callbacks/s | |",
        f"| Throughput, naive bridge baseline | {t['naive_bridge']['requests_per_second']:.0f} callbacks/s | |",
        "| Server CPU per callback: bridge, bare Flask, naive | "
        + ", ".join(f"{t[k]['server_cpu_ms_per_callback']} ms" for k in ("bridge", "bare_flask", "naive_bridge"))
        + " | |",
        f"| Bridge ÷ bare Flask | {t['ratio_vs_bare_flask']} | ≥ 0.6, {met('throughput_vs_bare_flask')} |",
        f"| Bridge ÷ naive bridge | {t['ratio_vs_naive']} | ≥ 2.5, {met('throughput_vs_naive')} |",
        *[row for index, rate in enumerate(r.values()) for row in _rate_rows(rate, met if index == 0 else None)],
        f"| POSTs to Alertmanager for a burst of {b['alarms']} alarms | {b['posts']} "
        f"({b['posts_per_1000_alerts']} per 1,000) | ≤ 10 per 1,000, {met('posts_per_1000_alerts')} |",
        f"| Drain of {o['alarms']:,} alarms after an outage (from Alertmanager's start) | {o['drain_seconds']} s "
        f"({o['drain_alerts_per_second']} alerts/s) | < 15 s, {met('outage_drain_seconds')} |",
        f"| Resident memory at rest | supervisor {rest.get('supervisor')} MB, gunicorn master "
        f"{rest.get('gunicorn_master')} MB, worker {m['rss_mb_per_worker_at_rest']} MB | < 80 MB per worker, "
        f"{met('rss_mb_per_worker_at_rest')} |",
        f"| Resident memory with {m['alerts']:,} active alerts | "
        + ", ".join(f"{k} {val} MB" for k, val in m["rss_mb_after_resend"].items()) + " | |",
        f"| One full re-send of {m['resent_alerts']:,} alerts | {m['resend_cpu_seconds']} s CPU "
        f"(idle: {m['idle_cpu_seconds_per_interval']} s per interval), {m['resend_wall_seconds']} s wall | |",
        f"| 1 replica on Redis | {rep['replicas_1']['requests_per_second']:.0f} callbacks/s | |",
        f"| 3 replicas on Redis (same 16 connections) | {rep['replicas_3']['requests_per_second']:.0f} callbacks/s "
        f"(x {rep['ratio_3_vs_1']}) | |",
    ]
    machine = results["machine"]
    head = (f"Measured {results['date']} on {machine['cpus']} CPUs, Python {machine['python']}, "
            f"{machine['alertmanager']}; every acknowledged alarm was checked in Alertmanager"
            + ("" if not results["correctness_failures"] else
               f" (**failed: {', '.join(results['correctness_failures'])}**)") + ".")
    return head + "\n\n" + "\n".join(rows) + "\n"


def _rate_rows(r: dict[str, Any], met: Callable[[str], str] | None) -> list[str]:
    """Two rows for one fixed rate; the target column only for the rate the targets speak of."""
    ack = f"p99 < 20 ms, {met('ack_p99_ms_at_rate')}" if met else ""
    e2e = f"p99 < 1 s, {met('e2e_p99_ms_at_rate')}" if met else ""
    rate = f"{r['rate_requested']}/s"
    return [f"| Acknowledgement at {rate} (achieved {r['rate_achieved']}/s) | "
            f"p50 {r['ack_p50_ms']} ms, p99 {r['ack_p99_ms']} ms | {ack} |",
            f"| Acknowledgement → visible in Alertmanager, at {rate} ({r['probes_seen']} probes) | "
            f"p50 {r['e2e_p50_ms']} ms, p99 {r['e2e_p99_ms']} ms | {e2e} |"]


def machine() -> dict[str, Any]:
    version = subprocess.run([shutil.which("prometheus-alertmanager") or "alertmanager", "--version"],
                             capture_output=True, text=True)
    am = (version.stdout + version.stderr).splitlines() or ["alertmanager ?"]
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "alertmanager": am[0].split(" (")[0]}


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(table: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    readme.write_text(text[:start] + "\n" + table + text[end:])


SCENARIOS = ("throughput", "fixed_rate", "burst", "outage_drain", "memory", "replicas")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny numbers: proves the benchmark runs")
    parser.add_argument("--output", type=Path, default=BENCH / "results", help="where latest.json/.md go")
    parser.add_argument("--update-readme", action="store_true", help="put the table into README.md")
    args = parser.parse_args(argv)
    scale = SMOKE if args.smoke else FULL
    args.output.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "scale": asdict(scale), "machine": machine(),
                               "smoke": args.smoke}
    with tempfile.TemporaryDirectory(prefix="cloud-alarm-bridge-bench-") as workdir:
        bench = Bench(scale, Path(workdir))
        for name in SCENARIOS:
            print(f"{name} ...", flush=True)
            started = time.monotonic()
            results[name] = getattr(bench, name)()
            print(f"  {json.dumps(results[name])}\n  ({time.monotonic() - started:.0f} s)", flush=True)
    results["verdicts"] = verdicts(results)
    results["correctness_failures"] = correctness(results)
    table = markdown(results)
    (args.output / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "latest.md").write_text(table)
    print("\n" + table)
    if args.update_readme and not args.smoke:
        update_readme(table)
    return 1 if results["correctness_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
