"""The writer lock: exclusion across threads and processes, a prompt hand-over, and a wait that gives up."""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.store import writer_lock
from bridge.store.writer_lock import WriterLock


def _other_process_holds(path: Path, seconds: float, held: multiprocessing.synchronize.Event) -> None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    held.set()
    time.sleep(seconds)
    os.close(fd)


@contextlib.contextmanager
def another_process_holds(path: Path, seconds: float) -> Iterator[None]:
    """Another process takes the lock, holds it ``seconds``, and lets go by closing its file; the block starts
    once it holds it and ends once it has exited."""
    held = multiprocessing.Event()
    holder = multiprocessing.Process(target=_other_process_holds, args=(path, seconds, held))
    holder.start()
    assert held.wait(5)
    try:
        yield
    finally:
        holder.join()


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    """Each thread has its own open file on the lock: a read-modify-write under it never loses an update."""
    lock, counter = WriterLock(str(tmp_path / "w.lock")), tmp_path / "counter"
    counter.write_text("0")

    def add(times: int) -> None:
        for _ in range(times):
            assert lock.acquire(5)
            value = int(counter.read_text())
            time.sleep(0)  # let another thread run in the middle, as a commit does
            counter.write_text(str(value + 1))
            lock.release()
        lock.close()

    threads = [threading.Thread(target=add, args=(200,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.read_text() == "1200"


def test_a_waiting_writer_gets_the_lock_as_soon_as_another_process_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "w.lock"
    lock = WriterLock(str(path))
    with another_process_holds(path, 0.3):
        started = time.monotonic()
        assert lock.acquire(5)
        waited = time.monotonic() - started
    assert 0.2 < waited < 1.0
    lock.release()


def test_a_wait_gives_up_after_its_timeout_and_lets_the_lock_go_when_it_comes(tmp_path: Path) -> None:
    """A writer stuck behind a stopped process gets False, not a hung thread; its waiter must not then keep the
    lock it gets later, or every other writer would wait for good."""
    path = tmp_path / "w.lock"
    lock = WriterLock(str(path))
    with another_process_holds(path, 0.6):
        started = time.monotonic()
        assert not lock.acquire(0.2)
        assert time.monotonic() - started < 0.5
    other = os.open(path, os.O_RDWR)
    deadline = time.monotonic() + 2
    while True:  # the abandoned waiter takes it once and lets it go at once
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            assert time.monotonic() < deadline, "the lock was kept by a writer that had given up"
            time.sleep(0.01)
    fcntl.flock(other, fcntl.LOCK_UN)
    os.close(other)
    assert lock.acquire(1)  # and the same thread takes it again
    lock.release()


def test_a_thread_that_gave_up_waits_again_and_gets_it(tmp_path: Path) -> None:
    """The next wait of the same thread, while its earlier waiter is still queued, is the one that gets the lock."""
    path = tmp_path / "w.lock"
    lock = WriterLock(str(path))
    with another_process_holds(path, 0.5):
        assert not lock.acquire(0.1)
        assert lock.acquire(5)
    other = os.open(path, os.O_RDWR)
    try:  # this thread holds it now: nobody else gets it
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        raise AssertionError("the lock was not held")
    except BlockingIOError:
        pass
    lock.release()
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(other)
    lock.close()


def test_the_waiter_of_a_thread_that_ended_ends_and_closes_its_file(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery threads come and go (an Alertmanager found or lost by DNS): their waiters must not pile up."""
    monkeypatch.setattr(writer_lock, "_OWNER_CHECK", 0.05)
    path = tmp_path / "w.lock"
    lock = WriterLock(str(path))
    waiters = lambda: {t for t in threading.enumerate() if t.name == "store writer lock"}  # noqa: E731
    others, before = waiters(), set(os.listdir("/proc/self/fd"))  # of earlier tests' threads, still alive
    had_waiter = []

    def contend() -> None:  # waits once (so it has a waiter), then ends without close()
        assert lock.acquire(5)
        had_waiter.append(bool(waiters() - others))
        lock.release()

    with another_process_holds(path, 0.3):
        thread = threading.Thread(target=contend)
        thread.start()
        thread.join()
    assert had_waiter == [True]
    deadline = time.monotonic() + 5
    while waiters() - others and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not waiters() - others
    assert set(os.listdir("/proc/self/fd")) <= before
