"""The clouds: a seeded plan of changes for many objects, sent as the vendors send them.

Vendor behaviour modelled here: an alarm fires, may be notified again while it fires, recovers, and
fires again later as a new occurrence; a callback that is not acknowledged (non-2xx, a timeout, a
refused connection) is retried a few times with a doubling backoff, then given up; the same callback
is sometimes posted twice (an exact repeat); an old callback is sometimes retried long after newer
ones of its object were acknowledged (a late retry); and an object sometimes changes several times
within a second or two (a burst), whose callbacks then race each other.

The plan (which object changes how, and when in the run) comes from ``random.Random(seed)`` alone, so
a seed replays the same plan; which thread's callback reaches the bridge first is up to the machine.
Given-up callbacks are re-sent once the faults stop (:meth:`Clouds.drain`): a real cloud would drop
them, but then nobody would know the object's last word, and the model must be exact.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.soak.model import Model
from bench.soak.vendors import SHAPES, Change, Signing

MAX_ATTEMPTS = 4
"""A first try and three retries, as the vendors document (Tencent and Kingsoft retry a few times)."""
BACKOFF = 1.0
"""Seconds before the first retry; each further retry waits twice as long (1, 2, 4 s)."""
TIMEOUT = 5.0
"""How long a vendor waits for an answer before it counts the callback as failed."""
EPOCH_LAG = 3 * 86400
"""The plan's clock starts this far in the past: vendor times are always before now (the bridge clamps
future times to now, which would reorder an object's changes)."""


class Plan:
    """Each object's state machine and clock; the next change of an object, from the seeded generator."""

    def __init__(self, rng: random.Random, objects: int, vendors: list[str], start: int) -> None:
        self.rng = rng
        self.ids = itertools.count(1)
        self.names = [f"soak-{vendors[i % len(vendors)][:2]}-{i:05d}" for i in range(objects)]
        self.vendor = {name: vendors[i % len(vendors)] for i, name in enumerate(self.names)}
        self.clock = {name: start + rng.randrange(600) for name in self.names}
        self.firing: dict[str, int | None] = dict.fromkeys(self.names)
        """The start of the object's current occurrence while it fires, else None."""

    def next_change(self, obj: str) -> Change:
        self.clock[obj] += self.rng.randint(1, 20)
        now, started = self.clock[obj], self.firing[obj]
        if started is None:  # fire: a new occurrence
            self.firing[obj] = now
            return Change(next(self.ids), self.vendor[obj], obj, True, now, now)
        if self.rng.random() < 0.3:  # notified again while it fires (same occurrence, later time)
            return Change(next(self.ids), self.vendor[obj], obj, True, now, started)
        self.firing[obj] = None
        return Change(next(self.ids), self.vendor[obj], obj, False, now, started)


