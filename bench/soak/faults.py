"""Faults at random moments, from a seeded generator, each undone after a random while.

Each fault runs in a thread of its own (kill, outage, recovery), so faults overlap: an Alertmanager can
be down while the bridge is killed and the disk is full. A fault whose part is already down (that
Alertmanager, that replica) is skipped and counted as such. Stopping ends every outage at once.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests

from bench.soak.stack import Stack
from tests.harness.bridge_process import metric

EVERY_STORE = ("bridge_kill9", "worker_kill9", "supervisor_kill9", "am_restart", "am_outage", "disk_full")
REDIS_ONLY = ("redis_restart", "replica_kill9")
SUPERVISOR_GRACE = 20.0
"""How long the rest of a bridge may outlive its killed supervisor (gunicorn's graceful stop is 5 s here)."""


def kinds_for(store: str) -> tuple[str, ...]:
    return EVERY_STORE + (REDIS_ONLY if store == "redis" else ())


class Faults:
    def __init__(self, stack: Stack, rng: random.Random, kinds: tuple[str, ...], mean_interval: float,
                 downtime: float = 1.0) -> None:
        """``mean_interval``: seconds between faults on average; ``downtime`` scales how long outages last."""
        self.stack, self.rng, self.mean_interval, self.downtime = stack, rng, mean_interval, downtime
        self.kinds = tuple(k for k in kinds if k != "disk_full" or stack.disk)
        self.notes: list[str] = []
        if "disk_full" in kinds and not stack.disk:
            self.notes.append(f"disk_full NOT injected: {stack.no_disk_because}")
        self.injected: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.errors: list[str] = []
        self.disk_full_seen: dict[str, Any] = {}
        self.lingered: list[float] = []
        """Seconds the rest of a bridge lived on after each supervisor kill."""
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduler = threading.Thread(target=self._schedule, name="faults", daemon=True)
        self._cover = list(self.kinds)
        rng.shuffle(self._cover)
        """The first faults go through every kind once (so even a short run has each), then any at random."""

    def start(self) -> None:
        self._scheduler.start()

    @property
    def covered(self) -> bool:
        """Every kind has been injected at least once."""
        return not self._cover

    def stop(self) -> None:
        """No new fault; every outage ends now and every killed part is started again."""
        self._stop.set()
        self._scheduler.join()
        for thread in self._threads:
            thread.join()

    def _schedule(self) -> None:
        while not self._stop.wait(self.rng.expovariate(1 / self.mean_interval)):
            covering = bool(self._cover)
            kind = self._cover.pop() if covering else self.rng.choice(self.kinds)
            part, run = getattr(self, f"_{kind}")(self.rng)
            with self._lock:
                if part in self._busy:
                    self.skipped[f"{kind} ({part} already down)"] += 1
                    if covering:
                        self._cover.insert(0, kind)
                    continue
                self._busy.add(part)
                self.injected[kind] += 1
            thread = threading.Thread(target=self._run, args=(kind, part, run), name=f"fault-{kind}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, kind: str, part: str, run: Callable[[], None]) -> None:
        try:
            run()
        except Exception as exc:  # a fault that could not be undone: the run's verdict must show it
            self.errors.append(f"{kind} on {part}: {type(exc).__name__}: {str(exc)[:300]}")
        finally:
            with self._lock:
                self._busy.discard(part)

    def _down_for(self, rng: random.Random, low: float, high: float) -> float:
        return rng.uniform(low, high) * self.downtime

    # --- the faults: each draws its random choices now (the seed decides them) and returns (part, run) ---
    def _bridge_kill9(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        return self._kill9_and_restart(rng, 0.2, 2)

    def _replica_kill9(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        """A replica of a shared store stays down longer: its lease must pass to another."""
        return self._kill9_and_restart(rng, 2, 8)

    def _kill9_and_restart(self, rng: random.Random, low: float, high: float) -> tuple[str, Callable[[], None]]:
        index, down = rng.randrange(len(self.stack.bridges)), self._down_for(rng, low, high)
        bridge = self.stack.bridges[index]

        def run() -> None:
            bridge.kill()
            self._stop.wait(down)
            self.stack.restart_bridge(bridge)
        return f"bridge-{index}", run

    def _worker_kill9(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        index, pick = rng.randrange(len(self.stack.bridges)), rng.random()
        bridge = self.stack.bridges[index]

        def run() -> None:
            workers = [pid for role, pid in bridge.pids().items() if role.startswith("worker-")]
            if workers:
                os.kill(workers[int(pick * len(workers))], signal.SIGKILL)
            else:
                with self._lock:
                    self.injected["worker_kill9"] -= 1
                    self.skipped[f"worker_kill9 (bridge-{index} down)"] += 1
                    if not self.injected["worker_kill9"]:  # none yet: it must still happen once
                        del self.injected["worker_kill9"]
                        self._cover.insert(0, "worker_kill9")
        return f"bridge-{index}/worker", run

    def _supervisor_kill9(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        index, down = rng.randrange(len(self.stack.bridges)), self._down_for(rng, 0.2, 2)
        bridge = self.stack.bridges[index]

        def run() -> None:
            lingered = bridge.kill_supervisor(timeout=SUPERVISOR_GRACE)
            self.lingered.append(round(lingered, 1))
            self._stop.wait(down)
            self.stack.restart_bridge(bridge)
        return f"bridge-{index}", run

    def _am_restart(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        index = rng.randrange(len(self.stack.ams))
        am = self.stack.ams[index]

        def run() -> None:
            am.stop()
            am.start()  # fresh storage: it has forgotten every alert
        return f"am-{index}", run

    def _am_outage(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        index, down = rng.randrange(len(self.stack.ams)), self._down_for(rng, 2, 10)
        am = self.stack.ams[index]

        def run() -> None:
            am.stop()
            self._stop.wait(down)
            am.start()
        return f"am-{index}", run

    def _redis_restart(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        down = self._down_for(rng, 0.2, 2)
        redis = self.stack.redis
        assert redis is not None

        def run() -> None:
            with self.stack.redis_lock:
                redis.kill()  # kill -9: what it acknowledged is in the append-only file (fsync always)
            self._stop.wait(down)
            with self.stack.redis_lock:
                if redis.process is None:  # not started again by the stack's keeper meanwhile
                    redis.start()
        return "store", run

    def _disk_full(self, rng: random.Random) -> tuple[str, Callable[[], None]]:
        down = self._down_for(rng, 2, 8)
        disk = self.stack.disk
        assert disk is not None

        def run() -> None:
            disk.fill()
            try:
                if not self.disk_full_seen:
                    time.sleep(min(down, 2.0))  # long enough for refusals to be counted
                    self.disk_full_seen = self._observe()
                self._stop.wait(down)
            finally:
                disk.free()
        return "store", run

    def _observe(self) -> dict[str, Any]:
        """What an operator of the first bridge sees while the disk is full: readiness and the store metrics."""
        bridge = self.stack.bridges[0]
        try:
            ready = requests.get(f"{bridge.url}/-/ready", timeout=5)
            text = bridge.metrics()
        except requests.RequestException as exc:
            return {"error": str(exc)}
        refused = 'cloud_alarm_bridge_callbacks_total{outcome="'
        return {"ready": f"{ready.status_code} {ready.text.strip()[:120]}",
                "store_up": metric(text, "cloud_alarm_bridge_store_up"),
                "refused_store_unavailable": metric(text, refused + 'store_unavailable"'),
                "refused_store_disk_full": metric(text, refused + 'store_disk_full"'),
                "refused_store_full": metric(text, refused + 'store_full"')}

    def report(self) -> dict[str, Any]:
        if self.stack.redis_exits:
            self.notes.append(f"Redis exited {self.stack.redis_exits} times by itself (appendfsync always cannot "
                              "write its append-only file on a full disk) and was started again, as its "
                              "orchestrator would")
        return {"injected": dict(self.injected), "skipped": dict(self.skipped), "errors": self.errors,
                "notes": self.notes, "disk_full_seen": self.disk_full_seen,
                "after_supervisor_kill_others_lived_s": self.lingered}
