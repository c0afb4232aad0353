"""Connections shared fairly among the web workers.

gunicorn's workers all accept from one listening socket, and the worker that is awake when connections
arrive takes them. A client that opens its connections together and keeps them alive (a vendor's
connection pool, a load balancer in front, the benchmark's wrk) can so land every one of them on one
worker, whose one core (the GIL) then serves the bridge alone: measured with wrk's 16 connections, 412
callbacks/s with all of them on one worker against 700-730/s spread over two (issue 16).

So each worker publishes how many connections it holds in its slot of a page of memory the master
shares with its workers (:class:`ConnectionShares`), and a worker holding more than :data:`MARGIN`
connections above the least loaded live worker stops accepting for :data:`PAUSE`, leaving the waiting
connections to the others. The least loaded worker never stops, so a connection is always taken; a slot
not written for :data:`STALE` seconds (its worker died or hangs) is not counted, and a worker that paused
takes its next connection whatever the slots say, so a misread share slows accepting, never stops it.
"""

from __future__ import annotations

import mmap
import os
import struct

MARGIN = 1
"""Connections a worker may hold above the least loaded one before it leaves new ones to the others."""
PAUSE = 0.005
"""How long a worker over its share stops accepting; then it looks again."""
STALE = 1.0
"""A slot not written for this long is a dead or stuck worker's (a loop writes at every turn, at least every
0.25 s when idle)."""
_SLOT = struct.Struct("=qqd")  # pid, connections held, monotonic time written


class ConnectionShares:
    """Slots of ``(pid, connections, written at)`` in an anonymous shared mapping, one per live worker.

    Made in the master before it forks its workers, so every worker writes the same page. Nothing here
    locks: a slot has one writer, and a torn read costs at most one pause too many or too few.
    """

    def __init__(self, workers: int) -> None:
        self.slots = max(4, 2 * workers)
        self._page = mmap.mmap(-1, self.slots * _SLOT.size)
        self.slot = -1
        """This worker's slot (-1 in the master)."""
        self._pid = 0

    def claim(self, age: int, now: float) -> None:
        """Take a slot in a newly forked worker: the one its age names, or the next one no live worker has.
        (gunicorn numbers workers 1, 2, ... as it starts them, so live workers rarely meet.)"""
        for step in range(self.slots):
            index = (age - 1 + step) % self.slots
            pid, _, written = _SLOT.unpack_from(self._page, index * _SLOT.size)
            if pid == 0 or now - written > STALE:
                break
        else:
            index = (age - 1) % self.slots
        self.slot, self._pid = index, os.getpid()
        self.publish(0, now)

    def publish(self, connections: int, now: float) -> None:
        if self.slot >= 0:
            _SLOT.pack_into(self._page, self.slot * _SLOT.size, self._pid, connections, now)

    def leave(self) -> None:
        """This worker stops accepting (a graceful stop): it no longer counts."""
        if self.slot >= 0:
            _SLOT.pack_into(self._page, self.slot * _SLOT.size, 0, 0, 0.0)

    def over_share(self, connections: int, now: float) -> bool:
        """Whether this worker holds more than MARGIN connections above another live worker."""
        fewest = connections
        for index in range(self.slots):
            if index == self.slot:
                continue
            pid, held, written = _SLOT.unpack_from(self._page, index * _SLOT.size)
            if pid and now - written <= STALE and held < fewest:
                fewest = held
        return connections > fewest + MARGIN
