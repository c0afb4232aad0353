"""The delivery loop: every change in the store reaches every Alertmanager, and keeps being re-sent.

One loop per bridge (not per gunicorn worker), holding a lease in the store so that only one process
delivers even when several share a store. Each Alertmanager target has its own thread, cursor and
backoff, so a dead replica never delays the others. A target thread does, in order of priority:

1. send the changes past its cursor, in batches, and advance the cursor once Alertmanager took them;
2. every resend interval, sweep all firing alerts (and alerts resolved in the last 15 minutes) to it
   with ``endsAt = now + 4 x interval``, as Prometheus does, so Alertmanager keeps them active past its
   ``resolve_timeout`` and re-learns them after a restart.

Housekeeping beside it resolves expired alerts and forgets long-resolved ones.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Sequence

from bridge.alertmanager import AlertmanagerClient, SendError, postable
from bridge.config import AlertmanagerTarget, Settings
from bridge.metrics import EXPIRED
from bridge.store import Store, StoredAlert, StoreError

log = logging.getLogger("bridge.deliver")

POLL_INTERVAL = 0.1
"""How often an idle target looks for new changes: bounds the delay a healthy Alertmanager sees."""
BATCH_PAUSE = 0.25
"""The pause after a partial batch, so that during a storm the next POST carries what arrived meanwhile:
at most four partial POSTs a second per target, whatever the rate of callbacks; full batches go at once."""
RESOLVED_RESEND_FOR = 15 * 60.0
"""Re-send resolved alerts this long (Prometheus' resolvedRetention), then stop."""
KEEP_RESOLVED_FOR = 24 * 3600.0
"""Keep resolved alerts this long, so a late vendor retry cannot fire them again; then forget them even
if an Alertmanager never got them (it has expired them itself), so a dead one cannot fill the store."""
BACKOFF_BASE, BACKOFF_CAP = 0.25, 5.0
LEASE_NAME = "delivery"
HOUSEKEEPING_EVERY = 5.0
HOUSEKEEPING_BACKOFF_CAP = 60.0
"""Longest pause after an unexpected error in housekeeping (a bug): retried, never fatal."""


class Lease:
    """The right to deliver, renewed in the store; lost when the holder stops renewing it.

    It is renewed every third of its TTL, and this process stops delivering one renewal interval
    before the store would let another take over, so two holders never deliver at once unless a
    renewal stalls for longer than that. The owner is the host and listen address, so a bridge
    restarted after a crash (same pod, same port) takes its lease back at once instead of waiting
    for it to expire; replicas differ by host.
    """

    def __init__(self, store: Store, listen: str, ttl: float = 15.0) -> None:
        self.store = store
        self.ttl = ttl
        self.renew_every = ttl / 3
        self.owner = f"{socket.gethostname()}:{listen.rpartition(':')[2]}"
        self.generation = 0
        self._held_until = 0.0

    def renew(self, now: float) -> bool:
        was_held = self.held(now)
        if self.store.acquire_lease(LEASE_NAME, self.owner, self.ttl, now):
            if not was_held:
                self.generation += 1
                log.info("holding the delivery lease", extra={"owner": self.owner})
            self._held_until = now + self.ttl - self.renew_every
            return True
        if was_held:
            log.warning("lost the delivery lease", extra={"owner": self.owner})
        self._held_until = 0.0
        return False

    def held(self, now: float) -> bool:
        return now < self._held_until

    def release(self) -> None:
        """Give the lease up at once (on a graceful stop), so another replica need not wait it out."""
        self._held_until = 0.0
        self.store.release_lease(LEASE_NAME, self.owner)


class TargetLoop(threading.Thread):
    """Delivers to one Alertmanager: changes first, then periodic full re-sends."""

    def __init__(self, store: Store, target: AlertmanagerTarget, settings: Settings, lease: Lease,
                 stop: threading.Event) -> None:
        super().__init__(name=f"deliver {target.name}", daemon=True)
        self.store, self.settings, self.lease, self.stop = store, settings, lease, stop
        self.client = AlertmanagerClient(target)
        self.name_label = target.name
        self.failures = 0
        self.retry_at = 0.0
        self.paused_until = 0.0
        self.sweep_after = ""
        self.sweep_started = 0.0
        self.next_sweep = 0.0
        self.lease_generation = 0
        self.sweep_turn = False
        self.rejected: dict[str, int] = {}
        """Fingerprint -> sequence number of alerts Alertmanager rejected: not re-sent until they change."""

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                busy = self.step(time.time())
            except StoreError as exc:
                log.error("store error while delivering", extra={"alertmanager": self.name_label, "error": str(exc)})
                busy = False
            except Exception:
                log.exception("unexpected error while delivering", extra={"alertmanager": self.name_label})
                busy = False
            if not busy:
                self.stop.wait(POLL_INTERVAL)
        self.client.close()

    def step(self, now: float) -> bool:
        """Do one unit of work; True to go on at once, False to wait (a poll interval at least)."""
        if not self.lease.held(now) or now < self.retry_at or now < self.paused_until:
            return False
        if self.lease.generation != self.lease_generation:  # a new holder re-sends everything at once
            self.lease_generation, self.next_sweep, self.sweep_after = self.lease.generation, 0.0, ""
        # During a storm of changes a due re-send still gets every other POST, so that unchanged
        # firing alerts are re-sent before their endsAt passes.
        if self.sweep_turn and self._sweep(now):
            self.sweep_turn = False
            return True
        self.sweep_turn = True
        changes = self.store.changes(self.name_label, self.settings.batch_size)
        if changes:
            if self._deliver(changes, now):
                self.store.advance(self.name_label, changes[-1].seq, time.time())
            if len(changes) < self.settings.batch_size:  # a full batch means more are waiting: go on
                self.paused_until = now + BATCH_PAUSE
                return False
            return True
        return self._sweep(now)

    def _sweep(self, now: float) -> bool:
        if now < self.next_sweep:
            return False
        if not self.sweep_after:
            self.sweep_started = now
        page = self.store.active(self.sweep_after, self.settings.batch_size, now, RESOLVED_RESEND_FOR)
        if not page:
            self.sweep_after, self.next_sweep = "", self.sweep_started + self.settings.resend_interval
            return False
        resend = [s for s in page if self.rejected.get(s.fingerprint) != s.seq]
        if not resend or self._deliver(resend, now):
            self.sweep_after = page[-1].fingerprint
            self.store.advance(self.name_label, 0, time.time())  # seq 0: a success, the cursor stays
        return True

    def _deliver(self, alerts: Sequence[StoredAlert], now: float) -> bool:
        """POST; True when Alertmanager took the batch (rejected alerts are logged and dropped)."""
        bodies = [postable(s.alert, now, 4 * self.settings.resend_interval) for s in alerts]
        try:
            rejected = self.client.send(bodies)
        except SendError as error:
            self.failures += 1
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (self.failures - 1))
            self.retry_at = time.time() + delay / 2 + random.uniform(0, delay / 2)
            self.store.record_failure(self.name_label, time.time())
            log.warning("cannot reach alertmanager; will retry", extra={
                "alertmanager": self.name_label, "error": str(error), "alerts": len(bodies),
                "retry_in_seconds": round(self.retry_at - time.time(), 3)})
            return False
        if self.failures:
            log.info("alertmanager reachable again", extra={"alertmanager": self.name_label})
        self.failures = 0
        for index in rejected:
            self.rejected[alerts[index].fingerprint] = alerts[index].seq
        return True


