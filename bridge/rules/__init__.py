"""Mapping rules from the configuration file: external labels, relabeling and annotation templates.

They shape an alert after the default mapping. The object key is computed by the mapping *before*
relabeling, so rules never hide an alert from the recovery that belongs to it, whatever they did to its
labels or however they changed since it fired.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from bridge.mapping.default import COLLISION_PREFIX, MappingOptions
from bridge.model import Alarm, AlarmState, Alert
from bridge.rules.relabel import RelabelConfig, relabel
from bridge.rules.templates import AnnotationTemplate, render_annotations

DROPPED_REASON = "Resolved by the bridge: the vendor's latest notification for it is dropped by alert_relabel_configs"


@dataclass(frozen=True)
class Rules:
    """Everything that shapes an alarm into an alert beyond the built-in mapping. Immutable: a reload
    builds a new one."""

    default_severity: str = "warning"
    severity_by_vendor: Mapping[str, str] = field(default_factory=dict)
    external_labels: Mapping[str, str] = field(default_factory=dict)
    relabel_configs: tuple[RelabelConfig, ...] = ()
    vendor_relabel_configs: Mapping[str, tuple[RelabelConfig, ...]] = field(default_factory=dict)
    annotation_templates: tuple[AnnotationTemplate, ...] = ()

    @property
    def mapping(self) -> MappingOptions:
        return MappingOptions(default_severity=self.default_severity, severity_by_vendor=self.severity_by_vendor)

    def configs_for(self, vendor: str) -> tuple[RelabelConfig, ...]:
        """The vendor's own rules first (normalise its labels), then the global ones."""
        return self.vendor_relabel_configs.get(vendor, ()) + self.relabel_configs

    def apply(self, alert: Alert, alarm: Alarm, now: float,
              on_template_error: Callable[[str], None] | None = None) -> Alert:
        """Add external labels, relabel and render templates on the default mapping's ``alert`` of ``alarm``.

        A dropped alarm comes back as a ``resolve_only`` resolution of its object: whatever the bridge
        has firing for that object (fired under older rules, or at another severity) ends, nothing new fires.
        """
        labels = relabel(with_external_labels(alert.labels, self.external_labels), self.configs_for(alarm.vendor))
        if not labels:  # dropped, or nothing left: Alertmanager refuses an alert without labels
            return _dropped(alert, now)
        alert = replace(alert, labels=labels)
        if self.annotation_templates:
            alert = replace(alert, annotations=render_annotations(self.annotation_templates, alert, alarm.vendor,
                                                                   alarm.raw, on_template_error))
        return alert


def with_external_labels(labels: Mapping[str, str], external: Mapping[str, str]) -> dict[str, str]:
    """The operator's external labels win over labels from the payload (SECURITY.md, item 10).

    Unlike Prometheus, whose alert labels come from trusted rule files, here every label but the
    external ones comes from a callback: a dimension named ``cluster`` must not re-route an alert or
    escape a silence on ``cluster``. Its value is kept under ``dim_<name>`` (as for a dimension named
    like a core label), so two objects it tells apart stay two alerts.
    """
    merged = dict(labels)
    for name, value in external.items():
        theirs = merged.get(name)
        if theirs is not None and theirs != value:
            key, count = COLLISION_PREFIX + name, 1
            while key in merged or key in external:
                count += 1
                key = f"{COLLISION_PREFIX}{name}_{count}"
            merged[key] = theirs
        merged[name] = value
    return merged


def _dropped(alert: Alert, now: float) -> Alert:
    if alert.state is AlarmState.RESOLVED:
        return replace(alert, annotations={}, resolve_only=True)
    ends_at = max(alert.starts_at, min(alert.event_at, now))
    return replace(alert, state=AlarmState.RESOLVED, ends_at=ends_at, annotations={"resolved_reason": DROPPED_REASON},
                   resolve_only=True)
