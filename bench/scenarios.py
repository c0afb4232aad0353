"""The scenarios (throughput, fixed rate, storm, burst, outage drain, memory, replicas), each starting its
own real servers in a fresh directory, and how big each is (``FULL`` or ``SMOKE``).

Each scenario returns a plain dict of figures, with its own check that every acknowledged alarm reached
Alertmanager; judging and reporting those figures is bench/report.py's work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.load import Payloads, percentile, send
from bench.measure import (
    am_alerts,
    bridge_rss,
    cpu_ms_per_request,
    cpu_over,
    cpu_seconds,
    delivery,
    grown,
    parallel_wrk,
    process_tree,
    resend_sweep,
    run_wrk,
    scrape,
    total,
    wait_delivered,
)
from bench.servers import (
    PROBE_ROUTING,
    TOKEN,
    Alertmanager,
    Baseline,
    Bridge,
    ProbeReceiver,
    RedisServer,
    running,
    wait_for,
)


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
    vendor_seconds: int
    """wrk seconds for each vendor alone (the per-vendor CPU per callback)."""
    storm_alarms: int
    storm_rate: int


FULL = Scale(warmup_seconds=3, wrk_seconds=15, rates=(1000, 500), rate_seconds=30, burst=1000, outage_alarms=20_000,
             memory_alerts=100_000, resend_interval=60, probe_every=30, vendor_seconds=6, storm_alarms=10_000,
             storm_rate=1000)
SMOKE = Scale(warmup_seconds=1, wrk_seconds=2, rates=(200,), rate_seconds=2, burst=200, outage_alarms=300,
              memory_alerts=300, resend_interval=3, probe_every=10, vendor_seconds=1, storm_alarms=300, storm_rate=300)
VENDORS = ("tencent", "kingsoft", "aliyun")
"""The three vendors of bench/payloads, measured alone for the CPU per callback of each."""
STORM_CONNECTIONS = 64
"""Connections the storm's sender keeps open: a storm comes from many senders at once."""


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

    def alertmanager(self, workdir: Path) -> Alertmanager:
        return Alertmanager(workdir, resolve_timeout="5m")

    def bridge(self, workdir: Path, am_url: str, *args: str, store: str | None = None) -> Bridge:
        """The bridge with its defaults (log level included: what a user runs is what is measured)."""
        return Bridge(workdir, [am_url], f"--token={TOKEN}", f"--resend-interval={self.scale.resend_interval}",
                      *args, store=store)

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
                figures = self._measured(name, am, server, pids, self.scale.wrk_seconds, name)
                if name != "naive_bridge":  # the CPU of each vendor's callbacks alone, bridge beside bare Flask
                    figures["by_vendor"] = {vendor: self._measured(name, am, server, pids, self.scale.vendor_seconds,
                                                                   f"{name}-{vendor}", vendor)
                                            for vendor in VENDORS}
                if name == "naive_bridge":
                    figures["delivered"] = am_alerts(am)
            results[name] = figures
            print(f"  {name}: {figures['requests_per_second']:.0f} callbacks/s, "
                  f"p50 {figures.get('p50_ms')} ms, p99 {figures.get('p99_ms')} ms", flush=True)
        bridge = results["bridge"]["requests_per_second"]
        results["ratio_vs_bare_flask"] = round(bridge / results["bare_flask"]["requests_per_second"], 3)
        results["ratio_vs_naive"] = round(bridge / results["naive_bridge"]["requests_per_second"], 3)
        results["cpu_vs_bare_flask"] = {
            vendor: round(results["bridge"]["by_vendor"][vendor]["server_cpu_ms_per_callback"]
                          / results["bare_flask"]["by_vendor"][vendor]["server_cpu_ms_per_callback"], 2)
            for vendor in VENDORS}
        return results

    @staticmethod
    def _measured(name: str, am: Alertmanager, server: Bridge | Baseline, pids: list[int], seconds: int,
                  run_id: str, vendor: str | None = None) -> dict[str, Any]:
        """A wrk run and the server's CPU per callback; the bridge's CPU is counted until Alertmanager holds
        what it acknowledged (delivery is its work too, and one run's backlog must not land in the next)."""
        def run() -> dict[str, Any]:
            figures = run_wrk(server.url, seconds, 2, 16, run_id, vendor)
            if name == "bridge":
                acknowledged, drain, delivered = delivery(am, [server], 120)
                figures |= {"acknowledged": acknowledged, "drain_after_load_seconds": drain,
                            "delivered": delivered, "every_ack_delivered": delivered == acknowledged}
            return figures
        return cpu_ms_per_request(pids, run)

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
                acknowledged, _, delivered = delivery(am, [bridge], 60)
                wait_for(lambda: len(receiver.seen) >= len(load.acked_at), 30, message="every probe at the webhook")
        e2e = [receiver.seen[i] - load.acked_at[i] for i in probes if i in receiver.seen and i in load.acked_at]
        return {"rate_requested": rate, "rate_achieved": round(load.rate, 1), "callbacks": count,
                "failed": load.failed, "ack_p50_ms": round(percentile(load.latencies, 0.5) * 1e3, 2),
                "ack_p99_ms": round(percentile(load.latencies, 0.99) * 1e3, 2),
                "probes": len(probes), "probes_seen": len(e2e),
                "e2e_p50_ms": round(percentile(e2e, 0.5) * 1e3, 1), "e2e_p99_ms": round(percentile(e2e, 0.99) * 1e3, 1),
                "e2e_max_ms": round(max(e2e, default=0) * 1e3, 1), "acknowledged": acknowledged,
                "delivered": delivered, "every_ack_delivered": delivered == acknowledged == load.ok}

    # --- the storm: a zone outage fires thousands of distinct alarms within seconds ---------------
    def storm(self) -> dict[str, Any]:
        """``storm_alarms`` distinct alarms offered open-loop at ``storm_rate`` across the three vendors
        (issue 16): how long the slowest acknowledgements took (a vendor gives up after 5 s), how many
        were refused, and how long after the last acknowledgement all of them were in Alertmanager."""
        workdir = self.dir("storm")
        am = self.alertmanager(workdir).start()
        bridge = self.bridge(workdir, am.url).start()
        with running(am, bridge):
            pids = process_tree(bridge.process.pid)
            before = sum(cpu_seconds(pid) for pid in pids)
            load = send(bridge.url, self.make("storm"), self.scale.storm_alarms, rate=self.scale.storm_rate,
                        connections=STORM_CONNECTIONS)
            cpu = sum(cpu_seconds(pid) for pid in pids) - before
            visible = wait_delivered(am, load.ok, 60)
            delivered = am_alerts(am)
        return {"alarms": self.scale.storm_alarms, "rate_requested": self.scale.storm_rate,
                "rate_achieved": round(load.rate, 1), "acknowledged": load.ok, "refused": load.failed,
                "ack_p50_ms": round(percentile(load.latencies, 0.5) * 1e3, 1),
                "ack_p99_ms": round(percentile(load.latencies, 0.99) * 1e3, 1),
                "ack_max_ms": round(max(load.latencies, default=0) * 1e3, 1),
                "server_cpu_ms_per_callback": round(cpu * 1e3 / max(1, load.ok), 3),
                "all_visible_seconds_after_last_ack": None if visible is None else round(visible, 2),
                "delivered": delivered, "every_ack_delivered": delivered == load.ok}

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
            idle_cpu = cpu_over(supervisor, interval)
            load = send(bridge.url, self.make("mem"), self.scale.memory_alerts, connections=32)
            wait_delivered(am, load.ok, 300)
            delivered = am_alerts(am)
            loaded = bridge_rss(bridge)
            cycle = resend_sweep(am, supervisor, interval)
            loaded_after_resend = bridge_rss(bridge)
        workers = [v for k, v in at_rest.items() if k.startswith("worker")]
        return {"alerts": self.scale.memory_alerts, "acknowledged": load.ok, "delivered": delivered,
                "every_ack_delivered": delivered == load.ok, "rss_mb_at_rest": at_rest,
                "rss_mb_with_alerts": loaded, "rss_mb_after_resend": loaded_after_resend,
                "rss_mb_per_worker_at_rest": max(workers, default=0.0),
                "resend_interval_seconds": interval, "idle_cpu_seconds_per_interval": round(idle_cpu, 3), **cycle}

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
                runs = parallel_wrk(bridges, self.scale.wrk_seconds, f"redis{count}")
                acknowledged, drain, delivered = delivery(am, bridges, 120)
            rps = sum(r["requests_per_second"] for r in runs)
            results[f"replicas_{count}"] = {
                "requests_per_second": round(rps, 1), "p99_ms": max(r.get("p99_ms", 0) for r in runs),
                "non_2xx": sum(r["non_2xx"] for r in runs), "socket_errors": sum(r["socket_errors"] for r in runs),
                "acknowledged": acknowledged, "delivered": delivered, "drain_after_load_seconds": drain,
                "every_ack_delivered": delivered == acknowledged}
            print(f"  {count} replica(s) on Redis: {rps:.0f} callbacks/s", flush=True)
        results["ratio_3_vs_1"] = round(results["replicas_3"]["requests_per_second"]
                                        / results["replicas_1"]["requests_per_second"], 3)
        return results