class Deliverer:
    """Runs the target loops and housekeeping until stopped."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self.stop_event = threading.Event()
        self.lease = Lease(store, settings.listen, settings.lease_ttl)
        self.targets = [t.name for t in settings.alertmanagers]
        self.loops = [TargetLoop(store, t, settings, self.lease, self.stop_event) for t in settings.alertmanagers]

    def run(self) -> None:
        """Block until :meth:`stop`; the caller's thread does lease renewal and housekeeping.

        Nothing else ends it: a store outage is retried at the next renewal, an unexpected error
        (a bug) is logged and retried with backoff, so delivery outlives both.
        """
        for loop in self.loops:
            loop.start()
        next_housekeeping, failures = 0.0, 0
        while not self.stop_event.is_set():
            now = time.time()
            due = now >= next_housekeeping
            try:
                self._tick(now, due)
            except StoreError as exc:
                log.error("store error in housekeeping", extra={"error": str(exc)})
            except Exception:
                failures += 1
                next_housekeeping = now + min(HOUSEKEEPING_BACKOFF_CAP, HOUSEKEEPING_EVERY * 2 ** (failures - 1))
                log.exception("unexpected error in housekeeping; will retry",
                              extra={"retry_in_seconds": round(next_housekeeping - now, 3)})
            else:
                failures = 0
                if due:
                    next_housekeeping = now + HOUSEKEEPING_EVERY
            self.stop_event.wait(min(self.lease.renew_every, HOUSEKEEPING_EVERY))

    def _tick(self, now: float, due: bool) -> None:
        """Renew the lease; when ``due``, register the targets and, holding the lease, do housekeeping.

        Registering again is idempotent, and re-creates a cursor the store lost (a Redis restarted
        without its data), so that target gets changes again instead of only the periodic re-sends.
        """
        if due:
            self.store.register_targets(self.targets)
        if self.lease.renew(now) and due:
            self.housekeeping(now)

    def housekeeping(self, now: float) -> None:
        expired = self.store.expire(now, self.settings.max_firing_age)
        if expired:
            EXPIRED.inc(expired)
            log.info("resolved alerts the vendor never recovered", extra={"alerts": expired})
        self.store.forget(now, KEEP_RESOLVED_FOR)

    def stop(self, timeout: float) -> None:
        """Let each target finish its current POST, then return (within ``timeout``)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for loop in self.loops:
            loop.join(max(0.0, deadline - time.monotonic()))
        try:
            self.lease.release()
        except StoreError as exc:
            log.warning("could not release the delivery lease", extra={"error": str(exc)})
