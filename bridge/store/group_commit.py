"""Group commit: concurrent writes of one process share one transaction, and so one wait for the disk."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bridge.model import Alert
from bridge.store.base import Outcome
from bridge.store.journal import CallbackRecord


@dataclass
class PendingApply:
    """One caller's ``apply``, waiting for the transaction that commits it."""

    alerts: Sequence[Alert]
    now: float
    journal: Sequence[CallbackRecord] = ()
    """Journal records committed with the alerts (an accepted callback's own record, or refused ones)."""
    outcomes: list[Outcome] | None = None
    error: BaseException | None = None
    finished: bool = False
    """Set, under the group's lock, once the transaction that held this change has ended."""


class GroupCommit:
    """Concurrent ``apply`` calls of one process share one transaction, and so one wait for the disk.

    With ``synchronous=FULL`` a commit waits for fsync, and SQLite has a single writer: one commit per
    callback caps the bridge at a few hundred callbacks a second, however many threads it runs. Here
    the first caller to arrive commits for everyone queued behind it (leader and followers: no thread
    of its own, so nothing to start again after gunicorn forks). Every caller still returns only after
    the commit that holds its change; one whose change fails (a full store) rolls back alone.
    """

    def __init__(self, commit: Callable[[list[PendingApply]], None]) -> None:
        self._commit = commit
        self._ready = threading.Condition()
        self._queue: list[PendingApply] = []
        self._committing = False

    def apply(self, alerts: Sequence[Alert], now: float, journal: Sequence[CallbackRecord] = ()) -> list[Outcome]:
        mine = PendingApply(alerts, now, journal)
        with self._ready:
            self._queue.append(mine)
            while self._committing and not mine.finished:
                self._ready.wait()
            if mine.finished:
                return _result(mine)
            self._committing = True
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)
        except BaseException as exc:  # the transaction did not commit: nobody's change is in
            for pending in batch:
                pending.outcomes, pending.error = None, exc
        finally:
            with self._ready:
                self._committing = False
                for pending in batch:
                    pending.finished = True
                self._ready.notify_all()
        return _result(mine)


def _result(pending: PendingApply) -> list[Outcome]:
    if pending.error is not None:
        raise pending.error
    assert pending.outcomes is not None
    return pending.outcomes
