"""The two shapes an alarm takes on its way through the bridge.

An :class:`Alarm` is what a vendor said, in vendor-neutral terms (the parse stage's output).
An :class:`Alert` is what Alertmanager will be told (the map stage's output, the store's input).
The errors here are the ones several stages raise and the web tier answers.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Any


class InvalidPayload(ValueError):
    """The callback cannot become alerts; the message names the field and the problem (answered 400)."""


class UnsupportedMediaType(ValueError):
    """The callback's content type is not one this vendor sends (answered 415)."""


class AlarmState(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alarm:
    """One alarm state change as a vendor reported it. Times are Unix seconds (UTC)."""

    vendor: str
    name: str
    state: AlarmState
    started_at: float
    """When the vendor says the alarm first occurred: becomes ``startsAt``."""
    event_at: float
    """The vendor's own time of this notification; orders retries and repeats of one alert."""
    resolved_at: float | None = None
    namespace: str = ""
    region: str = ""
    policy_id: str = ""
    severity: str = ""
    """Empty means the configured default for the vendor."""
    alarm_state: str = ""
    """A vendor state beyond firing/resolved (Alibaba ``insufficient_data``); becomes a label."""
    dimensions: dict[str, str] = field(default_factory=dict)
    identity: frozenset[str] | None = None
    """The dimensions that identify the monitored object (ids); the others are display text (names, IPs)
    that may change while the alarm fires. ``None``: every dimension identifies it. Either way every
    dimension is a label; only the object key (:attr:`Alert.object_key`) is computed from these."""
    name_identifies: bool = True
    """False when :attr:`name` is only display text a user may edit (Volcengine names an alert after its
    rule when the resource lists no metric): then the object key leaves ``alertname`` out as long as
    :attr:`policy_id` names the rule, so a rename while the alarm fires keeps its object."""
    occurrence_id: str = ""
    """The vendor's own id of this occurrence of the alarm, the same in the notice that fires it and the one
    that ends it, whatever else changed between them (Google Cloud's ``incident_id``). When set, the object
    key is the vendor and this id alone (:attr:`identity` is then not used for it): the recovery resolves
    exactly the occurrence it belongs to. The vendor must also make it a dimension, so that two occurrences
    of one time series never share a label set, and so an alert."""
    details: dict[str, str] = field(default_factory=dict)
    """Values that change while the alarm lasts; they become annotations."""
    summary: str = ""
    description: str = ""
    console_url: str = ""
    expires_at: float | None = None
    """For alarms that never recover (stateless events): resolve at this time."""
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    """The decoded vendor payload (secrets removed), for annotation templates; never stored."""


@dataclass(frozen=True)
class Alert:
    """An Alertmanager alert plus what the bridge needs to order and resolve it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlarmState
    starts_at: float
    event_at: float
    ends_at: float | None = None
    generator_url: str = ""
    expires_at: float | None = None
    source_vendor: str = ""
    """The vendor that sent it, whatever rules did to the ``vendor`` label (empty: from the labels)."""
    source_key: str = ""
    """The vendor-side identity, computed by the mapping before any relabeling (empty: from the labels)."""
    former_key: str = ""
    """The object key an older version gave this object (a hash of every label, display text included),
    when it differs from ``source_key``: alerts stored before an upgrade are found under it too, so the
    cloud's recovery still resolves them. Never stored."""
    resolve_only: bool = False
    """Relabeling dropped this alarm: it may end what fires for its object, never fire or add an alert."""

    @property
    def vendor(self) -> str:
        return self.source_vendor or self.labels.get("vendor", "")

    @functools.cached_property
    def fingerprint(self) -> str:
        """The alert's identity: a hash of its label set, as Alertmanager identifies alerts (computed once:
        the store asks for it several times per callback; ``replace`` makes a new alert, computed anew)."""
        return label_hash(self.labels)

    @property
    def object_key(self) -> str:
        """The monitored object and rule, whatever its severity or data state.

        At most one alert per object key fires at a time: an Alibaba level change or a switch to
        INSUFFICIENT_DATA resolves the alert it replaces, and a recovery resolves whichever fires.
        It is the vendor-side identity, so relabeling rules (and changes to them) cannot hide an
        alert from the recovery that belongs to it.
        """
        return self.source_key or object_key_of(self.labels)

    @property
    def object_keys(self) -> tuple[str, ...]:
        """The keys under which the store finds this alert's object: its own, then its former one."""
        return (self.object_key, self.former_key) if self.former_key else (self.object_key,)


VARIANT_LABELS = frozenset({"severity", "alarm_state"})
"""Labels that distinguish variants of one alarm rather than different alarms."""


def object_key_of(labels: Mapping[str, str]) -> str:
    """Hash the labels that name the object and rule (all but the variant labels)."""
    return label_hash({k: v for k, v in labels.items() if k not in VARIANT_LABELS})


json_string: Callable[[str], str] = encode_basestring
"""A string as ``json.dumps(..., ensure_ascii=False)`` writes it (the very function it calls)."""


def label_hash(labels: Mapping[str, str]) -> str:
    """SHA-256 of ``json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))``: the
    stored fingerprints and object keys, so never a byte different. Spelled out with the string encoder
    that call uses (three hashes per alert; json.dumps' set-up cost more than the encoding)."""
    try:
        encoded = "[" + ",".join(f"[{json_string(k)},{json_string(v)}]" for k, v in sorted(labels.items())) + "]"
    except TypeError:  # a value that is not a string: as json.dumps spells it
        encoded = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()[:32]
