"""Judging a run's figures and writing them down: the verdicts against the targets, the check that every
acknowledged alarm arrived, the markdown table (bench/results/latest.md and README.md) and the machine
the run was measured on.

Kept apart from the scenarios so that the table and the targets can change without touching what runs.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"

TARGETS = {
    "throughput_vs_bare_flask": (">=", 0.5),
    "throughput_vs_naive": (">=", 1.5),
    "cpu_per_callback_vs_bare_flask": ("<=", 1.5),
    "storm_ack_p99_ms": ("<", 1000.0),
    "storm_ack_max_ms": ("<", 5000.0),
    "storm_refused": ("<=", 0),
    "storm_all_visible_seconds": ("<", 15.0),
    "ack_p99_ms_at_rate": ("<", 20.0),
    "e2e_p99_ms_at_rate": ("<", 1000.0),
    "posts_per_1000_alerts": ("<=", 10.0),
    "outage_drain_seconds": ("<", 15.0),
    "rss_mb_per_worker_at_rest": ("<", 80.0),
}


def target_rate(results: dict[str, Any]) -> dict[str, Any]:
    """The fixed-rate run the targets speak of: the first rate."""
    return next(iter(results["fixed_rate"].values()))


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    values = {
        "throughput_vs_bare_flask": results["throughput"]["ratio_vs_bare_flask"],
        "throughput_vs_naive": results["throughput"]["ratio_vs_naive"],
        "cpu_per_callback_vs_bare_flask": max(results["throughput"]["cpu_vs_bare_flask"].values()),
        "storm_ack_p99_ms": results["storm"]["ack_p99_ms"],
        "storm_ack_max_ms": results["storm"]["ack_max_ms"],
        "storm_refused": results["storm"]["refused"],
        "storm_all_visible_seconds": results["storm"]["all_visible_seconds_after_last_ack"],
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
    bridge = results["throughput"]["bridge"]
    flags = {"throughput": bridge["every_ack_delivered"]
             and all(alone["every_ack_delivered"] for alone in bridge["by_vendor"].values()),
             "fixed_rate": all(r["every_ack_delivered"] for r in results["fixed_rate"].values()),
             "storm": results["storm"]["every_ack_delivered"],
             "burst": results["burst"]["every_ack_delivered"] and results["burst"]["counts_agree"],
             "outage_drain": results["outage_drain"]["every_ack_delivered"],
             "memory": results["memory"]["every_ack_delivered"]}
    flags |= {f"redis_{k}": v["every_ack_delivered"] for k, v in results["replicas"].items() if isinstance(v, dict)}
    return [name for name, ok in flags.items() if not ok]


def markdown(results: dict[str, Any]) -> str:
    t, r, b, s = results["throughput"], results["fixed_rate"], results["burst"], results["storm"]
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
        "| Server CPU per callback by vendor, bridge ÷ bare Flask | "
        + ", ".join(f"{vendor} {t['bridge']['by_vendor'][vendor]['server_cpu_ms_per_callback']} ÷ "
                    f"{t['bare_flask']['by_vendor'][vendor]['server_cpu_ms_per_callback']} ms = {ratio}"
                    for vendor, ratio in t["cpu_vs_bare_flask"].items())
        + f" | ≤ 1.5 each, {met('cpu_per_callback_vs_bare_flask')} |",
        f"| Bridge ÷ bare Flask | {t['ratio_vs_bare_flask']} | ≥ 0.5, {met('throughput_vs_bare_flask')} |",
        f"| Bridge ÷ naive bridge | {t['ratio_vs_naive']} | ≥ 1.5, {met('throughput_vs_naive')} |",
        f"| Storm: {s['alarms']:,} distinct alarms offered at {s['rate_requested']:,}/s (achieved "
        f"{s['rate_achieved']}/s), acknowledgement | p50 {s['ack_p50_ms']} ms, p99 {s['ack_p99_ms']} ms, "
        f"max {s['ack_max_ms']} ms | p99 < 1 s, {met('storm_ack_p99_ms')}; max < 5 s, {met('storm_ack_max_ms')} |",
        f"| Storm: refused, and all visible in Alertmanager after the last acknowledgement | {s['refused']} "
        f"refused, {s['all_visible_seconds_after_last_ack']} s | none, {met('storm_refused')}; < 15 s, "
        f"{met('storm_all_visible_seconds')} |",
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
    text = README.read_text()
    start, end = text.index(README_START) + len(README_START), text.index(README_END)
    README.write_text(text[:start] + "\n" + table + text[end:])
