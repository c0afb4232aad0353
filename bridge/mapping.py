"""Map a vendor-neutral Alarm to an Alertmanager alert.

Labels carry only stable identity (who, what, where); everything that changes while an alarm lasts
goes to annotations, because Alertmanager identifies an alert by its label set. Names are made valid
for Alertmanager 0.25, which checks annotation names with the label-name rule too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.model import Alarm, AlarmState, Alert, object_key_of

_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")

CORE_LABELS = ("alertname", "vendor", "namespace", "region", "policy_id", "severity", "alarm_state")
COLLISION_PREFIX = "dim_"
"""Put before a dimension whose name is taken by a core label, so it never overwrites one."""


@dataclass(frozen=True)
class MappingOptions:
    """What the mapping may be configured with."""

    default_severity: str = "warning"
    severity_by_vendor: Mapping[str, str] = field(default_factory=dict)


def to_alert(alarm: Alarm, options: MappingOptions, now: float) -> Alert:
    """Build the alert for one alarm; times in the future (skewed vendor clocks) are clamped to now."""
    starts_at = min(alarm.started_at, now)
    ends_at = None
    if alarm.state is AlarmState.RESOLVED:
        ends_at = max(starts_at, min(alarm.resolved_at or now, now))
    labels = labels_for(alarm, options)
    return Alert(
        labels=labels,
        annotations=annotations_for(alarm),
        state=alarm.state,
        starts_at=starts_at,
        event_at=alarm.event_at,
        ends_at=ends_at,
        generator_url=alarm.console_url,
        expires_at=alarm.expires_at,
        source_vendor=alarm.vendor,
        source_key=object_key_of(labels),
    )


def labels_for(alarm: Alarm, options: MappingOptions) -> dict[str, str]:
    severity = alarm.severity or options.severity_by_vendor.get(alarm.vendor) or options.default_severity
    core = {
        "alertname": alarm.name,
        "vendor": alarm.vendor,
        "namespace": alarm.namespace,
        "region": alarm.region,
        "policy_id": alarm.policy_id,
        "severity": severity,
        "alarm_state": alarm.alarm_state,
    }
    labels = {k: clean_value(v) for k, v in core.items() if clean_value(v)}
    for name, value in sorted(alarm.dimensions.items()):
        key = label_name(name)
        if key in CORE_LABELS:
            key = COLLISION_PREFIX + key
        value = clean_value(value)
        if value and key not in labels:
            labels[key] = value
    return labels


def annotations_for(alarm: Alarm) -> dict[str, str]:
    annotations = {"summary": alarm.summary, "description": alarm.description}
    for name, value in alarm.details.items():
        annotations.setdefault(label_name(name), value)
    return {k: clean_value(v) for k, v in annotations.items() if clean_value(v)}


def label_name(name: str) -> str:
    """Make a name valid everywhere: ``^[a-zA-Z_][a-zA-Z0-9_]*$`` and no reserved ``__`` prefix."""
    cleaned = _INVALID_NAME_CHARS.sub("_", name.strip()).lstrip("_")
    if not cleaned:
        return "unnamed"
    return f"_{cleaned}" if cleaned[0].isdigit() else cleaned


def clean_value(value: str) -> str:
    """Label values must be valid UTF-8: replace lone surrogates a JSON body may carry."""
    return value.encode("utf-8", "replace").decode("utf-8").strip()
