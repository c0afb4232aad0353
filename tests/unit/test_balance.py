"""The shares of connections the workers publish (bridge.run.balance): who leaves new connections to whom."""

from __future__ import annotations

import copy

from bridge.run.balance import MARGIN, STALE, ConnectionShares


def workers(count: int, now: float) -> list[ConnectionShares]:
    """``count`` workers' views of one shared page (as forked workers see it: one mapping, own slots)."""
    page = ConnectionShares(count)
    views = []
    for age in range(1, count + 1):
        view = copy.copy(page)  # shares the mapping, as a fork does
        view.claim(age, now)
        views.append(view)
    return views


def test_a_worker_over_the_least_loaded_one_by_more_than_the_margin_leaves_connections_to_it() -> None:
    first, second = workers(2, now=100.0)
    second.publish(3, 100.0)
    assert not first.over_share(3 + MARGIN, 100.1)
    assert first.over_share(3 + MARGIN + 1, 100.1)
    first.publish(3 + MARGIN + 1, 100.1)
    assert not second.over_share(3, 100.1)  # the least loaded never stops accepting


def test_a_worker_that_stopped_writing_is_not_counted() -> None:
    first, second = workers(2, now=100.0)
    second.publish(0, 100.0)
    first.publish(10, 100.0 + STALE + 1)
    assert first.over_share(10, 100.0 + STALE / 2)
    assert not first.over_share(10, 100.0 + STALE + 1)  # dead, or stuck: its share says nothing


def test_a_worker_that_left_is_not_counted() -> None:
    first, second = workers(2, now=100.0)
    second.leave()
    assert not first.over_share(50, 100.1)


def test_live_workers_get_slots_of_their_own_and_a_new_one_takes_a_dead_ones() -> None:
    views = workers(2, now=100.0)
    assert {view.slot for view in views} == {0, 1}
    page = views[0]
    reborn = copy.copy(page)
    reborn.claim(page.slots + 1, now=100.0 + STALE + 1)  # its age names slot 0, whose worker is silent
    assert reborn.slot == 0
    crowded = copy.copy(page)
    crowded.claim(1, now=100.5)  # slot 0 and 1 are live: the next free one
    assert crowded.slot == 2
