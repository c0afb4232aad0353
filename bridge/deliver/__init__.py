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
import threading
import time

from bridge.deliver.lease import Lease
from bridge.deliver.target import TargetLoop
from bridge.logs import Outage
from bridge.metrics import Metrics
from bridge.settings import Settings
from bridge.store import Store, StoreError

log = logging.getLogger(__name__)

KEEP_RESOLVED_FOR = 24 * 3600.0
"""Keep resolved alerts this long, so a late vendor retry cannot fire them again; then forget them even
if an Alertmanager never got them (it has expired them itself), so a dead one cannot fill the store."""
HOUSEKEEPING_EVERY = 5.0
HOUSEKEEPING_BACKOFF_CAP = 60.0
"""Longest pause after an unexpected error in housekeeping (a bug): retried, never fatal."""


class Deliverer:
    """Runs the target loops and housekeeping until stopped."""

    def __init__(self, store: Store, settings: Settings, metrics: Metrics | None = None) -> None:
        self.store, self.settings = store, settings
        self.targets = [t.name for t in settings.alertmanagers]
        self.metrics = metrics or Metrics(targets=self.targets)
        self.stop_event = threading.Event()
        self.lease = Lease(store, settings.listen, settings.lease_ttl)
        self.loops = [TargetLoop(store, t, settings, self.lease, self.stop_event, self.metrics)
                      for t in settings.alertmanagers]
        self.store_down = Outage(log, "store error in housekeeping; will retry", "store still failing in housekeeping",
                                 "store reachable again for housekeeping")

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
                self.store_down.ended()
            except StoreError as exc:
                self.store_down.failed(str(exc), logging.ERROR)
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

        Safety does not rest on renewing in time: each target loop fences its POSTs by the lease
        (:meth:`Lease.expires_in`), so a late renewal pauses delivery rather than doubling it.

        Registering again is idempotent, and re-creates a cursor the store lost (a Redis restarted
        without its data), so that target gets changes again instead of only the periodic re-sends.
        """
        held = self.lease.renew(now)  # first: a slow store write must not make the lease lapse
        if due:
            self.store.register_targets(self.targets)
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
        for loop in self.loops:
            loop.join(max(0.0, deadline - time.monotonic()))
        try:
            self.lease.release()
        except StoreError as exc:
            log.warning("could not release the delivery lease", extra={"error": str(exc)})
