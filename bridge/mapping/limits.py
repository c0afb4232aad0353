"""How big one alert, and one callback, may get: the last step of the mapping.

Too many alarms, dimensions or labels is a 400 (cutting identity would merge distinct objects); a label
value that is too long is cut and marked, and kept whole in an annotation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.mapping.default import label_name
from bridge.model import Alarm, Alert, InvalidPayload
from bridge.settings import Settings

CUT_MARK = "…"
"""Ends a label value that was cut to the length limit; the whole value is in ``<label>_full``."""
FULL_SUFFIX = "_full"


class LimitExceeded(InvalidPayload):
    """An alarm has more dimensions or labels than configured (answered 400, like any bad payload)."""


@dataclass(frozen=True)
class Limits:
    """How big one alert may get; see docs/security.md for why each default."""

    max_dimensions: int = 32
    """Dimensions are the object's identity: cutting some would merge distinct objects, so more is a 400."""
    max_labels: int = 40
    """Labels of one alert: the 7 core labels plus ``max_dimensions``, with one to spare."""
    max_label_value_length: int = 1024
    """Characters; a longer value is cut and marked, and kept whole in an annotation."""
    max_alerts_per_callback: int = 100
    """Alarms in one callback; more is a 400, so a single request cannot flood the store."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_dimensions=settings.max_dimensions, max_labels=settings.max_labels,
                   max_label_value_length=settings.max_label_value_length,
                   max_alerts_per_callback=settings.max_alerts_per_callback)


def check_alarms(alarms: list[Alarm], limits: Limits) -> None:
    """Raise LimitExceeded when a callback carries more alarms, or an alarm more dimensions, than allowed."""
    if len(alarms) > limits.max_alerts_per_callback:
        raise LimitExceeded(f"body: {len(alarms)} alarms in one callback, at most {limits.max_alerts_per_callback} "
                            "accepted")
    for alarm in alarms:
        check_dimensions(alarm, limits)


def check_dimensions(alarm: Alarm, limits: Limits) -> None:
    """Raise LimitExceeded when the alarm names its object with more dimensions than allowed."""
    if len(alarm.dimensions) > limits.max_dimensions:
        raise LimitExceeded(f"dimensions: {len(alarm.dimensions)} given, at most {limits.max_dimensions} accepted")


def within_limits(alert: Alert, limits: Limits) -> Alert:
    """The final alert (after any rules) with long label values cut; LimitExceeded for too many labels."""
    if len(alert.labels) > limits.max_labels:
        raise LimitExceeded(f"labels: the alarm maps to {len(alert.labels)} labels, "
                            f"at most {limits.max_labels} accepted")
    labels, full_values = cut_long_values(alert.labels, limits.max_label_value_length)
    if not full_values:
        return alert
    # a `_full` annotation replaces any vendor detail of the same name
    return replace(alert, labels=labels, annotations={**alert.annotations, **full_values})


def cut_long_values(labels: dict[str, str], limit: int) -> tuple[dict[str, str], dict[str, str]]:
    """Cut values longer than ``limit`` characters and mark them; also return the whole values.

    Cutting whole characters (never bytes) keeps the value valid UTF-8. Two values that differ only
    after the cut become one alert, which is why the limit is far above any real vendor value.
    """
    cut: dict[str, str] = {}
    full: dict[str, str] = {}
    for name, value in labels.items():
        if len(value) > limit:
            cut[name] = value[: max(0, limit - len(CUT_MARK))] + CUT_MARK
            full[label_name(name + FULL_SUFFIX)] = value
        else:
            cut[name] = value
    return cut, full