class Clouds:
    """The vendors' side of the soak: plan steps at a fixed rate, senders with retries, and the tallies."""

    def __init__(self, seed: int, endpoints: list[str], model: Model, objects: int, vendors: list[str] | None = None,
                 senders: int = 16, signing: Signing | None = None) -> None:
        """``signing``: signs the signed vendors' bodies; without it they are left out of the plan."""
        self.seed = seed
        self.rng = random.Random(seed)
        vendors = [v for v in vendors or list(SHAPES) if signing or not SHAPES[v].signed]
        self.plan = Plan(self.rng, objects, vendors, int(time.time()) - EPOCH_LAG)
        self.signing = signing
        self.endpoints = endpoints
        self.model = model
        self.history: list[Change] = []
        self.pool = ThreadPoolExecutor(senders, thread_name_prefix="cloud")
        self._lock = threading.Lock()
        self._delayed: list[tuple[float, int, Change, int, bool]] = []
        self._order = itertools.count()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self.abandoned: list[Change] = []
        self.tally: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.errors: list[str] = []
        """What no fault excuses: a 5xx other than 503, a 503 without Retry-After, a 4xx for a valid body."""
        self._stop = threading.Event()
        self._dispatcher = threading.Thread(target=self._dispatch, name="cloud-retries", daemon=True)
        self._dispatcher.start()

    # --- the plan --------------------------------------------------------------------------------
    def step(self) -> None:
        """One step of the plan: a change, a burst of changes of one object, an exact repeat or a late retry."""
        roll = self.rng.random()
        if roll < 0.08 and len(self.history) > 20:
            self.tally["exact_repeats"] += 1
            self._submit(self.history[-self.rng.randint(1, 20)], final=False)
        elif roll < 0.15 and len(self.history) > 200:
            self.tally["late_retries"] += 1
            self._submit(self.history[-self.rng.randint(100, 200)], final=False)
        elif roll < 0.25:
            self.tally["bursts"] += 1
            obj = self.rng.choice(self.plan.names)
            for _ in range(self.rng.randint(2, 4)):
                self._new_change(obj)
        else:
            self._new_change(self.rng.choice(self.plan.names))

    def _new_change(self, obj: str) -> None:
        change = self.plan.next_change(obj)
        self.history.append(change)
        self.tally["changes"] += 1
        self._submit(change, final=False)

    def run(self, seconds: float, rate: float, until: Callable[[], bool] | None = None) -> None:
        """Plan steps at ``rate`` a second for ``seconds``, or until ``until()`` is true."""
        start = time.monotonic()
        for step in itertools.count():
            due = start + step / rate
            if due - start >= seconds or (until and until()):
                return
            time.sleep(max(0.0, due - time.monotonic()))
            self.step()

    # --- sending ---------------------------------------------------------------------------------
    def _submit(self, change: Change, final: bool, attempt: int = 1, delay: float = 0.0) -> None:
        with self._lock:
            self._in_flight += 1
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._order), change, attempt, final))

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = []
                while self._delayed and self._delayed[0][0] <= time.monotonic():
                    due.append(heapq.heappop(self._delayed))
            for _, _, change, attempt, final in due:
                self.pool.submit(self._send, change, attempt, final)
            time.sleep(0.01)

    def _send(self, change: Change, attempt: int, final: bool) -> None:
        try:
            outcome = self._post(change, attempt)
            if outcome == "acknowledged":
                self.model.acknowledge(change)
                self._count(self.tally, "acknowledged")
            elif outcome == "retry":
                if final or attempt < MAX_ATTEMPTS:
                    delay = min(BACKOFF * 2 ** (attempt - 1), 4.0) * random.Random(f"{change.id}/{attempt}").uniform(
                        0.8, 1.2)
                    self._submit(change, final, attempt + 1, delay)
                else:
                    with self._lock:
                        self.abandoned.append(change)
                    self._count(self.tally, "given_up")
        finally:
            with self._lock:
                self._in_flight -= 1
                self._idle.notify_all()

    def _post(self, change: Change, attempt: int) -> str:
        shape = SHAPES[change.vendor]
        url = random.Random(f"{self.seed}/{change.id}/{attempt}").choice(self.endpoints)
        self._count(self.tally, "posts")
        body = shape.body(change, self.signing)
        try:
            response = requests.post(f"{url}/callbacks/{change.vendor}", data=body, timeout=TIMEOUT,
                                     headers={"Content-Type": shape.content_type, **shape.headers(body)})
        except requests.Timeout:
            self._count(self.refused, "timeout (no answer in 5 s)")
            return "retry"
        except requests.ConnectionError:
            self._count(self.refused, "connection refused or reset (bridge down)")
            return "retry"
        if response.ok:
            return "acknowledged"
        reason = f"{response.status_code} {_error(response)}"
        self._count(self.refused, reason)
        if response.status_code == 503 and "Retry-After" not in response.headers:
            self._error(f"503 without Retry-After: {reason}")
        elif response.status_code != 503:
            self._error(f"{reason} for change {change.id} ({change.vendor})")
        return "retry" if response.status_code >= 500 or response.status_code == 429 else "rejected"

    def _count(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def _error(self, message: str) -> None:
        with self._lock:
            if len(self.errors) < 50:
                self.errors.append(message)
            self.tally["errors"] += 1

    # --- the end ---------------------------------------------------------------------------------
    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def drain(self, timeout: float) -> bool:
        """Finish every retry, then re-send each given-up change until acknowledged; True if all were."""
        deadline = time.monotonic() + timeout
        if not self.wait_idle(max(0.0, deadline - time.monotonic())):
            return False
        with self._lock:
            abandoned, self.abandoned = self.abandoned, []
        self.tally["re_sent_after_giving_up"] += len(abandoned)
        for change in abandoned:
            self._submit(change, final=True)
        return self.wait_idle(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def report(self) -> dict[str, Any]:
        return {"tally": dict(self.tally), "refused": dict(self.refused.most_common()), "errors": self.errors,
                "objects": len(self.plan.names), "vendors": sorted(set(self.plan.vendor.values()))}


def _error(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:80]
    except ValueError:
        return response.text[:80]
