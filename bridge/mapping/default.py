"""The default mapping: a vendor-neutral Alarm becomes an Alertmanager alert.

Labels carry only stable identity (who, what, where); everything that changes while an alarm lasts
goes to annotations, because Alertmanager identifies an alert by its label set. Names are made valid
for Alertmanager 0.25, which checks annotation names with the label-name rule too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from bridge.model import Alarm, AlarmState, Alert, object_key_of

_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
"""Terminal escape sequences (CSI colours and cursor moves, OSC titles and links, two-byte escapes)."""
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f"
                      "\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]")
"""C0 and C1 controls but tab and line feed, DEL, the bidi marks, embeddings, overrides and isolates, and
invisible characters (zero-width space and joiners, word joiner, BOM, soft hyphen, tag characters) that
make two values look the same, e.g. a label ``web-1`` and ``web-\u200b1`` that silences and routes tell apart."""
_LINE_BREAKS = re.compile(r"[\t\n]+")
_UNICODE_LINE_BREAKS = str.maketrans({"\u2028": "\n", "\u2029": "\n"})
"""Unicode's line and paragraph separators, which receivers show as line breaks or not at all."""

CORE_LABELS = ("alertname", "vendor", "cloud_namespace", "region", "policy_id", "severity", "alarm_state")
"""``cloud_namespace`` is the vendor's product (``acs_ecs_dashboard``, ``qce/cvm``). Not ``namespace``:
beside kube-prometheus-stack that means a Kubernetes namespace (its inhibit rules match on it, and the
operator's AlertmanagerConfig matches only its own namespace)."""
RESERVED_LABELS = (*CORE_LABELS, "namespace")
"""Names a dimension may not take: the core labels, and ``namespace``, left to its Kubernetes meaning
(a rule may set it, e.g. ``external_labels: {namespace: <the bridge's namespace>}``)."""
COLLISION_PREFIX = "dim_"
"""Put before a dimension whose name is reserved, so it never overwrites a core label."""
IDENTITY_NAMES = {"cloud_namespace": "namespace"}
"""Core labels hashed into the object key under their 0.1.0 name (when ``cloud_namespace`` was
``namespace``), so that an alarm firing across the upgrade keeps its key and the cloud's recovery
still resolves it."""
MAX_NAME_LENGTH = 128
"""Label and annotation names are cut to this: vendors' own names are under 40 characters."""
MAX_EVENT_LIFETIME = 24 * 3600.0
"""A stateless event (one the vendor never recovers) expires at most this long after its start, whatever
times the payload claims: no vendor's event lasts longer (Tencent's last an hour)."""


@dataclass(frozen=True)
class MappingOptions:
    """What the mapping may be configured with."""

    default_severity: str = "warning"
    severity_by_vendor: Mapping[str, str] = field(default_factory=dict)


def to_alert(alarm: Alarm, options: MappingOptions, now: float) -> Alert:
    """Build the alert for one alarm.

    Times in the future (skewed vendor clocks) are clamped to now, and absurd ones (before 1970,
    overflowed sums) to the epoch, so every alert has a startsAt Alertmanager can parse.
    """
    starts_at = _clamp(alarm.started_at, now)
    ends_at = None
    if alarm.state is AlarmState.RESOLVED:
        ends_at = max(starts_at, _clamp(alarm.resolved_at or now, now))
    labels = labels_for(alarm, options)
    key_labels = labels if alarm.region else {k: v for k, v in labels.items() if k != "region"}
    # what an older version keyed the object on: every label it had (a region from a dimension is new),
    # under the 0.1.0 names (cloud_namespace was namespace)
    key_labels = {IDENTITY_NAMES.get(k, k): v for k, v in key_labels.items()}
    if alarm.occurrence_id:  # keyed on the occurrence since before any release: no former key
        key = former = object_key_of({"vendor": alarm.vendor, "occurrence_id": alarm.occurrence_id})
    else:
        key, former = object_key_of(identity_labels(alarm, key_labels)), object_key_of(key_labels)
    return Alert(
        labels=labels,
        annotations=annotations_for(alarm),
        state=alarm.state,
        starts_at=starts_at,
        event_at=_clamp(alarm.event_at, now),
        ends_at=ends_at,
        generator_url=alarm.console_url,
        expires_at=_expiry(alarm.expires_at, starts_at),
        source_vendor=alarm.vendor,
        source_key=key,
        former_key=former if former != key else "",
    )


def _clamp(ts: float | None, now: float) -> float:
    if ts is None or not math.isfinite(ts) or ts > now:
        return now
    return max(ts, 0.0)


def _expiry(expires_at: float | None, starts_at: float) -> float | None:
    """Clamp an event's expiry like every other time: never before its start, never unbounded."""
    if expires_at is None:
        return None
    latest = starts_at + MAX_EVENT_LIFETIME
    return latest if not math.isfinite(expires_at) else min(max(expires_at, starts_at), latest)


