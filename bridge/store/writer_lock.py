"""The lock that queues the writers of every process of one bridge on its SQLite file.

A ``flock`` on ``<store>-writer.lock``: the kernel drops it when its holder dies, so a kill -9 never
wedges the store, and a writer blocked in ``flock`` wakes the moment it is released. Polling it instead
(try, sleep, try again) left every writer that found it taken asleep past its release: with two gunicorn
workers taking turns at every commit, that idle time capped the bridge near 560 callbacks/s on two cores
with a third of their CPU unused (issue 16; bench/NOTES.md).

A blocking ``flock`` cannot time out, and a writer stuck behind a stalled disk or a stopped process must
cost callbacks a 503 that the vendor retries, never a hung thread. So each thread's handle has a waiter
thread that blocks in ``flock`` for it, and the writer waits for that thread at most ``timeout``; if it
gives up, the waiter lets the lock go as soon as it gets it. The waiter is started once per handle, not
per wait: starting a thread costs about 0.15 ms of CPU, as much as a tenth of a callback.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

_OWNER_CHECK = 5.0
"""How often an idle waiter looks whether the thread it waits for still runs."""


class WriterLock:
    """One lock file; each thread gets its own open file on it, so that threads of one process exclude each
    other as processes do (``flock`` locks belong to an open file, not to a process)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def acquire(self, timeout: float) -> bool:
        """Take the lock for this thread; False if another writer held it for ``timeout`` seconds.
        Raises OSError if the lock file cannot be opened."""
        return self._handle().acquire(timeout)

    def release(self) -> None:
        fcntl.flock(self._handle().fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close this thread's handle (its waiter ends too)."""
        handle = getattr(self._local, "handle", None)
        if handle is not None:
            self._local.handle = None
            handle.close()

    def _handle(self) -> _Handle:
        handle = getattr(self._local, "handle", None)
        if handle is not None and handle.pid != os.getpid():  # a forked child never shares its parent's lock
            handle._close_file()  # the child's reference only: the parent keeps its own, and its lock
            handle = None
        if handle is None:
            handle = self._local.handle = _Handle(self.path)
        return handle


class _Handle:
    """A thread's open file on the lock, and the thread that blocks in ``flock`` on it for that thread."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.pid = os.getpid()
        self._owner = threading.current_thread()
        self._state = threading.Condition()
        self._wanted = False
        """The owner is waiting for the lock (False again once the waiter has taken it for it, or it gave up)."""
        self._granted = False
        """The waiter took the lock for the owner, who has not yet seen it."""
        self._busy = False
        """The waiter is in ``flock`` or about to be: the owner must not try the lock itself meanwhile, since
        the two share one open file and ``flock`` would say the owner holds what the waiter is letting go."""
        self._closed = False
        self._waiter: threading.Thread | None = None

    def acquire(self, timeout: float) -> bool:
        with self._state:
            if not self._busy:
                try:
                    fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    pass
            if self._waiter is None:
                self._waiter = threading.Thread(target=self._wait_loop, name="store writer lock", daemon=True)
                self._waiter.start()
            self._wanted = True
            self._state.notify_all()
            granted = False
            try:
                granted = self._state.wait_for(lambda: self._granted, timeout)
                return granted
            finally:
                if self._granted and not granted:  # interrupted after the grant: nobody may keep the lock
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
                self._wanted = self._granted = False  # given up, if not granted: the waiter lets it go when it comes

    def _wait_loop(self) -> None:
        while True:
            with self._state:
                while not self._state.wait_for(lambda: self._wanted or self._closed, _OWNER_CHECK):
                    if not self._owner.is_alive():  # a delivery thread that ended: end with it
                        self._closed = True
                if self._closed:
                    self._close_file()
                    return
                self._busy = True
            fcntl.flock(self.fd, fcntl.LOCK_EX)  # the GIL is released while it blocks
            with self._state:
                if self._wanted and not self._closed:
                    self._wanted, self._granted = False, True  # served: the next wait is a new request
                    self._state.notify_all()
                else:  # its writer gave up waiting (or closed): let the next one in, still busy meanwhile
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
                self._busy = False

    def close(self) -> None:
        with self._state:
            self._closed = True
            if self._waiter is not None:  # it closes the file once it is out of flock
                self._state.notify_all()
                return
            self._close_file()

    def _close_file(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        """A thread that ended without ``close`` (its waiter, if any, has ended too: it held this handle)."""
        if self.fd >= 0 and self.pid == os.getpid():
            self._close_file()
