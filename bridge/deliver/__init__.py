"""The delivery loop: every change in the store reaches every Alertmanager, and keeps being re-sent.

One loop per bridge (not per gunicorn worker), holding a lease in the store so that only one process
delivers even when several share a store. Each Alertmanager target has its own thread, cursor and
backoff, so a dead replica never delays the others. A target thread does, in order of priority:

1. send the changes past its cursor, in batches, and advance the cursor once Alertmanager took them;
2. every resend interval, sweep all firing alerts (and alerts resolved in the last 15 minutes) to it
   with ``endsAt = now + 4 x interval``, as Prometheus does, so Alertmanager keeps them active past its
   ``resolve_timeout`` and re-learns them after a restart.

Housekeeping beside it resolves expired alerts and forgets long-resolved ones. Addresses found by DNS
(``dns+``, ``dnssrv+``: :mod:`bridge.discovery`) are looked up again in a thread of their own, so a slow
DNS never delays the lease: each replica an answer names gets a target thread, whose cursor starts at the
newest change and whose first act is a full re-send of what fires (what a new Alertmanager needs); a
replica that leaves the answer has its thread stopped, and its cursor, no longer read, holds nothing back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bridge.deliver.alertmanager import AlertmanagerClient
from bridge.deliver.lease import Lease
from bridge.deliver.target import TargetLoop, capped_doubling
from bridge.discovery import Resolver, TargetSet
from bridge.logs import Outage
from bridge.metrics import Metrics
from bridge.settings import AlertmanagerTarget, Settings
from bridge.store import Store, StoreError

log = logging.getLogger(__name__)

KEEP_RESOLVED_FOR = 24 * 3600.0
"""Keep resolved alerts this long, so a late vendor retry cannot fire them again; then forget them even
if an Alertmanager never got them (it has expired them itself), so a dead one cannot fill the store."""
HOUSEKEEPING_EVERY = 5.0
HOUSEKEEPING_BACKOFF_CAP = 60.0
"""Longest pause after an unexpected error in housekeeping (a bug): retried, never fatal."""
DISCOVERY_POLL = 0.5


class Deliverer:
    """Runs the target loops and housekeeping until stopped."""

    def __init__(self, store: Store, settings: Settings, metrics: Metrics | None = None,
                 client: Callable[[AlertmanagerTarget, Metrics], AlertmanagerClient] = AlertmanagerClient) -> None:
        """``client`` reaches one target (tests pass one that records the POSTs)."""
        self.store, self.settings, self.client = store, settings, client
        self.target_set = TargetSet(settings.alertmanagers, settings.alertmanager_refresh_interval,
                                    Resolver(settings.dns_server))
        self.metrics = metrics or Metrics()
        self.stop_event = threading.Event()
        self.lease = Lease(store, settings.listen, settings.lease_ttl)
        self.store_down = Outage(log, "store error in housekeeping; will retry", "store still failing in housekeeping",
                                 "store reachable again for housekeeping")
        self.discovery_store_down = Outage(log, "store error while adding alertmanagers; will retry",
                                           "store still failing while adding alertmanagers",
                                           "store reachable again for adding alertmanagers")
        self.loops: dict[str, TargetLoop] = {}
        """The current targets' threads, by target name."""
        self.retired: list[TargetLoop] = []
        self._sync_lock = threading.Lock()

    @property
    def targets(self) -> list[str]:
        with self._sync_lock:  # the discovery thread changes the loops
            return list(self.loops)

    def threads(self) -> list[TargetLoop]:
        """The threads that must stay alive: the current targets' (a retired one ends on purpose)."""
        with self._sync_lock:
            return [loop for loop in self.loops.values() if not loop.stop.is_set()]

    def dead_threads(self) -> list[str]:
        """The names of the threads that must stay alive but have died."""
        return [t.name for t in self.threads() if t.ident is not None and not t.is_alive()
                and not t.stop.is_set()]  # checked after is_alive: a loop retired meanwhile is not dead

    def sync_targets(self) -> None:
        """Start a thread for each target the answers name and stop those of targets they no longer name."""
        wanted = {t.name: t for t in self.target_set.current()}  # outside the lock: it may wait for DNS
        with self._sync_lock:
            added = [t for name, t in wanted.items() if name not in self.loops]
            if added:
                self.store.register_targets([t.name for t in added])
            for target in added:
                self.metrics.add_target(target.name)
                loop = TargetLoop(self.store, target, self.settings, self.lease, threading.Event(), self.metrics,
                                  self.client(target, self.metrics))
                self.loops[target.name] = loop
                if self.stop_event.is_set():
                    loop.stop.set()
                else:
                    loop.start()
            for name in [n for n in self.loops if n not in wanted]:
                loop = self.loops.pop(name)
                loop.stop.set()
                self.retired.append(loop)
            self.retired = [loop for loop in self.retired if loop.is_alive()]

    def _discover(self) -> None:
        """Look discovered addresses up every refresh interval, until stopped."""
        while not self.stop_event.is_set():
            try:
                self.sync_targets()
                self.discovery_store_down.ended()
            except StoreError as exc:
                self.discovery_store_down.failed(str(exc), logging.ERROR)
            except Exception:
                log.exception("unexpected error while looking alertmanagers up; will retry")
            self.stop_event.wait(min(DISCOVERY_POLL, self.settings.alertmanager_refresh_interval))

    def run(self) -> None:
        """Block until :meth:`stop`; the caller's thread does lease renewal and housekeeping.

        Nothing else ends it: a store outage is retried at the next renewal, an unexpected error
        (a bug) is logged and retried with backoff, so delivery outlives both.
        """
        if self.target_set.dynamic:  # looked up in a thread of its own: DNS must not delay the lease
            threading.Thread(target=self._discover, name="discover alertmanagers", daemon=True).start()
        else:
            try:
                self.sync_targets()
            except StoreError as exc:  # started at the next housekeeping
                log.error("store error while adding alertmanagers", extra={"error": str(exc)})
        next_housekeeping, failures = 0.0, 0
        while not self.stop_event.is_set():
            now = time.time()
            due = now >= next_housekeeping
            try:
                self._tick(now, due)
                self.store_down.ended()
            except StoreError as exc:
                self.store_down.failed(str(exc), logging.ERROR)
            except Exception:
                failures += 1
                next_housekeeping = now + capped_doubling(HOUSEKEEPING_EVERY, HOUSEKEEPING_BACKOFF_CAP, failures)
                log.exception("unexpected error in housekeeping; will retry",
                              extra={"retry_in_seconds": round(next_housekeeping - now, 3)})
            else:
                failures = 0
                if due:
                    next_housekeeping = now + HOUSEKEEPING_EVERY
            self.stop_event.wait(min(self.lease.renew_every, HOUSEKEEPING_EVERY))

    def _tick(self, now: float, due: bool) -> None:
        """Renew the lease; when ``due``, register the targets and, holding the lease, do housekeeping.

        Safety does not rest on renewing in time: each target loop fences its POSTs by the lease
        (:meth:`Lease.expires_in`), so a late renewal pauses delivery rather than doubling it.

        Registering again is idempotent, and re-creates a cursor the store lost (a Redis restarted
        without its data), so that target gets changes again instead of only the periodic re-sends.
        """
        held = self.lease.renew(now)  # first: a slow store write must not make the lease lapse
        if due:
            self.store.register_targets(self.targets)
            if not self.target_set.dynamic:
                self.sync_targets()  # starts the targets the first try missed (a store error)
            if held:
                self.housekeeping(now)

    def housekeeping(self, now: float) -> None:
        expired = self.store.expire(now, self.settings.max_firing_age)
        if expired:
            self.metrics.alerts_expired.inc(expired)
            log.info("resolved alerts the vendor never recovered", extra={"alerts": expired})
        self.store.forget(now, KEEP_RESOLVED_FOR)

    def stop(self, timeout: float) -> None:
        """Let each target finish its current POST, then return (within ``timeout``)."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        with self._sync_lock:
            loops = [*self.loops.values(), *self.retired]
        for loop in loops:
            loop.stop.set()
        for loop in loops:
            if loop.ident is not None:
                loop.join(max(0.0, deadline - time.monotonic()))
        try:
            self.lease.release()
        except StoreError as exc:
            log.warning("could not release the delivery lease", extra={"error": str(exc)})