def labels_for(alarm: Alarm, options: MappingOptions) -> dict[str, str]:
    severity = alarm.severity or options.severity_by_vendor.get(alarm.vendor) or options.default_severity
    core = {
        "alertname": alarm.name,
        "vendor": alarm.vendor,
        "cloud_namespace": alarm.namespace,
        "region": alarm.region or region_dimension(alarm.dimensions),
        "policy_id": alarm.policy_id,
        "severity": severity,
        "alarm_state": alarm.alarm_state,
    }
    labels = {k: cleaned for k, v in core.items() if (cleaned := clean_value(v))}
    return {**labels, **dimension_labels(alarm.dimensions)}


def region_dimension(dimensions: Mapping[str, str]) -> str:
    """The region a vendor left out of its top-level field but gave as a ``regionId`` or ``region`` dimension.

    Alibaba API Gateway sends ``regionId=null`` and ``region=cn-shenzhen``; routes and silences match the
    ``region`` label. A region read this way adds no identity (its dimension is a label already), so it is
    left out of the object key: alerts raised before the label existed are still the same object.
    """
    return dimensions.get("regionId", "") or dimensions.get("region", "")


def identity_labels(alarm: Alarm, labels: Mapping[str, str]) -> Mapping[str, str]:
    """The labels that identify the monitored object: all but its display dimensions.

    A vendor names its identity dimensions (:attr:`Alarm.identity`); the labels of the other dimensions
    (a renamable instance name, an IP) are left out, so a rename while the alarm fires keeps its object
    key: the store then resolves the old label set and fires the new one, and the recovery resolves
    whichever fires. When none of the named dimensions is present, every dimension identifies the
    object: leaving them all out could merge two objects into one alert. An alert name that is only display
    text (:attr:`Alarm.name_identifies`) is left out when a ``policy_id`` names the rule.
    """
    if not alarm.name_identifies and labels.get("policy_id"):
        labels = {k: v for k, v in labels.items() if k != "alertname"}
    if alarm.identity is None:
        return labels
    names = dimension_label_names(alarm.dimensions)
    if not any(name in alarm.identity for name in names):
        return labels
    display = {label for name, label in names.items() if name not in alarm.identity}
    return {k: v for k, v in labels.items() if k not in display}


def dimension_labels(dimensions: Mapping[str, str]) -> dict[str, str]:
    """Every non-empty dimension under a label of its own: dropping one would merge two objects."""
    return {label: clean_value(dimensions[name]) for name, label in dimension_label_names(dimensions).items()}


def dimension_label_names(dimensions: Mapping[str, str]) -> dict[str, str]:
    """The label name of each non-empty dimension, by dimension name.

    Names that clean to the same label (``a.b`` and ``a-b``; ``中文`` and ``名称``, both ``unnamed``) are
    told apart the same way in every callback: a name that needs no cleaning keeps it, then the others
    take the cleaned name in the order of their original names, suffixed ``_2``, ``_3``… when taken.
    """
    names = sorted(name for name, value in dimensions.items() if clean_value(value))
    labels = {name: name for name in names if _dimension_label(name) == name}
    taken = set(labels.values())
    for name in names:
        base = _dimension_label(name)
        if base == name:
            continue
        key, count = base, 1
        while key in taken:
            count += 1
            key = f"{base}_{count}"
        labels[name] = key
        taken.add(key)
    return labels


def _dimension_label(name: str) -> str:
    """The valid label name of a dimension; one that names a core label gets a prefix instead."""
    key = label_name(name)
    return COLLISION_PREFIX + key if key in RESERVED_LABELS else key


def annotations_for(alarm: Alarm) -> dict[str, str]:
    annotations = {"summary": alarm.summary, "description": alarm.description}
    for name, value in alarm.details.items():
        annotations.setdefault(label_name(name), value)
    return {k: cleaned for k, v in annotations.items() if (cleaned := clean_value(v, multiline=True))}


@lru_cache(maxsize=4096)
def label_name(name: str) -> str:
    """Make a name valid everywhere: ``^[a-zA-Z_][a-zA-Z0-9_]*$`` and no reserved ``__`` prefix.

    Cached: the same few dozen vendor field names come in every callback.
    """
    cleaned = _INVALID_NAME_CHARS.sub("_", name.strip()[:MAX_NAME_LENGTH]).lstrip("_")
    if not cleaned:
        return "unnamed"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def clean_value(value: str, *, multiline: bool = False) -> str:
    """A value Alertmanager and every receiver can show safely: valid UTF-8 (lone surrogates a JSON body
    may carry are replaced), without terminal escapes, NUL and other control characters, the bidi
    controls that make a value read differently than it is (Trojan Source), or invisible characters.
    ``multiline`` keeps line breaks and tabs (annotations, where U+2028 and U+2029 become line feeds); in
    a label value they become spaces.
    """
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    if not value.isprintable():
        value = _CONTROL.sub("", _ANSI_ESCAPE.sub("", value)).translate(_UNICODE_LINE_BREAKS)
        if not multiline:
            value = _LINE_BREAKS.sub(" ", value)
    return value.strip()

