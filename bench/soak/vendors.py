"""What each cloud posts for one change of one object: one small generator per vendor.

A change is vendor-neutral (object, firing or resolved, the vendor's time of the change, the start of
the occurrence); a :class:`VendorShape` turns it into the body that cloud posts, using the builders
the tests use (tests/harness/payloads.py), and names the Alertmanager label that identifies the object.
A vendor that lands later joins the soak by adding one entry to :data:`SHAPES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.harness.payloads import aliyun, kingsoft, tencent

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Change:
    """One thing a cloud says about one object. ``event_at`` orders an object's changes (the vendor's
    own time, whole seconds); ``started_at`` is when the current occurrence began."""

    id: int
    vendor: str
    obj: str
    firing: bool
    event_at: int
    started_at: int

    @property
    def word(self) -> tuple[int, bool]:
        """The order of an object's changes: later event first; at the same second a recovery wins,
        as the bridge decides (a firing at the time of a recovery is stale)."""
        return self.event_at, not self.firing


@dataclass(frozen=True)
class VendorShape:
    name: str
    label: str
    """The Alertmanager label whose value is the object's name."""
    content_type: str
    body: Callable[[Change], bytes]


def _shanghai(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _tencent(change: Change) -> bytes:
    """Tencent dates an occurrence by firstOccurTime and each notification by durationTime since then;
    a recovery carries recoverTime. The bridge orders them by first + duration (or the recovery)."""
    return tencent(change.obj, status=1 if change.firing else 0, first=_shanghai(change.started_at),
                   recover="0" if change.firing else _shanghai(change.event_at),
                   duration=change.event_at - change.started_at, session=f"soak-{change.obj}-{change.started_at}")


SHAPES: dict[str, VendorShape] = {
    "kingsoft": VendorShape("kingsoft", "host", "application/json",
                            lambda c: kingsoft(c.obj, state=1 if c.firing else 0, timestamp=c.event_at)),
    "tencent": VendorShape("tencent", "unInstanceId", "application/json", _tencent),
    "aliyun": VendorShape("aliyun", "instanceId", "application/x-www-form-urlencoded",
                          lambda c: aliyun(c.obj, state="ALERT" if c.firing else "OK",
                                           timestamp_ms=c.event_at * 1000)),
}
