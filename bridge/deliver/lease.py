"""The delivery lease: only its holder delivers, so one bridge (or one of several replicas) sends."""

from __future__ import annotations

import logging
import socket

from bridge.store import Store

log = logging.getLogger(__name__)

LEASE_NAME = "delivery"


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
        self._said_standby = False

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
        elif not self._said_standby:  # a second bridge on the same ./data must not start silently
            log.info("another process holds the delivery lease in this store: this one accepts callbacks "
                     "and takes over delivery only if that one stops", extra={"owner": self.owner})
        self._said_standby = True
        self._held_until = 0.0
        return False

    def held(self, now: float) -> bool:
        return now < self._held_until

    def expires_in(self, now: float) -> float:
        """Seconds until the store may give the lease to another, as far as this holder knows (0 unless held):
        work that must not overlap another holder's (a POST) has to end by then."""
        return self._held_until + self.renew_every - now if self.held(now) else 0.0

    def release(self) -> None:
        """Give the lease up at once (on a graceful stop), so another replica need not wait it out."""
        self._held_until = 0.0
        self.store.release_lease(LEASE_NAME, self.owner)
