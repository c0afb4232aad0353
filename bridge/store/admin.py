"""The admin's view of a store (``cloud-alarm-bridge store``): count, list and purge alerts by matchers.

Matchers are amtool's and Prometheus': ``name=value``, ``name!=value``, ``name=~regex``, ``name!~regex``;
a regex matches the whole value, a label the alert lacks has the value "", and the value may be quoted
(``severity="critical"``). Purging works on a running bridge and on both backends: it deletes in batches
of the store's own atomic operations. A purged firing alert is no longer re-sent, so Alertmanager resolves
it when the ``endsAt`` of its last re-send passes (at most 4 resend intervals).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.store.base import Store, StoredAlert

PAGE = 500
EVERYTHING = 1e18
"""``resolved_for`` that makes :meth:`Store.active` page through resolved alerts of any age too."""
_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (value == self.value) == (self.op == "=")
        return bool(re.fullmatch(self.value, value)) == (self.op == "=~")


def parse_matcher(text: str) -> Matcher:
    """``name=value`` and the like; ValueError says what is wrong."""
    found = _MATCHER.fullmatch(text)
    if not found:
        raise ValueError(f"not a matcher: {text!r} (use e.g. alertname=CPUHigh, vendor!=aliyun, host=~web-.*)")
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"badly quoted value in {text!r}") from None
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regex in {text!r}: {exc}") from None
    return Matcher(name, op, value)


@dataclass(frozen=True)
class Selection:
    """Which alerts a command works on: all matchers hold, and the state and vendor are among those given."""

    matchers: tuple[Matcher, ...] = ()
    states: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()

    @property
    def everything(self) -> bool:
        return not (self.matchers or self.states or self.vendors)

    def selects(self, stored: StoredAlert) -> bool:
        alert = stored.alert
        return ((not self.states or alert.state.value in self.states)
                and (not self.vendors or alert.vendor in self.vendors)
                and all(m.matches(alert.labels) for m in self.matchers))


def selected(store: Store, selection: Selection, now: float) -> Iterator[StoredAlert]:
    """Every alert of the selection, firing or resolved, by fingerprint."""
    after = ""
    while page := store.active(after, PAGE, now, EVERYTHING):
        yield from (stored for stored in page if selection.selects(stored))
        after = page[-1].fingerprint


def purge(store: Store, selection: Selection, now: float) -> tuple[int, int]:
    """Delete the selected alerts: how many, and the bytes they took."""
    fingerprints = [stored.fingerprint for stored in selected(store, selection, now)]
    return store.delete(fingerprints)


def summary(store: Store, now: float, max_alerts: int, max_bytes: int) -> dict[str, Any]:
    stats = store.stats([], now)
    return {"alerts": stats.total, "bytes": stats.bytes, "max_alerts": max_alerts, "max_bytes": max_bytes,
            "by_vendor_and_state": {f"{vendor}/{state}": count
                                    for (vendor, state), count in sorted(stats.alerts_by_vendor_state.items())}}


def listing(stored: StoredAlert) -> dict[str, Any]:
    alert = stored.alert
    return {"fingerprint": stored.fingerprint, "state": alert.state.value, "vendor": alert.vendor,
            "labels": alert.labels, "starts_at": alert.starts_at, "ends_at": alert.ends_at,
            "changed_at": stored.changed_at}


def parse_selection(matchers: Sequence[str], states: Sequence[str], vendors: Sequence[str]) -> Selection:
    return Selection(tuple(map(parse_matcher, matchers)), tuple(states), tuple(vendors))
