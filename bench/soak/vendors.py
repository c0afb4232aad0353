"""What each cloud posts for one change of one object: one small generator per vendor.

A change is vendor-neutral (object, firing or resolved, the vendor's time of the change, the start of
the occurrence); a :class:`VendorShape` turns it into the body that cloud posts, using the builders
the tests use (tests/harness/payloads.py, which start from the stored real samples), and names the
Alertmanager label that identifies the object. A vendor that lands later joins the soak by adding one
entry to :data:`SHAPES`; tests/e2e/test_soak.py fails while a vendor of the bridge has none.

Signed pushes (AWS SNS, Huawei SMN) are signed by the soak's test CA (:class:`Signing`), whose
certificate the stack serves over HTTPS and the bridges are told to trust (bench/soak/stack.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tests.harness import payloads, smn, sns
from tests.harness.payloads import aliyun, kingsoft, tencent
from tests.harness.signing import SigningServer

SHANGHAI = ZoneInfo("Asia/Shanghai")
CERTIFICATE_PATHS = {"aws": "/SimpleNotificationService-soak.pem", "huawei": smn.CERTIFICATE_PATH}
"""Where the signing server serves the test CA's signing certificate for each signed vendor."""


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
class Signing:
    """The soak's signing server: its test CA signs the bodies, and it serves the CA's signing certificate
    at :data:`CERTIFICATE_PATHS` (the bridges trust it with ``--signing-host``/``--signing-ca-file``)."""

    server: SigningServer

    def certificate_url(self, vendor: str) -> str:
        return self.server.base + CERTIFICATE_PATHS[vendor]


def _same(obj: str) -> str:
    return obj


def _no_headers(body: bytes) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class VendorShape:
    name: str
    label: str
    """The Alertmanager label whose value is the object's id."""
    content_type: str
    body: Callable[[Change, Signing | None], bytes]
    """The body the cloud posts; a signed vendor's is signed with ``Signing`` (never None for those)."""
    label_value: Callable[[str], str] = _same
    """The value of ``label`` for an object (the object's name unless the vendor's id spells it out)."""
    headers: Callable[[bytes], dict[str, str]] = _no_headers
    """Headers the cloud sends besides the content type."""
    signed: bool = False


def _shanghai(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def _tencent(change: Change, _: Signing | None) -> bytes:
    """Tencent dates an occurrence by firstOccurTime and each notification by durationTime since then;
    a recovery carries recoverTime. The bridge orders them by first + duration (or the recovery)."""
    return tencent(change.obj, status=1 if change.firing else 0, first=_shanghai(change.started_at),
                   recover="0" if change.firing else _shanghai(change.event_at),
                   duration=change.event_at - change.started_at, session=f"soak-{change.obj}-{change.started_at}")


def _gcp(change: Change, _: Signing | None) -> bytes:
    """One incident per occurrence, opened at ``started_at`` and closed at ``ended_at``. The bridge dates an
    open notification by ``started_at`` (its only time), a close by ``ended_at``: a re-notification of an
    open incident orders as its opening, which gives the same order against every recovery as the model's
    (an object's recoveries are never within an occurrence it has not closed)."""
    return payloads.gcp(change.obj, open_=change.firing, started_at=change.started_at,
                        ended_at=None if change.firing else change.event_at)


def _azure(change: Change, _: Signing | None) -> bytes:
    """Fired at ``firedDateTime`` (the occurrence's start), Resolved at ``resolvedDateTime``: ordered as GCP's."""
    return payloads.azure(change.obj, fired=change.firing, fired_at=change.started_at,
                          resolved_at=None if change.firing else change.event_at)


def _volcengine(change: Change, _: Signing | None) -> bytes:
    """``HappenedAt`` (whole seconds, with its UTC offset) dates each notification."""
    return payloads.volcengine(change.obj, firing=change.firing, happened_at=f"{_shanghai(change.event_at)}(UTC+08:00)",
                               first_alert=change.started_at, last_alert=change.event_at)


def _aws(change: Change, signing: Signing | None) -> bytes:
    """``StateChangeTime`` (milliseconds) dates each notification; signed with SignatureVersion 1, as the sample."""
    assert signing is not None, "aws callbacks are signed: the soak needs its signing server"
    envelope = payloads.aws(change.obj, alarm=change.firing, changed_at=change.event_at,
                            cert_url=signing.certificate_url("aws"))
    return sns.encoded(sns.sign(envelope, signing.server.ca, envelope["SignatureVersion"]))


def _huawei(change: Change, signing: Signing | None) -> bytes:
    """``time`` (milliseconds) dates each notification."""
    assert signing is not None, "huawei callbacks are signed: the soak needs its signing server"
    envelope = payloads.huawei(change.obj, alarm=change.firing, time_ms=change.event_at * 1000,
                               cert_url=signing.certificate_url("huawei"))
    return smn.encoded(smn.sign(envelope, signing.server.ca))


SHAPES: dict[str, VendorShape] = {
    "kingsoft": VendorShape("kingsoft", "host", "application/json",
                            lambda c, _: kingsoft(c.obj, state=1 if c.firing else 0, timestamp=c.event_at)),
    "tencent": VendorShape("tencent", "unInstanceId", "application/json", _tencent),
    "aliyun": VendorShape("aliyun", "instanceId", "application/x-www-form-urlencoded",
                          lambda c, _: aliyun(c.obj, state="ALERT" if c.firing else "OK",
                                              timestamp_ms=c.event_at * 1000)),
    "gcp": VendorShape("gcp", "instance_id", "application/json", _gcp),
    "azure": VendorShape("azure", "resource_id", "application/json", _azure,
                         label_value=payloads.azure_resource_id),
    "volcengine": VendorShape("volcengine", "ResourceID", "application/json", _volcengine),
    "aws": VendorShape("aws", "FunctionName", sns.HEADERS["Content-Type"], _aws, signed=True,
                       headers=lambda body: {k: v for k, v in sns.headers_for(json.loads(body)).items()
                                             if k != "Content-Type"}),
    "huawei": VendorShape("huawei", "resource_id", "application/json; charset=UTF-8", _huawei, signed=True,
                          headers=lambda body: {k: v for k, v in smn.headers_for(json.loads(body)).items()
                                                if k != "Content-Type"}),
}
