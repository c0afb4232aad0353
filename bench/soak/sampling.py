"""Resident memory and open file descriptors of every bridge process over time, and their slopes.

A leak shows as a slope. Each series is one process (a role of one bridge: supervisor with the delivery
loop, gunicorn's master, each worker); a restarted process starts a new series, and the figures are
those of each role's longest-lived process. The first fifth of a series is warm-up (imports, caches,
the store's first pages) and is left out of the slope.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from bench.soak.stack import Stack


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 0.0 if spread == 0 else 3600 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


class Sampler:
    def __init__(self, stack: Stack, interval: float) -> None:
        self.stack, self.interval = stack, interval
        self.series: dict[tuple[str, int], list[tuple[float, float, int]]] = {}
        """(bridge/role, pid) → [(seconds since start, RSS MB, open fds)]."""
        self._stop = threading.Event()
        self._start = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.monotonic() - self._start
            for index, bridge in enumerate(self.stack.bridges):
                for role, pid in bridge.pids().items():
                    try:
                        sample = (now, rss_mb(pid), open_fds(pid))
                    except OSError:
                        continue  # it died between the listing and the reading (a fault)
                    self.series.setdefault((f"bridge-{index}/{role}", pid), []).append(sample)

    def report(self) -> dict[str, Any]:
        longest: dict[str, list[tuple[float, float, int]]] = {}
        for (role, _), samples in self.series.items():
            if len(samples) > len(longest.get(role, [])):
                longest[role] = samples
        report = {}
        for role, samples in sorted(longest.items()):
            steady = samples[len(samples) // 5:]
            report[role] = {
                "samples": len(samples), "minutes": round((samples[-1][0] - samples[0][0]) / 60, 1),
                "rss_mb_first": round(samples[0][1], 1), "rss_mb_last": round(samples[-1][1], 1),
                "rss_mb_max": round(max(s[1] for s in samples), 1),
                "rss_mb_per_hour": round(slope_per_hour([(t, rss) for t, rss, _ in steady]), 2),
                "fds_first": samples[0][2], "fds_last": samples[-1][2], "fds_max": max(s[2] for s in samples),
                "fds_per_hour": round(slope_per_hour([(t, float(fds)) for t, _, fds in steady]), 2),
            }
        return report
