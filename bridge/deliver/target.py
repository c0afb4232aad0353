"""One Alertmanager's delivery thread: the changes past its cursor first, then periodic full re-sends."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence

from bridge.deliver.alertmanager import ENDS_AT_RESENDS, AlertmanagerClient, SendError, postable, within_post_bytes
from bridge.deliver.lease import Lease
from bridge.logs import Outage
from bridge.metrics import Metrics
from bridge.settings import AlertmanagerTarget, Settings
from bridge.store import Store, StoredAlert, StoreError

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.1
"""How often an idle target looks for new changes: bounds the delay a healthy Alertmanager sees."""
BATCH_PAUSE = 0.25
"""The pause after a partial batch, so that during a storm the next POST carries what arrived meanwhile:
at most four partial POSTs a second per target, whatever the rate of callbacks; full batches go at once."""
RESOLVED_RESEND_FOR = 15 * 60.0
"""Re-send resolved alerts this long (Prometheus' resolvedRetention), then stop."""
BACKOFF_BASE, BACKOFF_CAP = 0.25, 5.0
"""Retry delays after a failed POST or store call: doubling from the base, jittered, up to the cap."""
FENCE_MIN_POST = 1.0
"""A POST starts only if the lease lasts this long yet (or a renewal interval, if shorter), and it (with
the halves of a rejected batch) must end before the lease may pass to another replica: after a lease loss
the loop stops rather than racing the replica that takes over (issue 19 item 11)."""


class TargetLoop(threading.Thread):
    """Delivers to one Alertmanager: changes first, then periodic full re-sends."""

    def __init__(self, store: Store, target: AlertmanagerTarget, settings: Settings, lease: Lease,
                 stop: threading.Event, metrics: Metrics | None = None,
                 client: AlertmanagerClient | None = None) -> None:
        super().__init__(name=f"deliver {target.name}", daemon=True)
        self.store, self.settings, self.lease, self.stop = store, settings, lease, stop
        self.client = client or AlertmanagerClient(target, metrics)
        self.name_label = target.name
        self.timeout = target.timeout
        self.failures = 0
        self.retry_at = 0.0
        self.paused_until = 0.0
        self.sweep_after = ""
        self.sweep_started = 0.0
        self.next_sweep = 0.0
        self.lease_generation = 0
        self.sweep_turn = False
        self.clock: Callable[[], float] = time.time
        """Read right before each POST, to fence it by the lease (tests set it to their own clock)."""
        self.sweep_sent = False
        """Whether the sweep under way has posted anything; one that posts nothing probes instead."""
        self.undelivered = False
        """Whether the last look found changes past the cursor. While there are, their POSTs tell whether
        the Alertmanager takes alerts; a probe answered meanwhile would hide POSTs that keep failing."""
        self.rejected: dict[str, int] = {}
        """Fingerprint -> sequence number of alerts Alertmanager rejected: not re-sent until they change."""
        self.unreachable = Outage(log, "cannot reach alertmanager; will retry", "still cannot reach alertmanager",
                                  "alertmanager reachable again", alertmanager=self.name_label)
        self.store_down = Outage(log, "store error while delivering; will retry", "store still failing",
                                 "store reachable again", alertmanager=self.name_label)
        self.store_answered = False
        """Set by :meth:`step` when it got past its waits: every path on from there reads the store, so a
        step that then returns has heard from it. Waiting (no lease, a retry pending) says nothing."""

    def run(self) -> None:
        while not self.stop.is_set():
            pause = POLL_INTERVAL
            self.store_answered = False
            try:
                busy = self.step(time.time())
                if self.store_answered:  # not merely waited: the store did answer
                    self.store_down.ended()
            except StoreError as exc:
                self.store_down.failed(str(exc), logging.ERROR)
                busy, pause = False, _backoff(self.store_down.failures)
            except Exception:
                log.exception("unexpected error while delivering", extra={"alertmanager": self.name_label})
                busy = False
            if not busy:
                self.stop.wait(pause)
        self.client.close()

    def step(self, now: float) -> bool:
        """Do one unit of work; True to go on at once, False to wait (a poll interval at least)."""
        if not self.lease.held(now) or now < self.retry_at or now < self.paused_until:
            return False
        self.store_answered = True  # set before the reads: a StoreError from them is handled in run()
        if self.lease.generation != self.lease_generation:  # a new holder re-sends everything at once
            self.lease_generation, self.next_sweep, self.sweep_after = self.lease.generation, 0.0, ""
        # During a storm of changes a due re-send still gets every other POST, so that unchanged
        # firing alerts are re-sent before their endsAt passes.
        if self.sweep_turn and self._sweep(now):
            self.sweep_turn = False
            return True
        self.sweep_turn = True
        changes = self.store.changes(self.name_label, self.settings.batch_size)
        self.undelivered = bool(changes)
        if changes:
            batch = within_post_bytes(changes)
            if self._deliver(batch, now):
                self.store.advance(self.name_label, batch[-1].seq, time.time())
            if len(batch) == len(changes) < self.settings.batch_size:  # a full batch means more are waiting
                self.paused_until = now + BATCH_PAUSE
                return False
            return True
        return self._sweep(now)

    def _sweep(self, now: float) -> bool:
        if now < self.next_sweep:
            return False
        if not self.sweep_after:
            self.sweep_started, self.sweep_sent = now, False
        page = within_post_bytes(self.store.active(self.sweep_after, self.settings.batch_size, now,
                                                   RESOLVED_RESEND_FOR))
        if not page:
            if not self.sweep_sent and not self.undelivered and not self._probe():
                return False  # retried after the backoff, not a whole interval later
            self.sweep_after, self.next_sweep = "", self.sweep_started + self.settings.resend_interval
            return False
        resend = [s for s in page if self.rejected.get(s.fingerprint) != s.seq]
        if resend:
            self.sweep_sent = True
        if not resend or self._deliver(resend, now):
            self.sweep_after = page[-1].fingerprint
            self.store.advance(self.name_label, 0, time.time())  # seq 0: a success, the cursor stays
        return True

    def _probe(self) -> bool:
        """With nothing to send at all, ask whether the Alertmanager answers, so that ``alertmanager_up``
        and the alert rules on it tell the truth on a quiet bridge too; True if it does."""
        try:
            self.client.probe()
        except SendError as error:
            self._failed(error, 0)
            return False
        self._reachable()
        self.store.advance(self.name_label, 0, time.time())  # seq 0: a success, the cursor stays
        return True

    def _deliver(self, alerts: Sequence[StoredAlert], now: float) -> bool:
        """POST; True when Alertmanager took the batch (rejected alerts are logged and dropped)."""
        bodies = [postable(s.alert, now, ENDS_AT_RESENDS * self.settings.resend_interval) for s in alerts]
        fence = self.lease.expires_in(self.clock())  # the store reads before may have been slow
        if fence < min(FENCE_MIN_POST, self.lease.renew_every):
            return False
        try:  # a deadline, not a timeout: a rejected batch is split into several POSTs, all within it
            rejected = self.client.send(bodies, deadline=time.monotonic() + min(self.timeout, fence))
        except SendError as error:
            self._failed(error, len(bodies))
            return False
        self._reachable()
        for index in rejected:
            self.rejected[alerts[index].fingerprint] = alerts[index].seq
        if rejected:
            self._remember_rejections([(alerts[i].fingerprint, alerts[i].seq,
                                        self.client.rejection_messages.get(i, "rejected")) for i in rejected])
        return True

    def _remember_rejections(self, rejected: list[tuple[str, int, str]]) -> None:
        """For the inspector: what Alertmanager said. Best effort: the batch was delivered, and a store error
        here must not make it look undelivered (its cursor is advanced next)."""
        try:
            self.store.record_rejections(self.name_label, rejected, time.time())
        except StoreError as exc:
            log.warning("could not record rejected alerts", extra={"alertmanager": self.name_label,
                                                                   "error": str(exc)})

    def _failed(self, error: SendError, alerts: int) -> None:
        """Back off; the first failure is logged, then a reminder a minute with counts (bridge.logs.Outage)."""
        self.failures += 1
        self.retry_at = time.time() + _backoff(self.failures)
        self.store.record_failure(self.name_label, time.time(), str(error))
        self.unreachable.failed(str(error), **({"alerts": alerts} if alerts else {"probe": "GET /api/v2/status"}))

    def _reachable(self) -> None:
        self.failures = 0
        self.unreachable.ended()


def _backoff(failures: int) -> float:
    delay = capped_doubling(BACKOFF_BASE, BACKOFF_CAP, failures)
    return delay / 2 + random.uniform(0, delay / 2)


def capped_doubling(base: float, cap: float, failures: int) -> float:
    """``base`` doubled per failure after the first, at most ``cap``. The exponent is capped too: a float
    ``2 ** 1024`` raises OverflowError, which an outage of about an hour reaches (issue 20 review)."""
    return min(cap, base * 2.0 ** min(max(failures - 1, 0), 64))
