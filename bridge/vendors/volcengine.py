"""Volcengine / BytePlus Cloud Monitor alarm callbacks (metric alarm strategies and event rules).

A metric callback names the rule once and lists the resources it concerns: ``Resources`` (in alarm),
``RecoveredResources``, ``NoDataResources`` and ``NoDataRecoveredResources``, one list per ``Type``
(Metric, MetricRecovered, MetricsNoData, NoDataRecovered). Every resource becomes its own alert, one per
metric in warning: ``Metrics`` lists the rule's other metrics too, with ``Warning`` false; they neither
fire nor resolve anything (the resource is still in alarm), and the recovery resolves every metric it
lists. Two resources
may share one ``Id`` (the nodes of a Redis instance), so the ``Dimensions`` are part of the object.
``HappenedAt`` reads ``2026-02-26 09:12:09(UTC+08:00)`` in metric callbacks and is Unix seconds in event
callbacks. Event callbacks (``Type`` Event) never recover.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import (
    epoch,
    flat_strings,
    given_details,
    is_json_type,
    load_json,
    local_time,
    obj,
    required_text,
    text,
    type_name,
)

CONSOLE_URL = "https://console.volcengine.com/cloud-monitor/"
EVENT_TTL = 3600.0
"""How long an event alarm fires: Cloud Monitor sends nothing that ends an event."""

LEVELS = {"critical": "critical", "warning": "warning", "notice": "info", "info": "info"}


@dataclass(frozen=True)
class _List:
    """One of a metric callback's resource lists: what its resources mean, and where their metrics are."""

    field: str
    state: AlarmState
    no_data: bool
    metrics: tuple[str, ...]


LISTS = (
    _List("Resources", AlarmState.FIRING, False, ("Metrics",)),
    _List("RecoveredResources", AlarmState.RESOLVED, False, ("Metrics",)),
    _List("NoDataResources", AlarmState.FIRING, True, ("NoDataMetrics", "Metrics")),
    _List("NoDataRecoveredResources", AlarmState.RESOLVED, True, ("DroppedMetrics", "NoDataMetrics", "Metrics")),
)
"""Each list is read whatever ``Type`` says, so a callback that carries two of them loses nothing."""
METRIC_TYPES = frozenset({"Metric", "MetricRecovered", "MetricsNoData", "NoDataRecovered"})
DISPLAY_DIMENSIONS = frozenset({"ResourceName", "ProjectName"})
"""The resource's editable name and project: labels, but not part of its identity."""
_UTC_OFFSET = re.compile(r"UTC\s*([+-]\d{1,2}(?::?\d{2})?)?")


class Volcengine:
    name = "volcengine"

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        if not is_json_type(content_type):
            raise UnsupportedMediaType(f"volcengine sends application/json, not {content_type}")
        payload = obj(load_json(body, ctx.max_json_depth), "body")
        kind = required_text(payload.get("Type"), "Type")
        if kind == "Event":
            alarms = _event_alarms(payload, ctx)
        elif kind in METRIC_TYPES:
            alarms = _metric_alarms(payload, ctx)
        else:
            raise InvalidPayload(f"Type: must be Metric, MetricRecovered, MetricsNoData, NoDataRecovered or Event, "
                                 f"got {kind[:32]!r}")
        return Callback(alarms=alarms, reply={"status": "ok"})

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok"}


def _metric_alarms(payload: dict[str, Any], ctx: ParseContext) -> list[Alarm]:
    unparsed: dict[str, str] = {}
    happened = happened_at(payload.get("HappenedAt"), ctx, unparsed)
    alarms: list[Alarm] = []
    for kind in LISTS:
        resources = payload.get(kind.field)
        if resources is None:
            continue
        if not isinstance(resources, list):
            raise InvalidPayload(f"{kind.field}: must be an array, got {type_name(resources)}")
        for index, item in enumerate(resources):
            resource = obj(item, f"{kind.field}[{index}]")
            alarms.extend(_resource_alarms(payload, kind, resource, f"{kind.field}[{index}]", happened,
                                           dict(unparsed), ctx))
    if not alarms:  # accepting it would record nothing, and the alarm would be lost
        raise InvalidPayload("Resources, RecoveredResources, NoDataResources, NoDataRecoveredResources: "
                             "all missing or empty")
    return alarms


def _resource_alarms(payload: dict[str, Any], kind: _List, resource: dict[str, Any], where: str,
                     happened: float | None, unparsed: dict[str, str], ctx: ParseContext) -> list[Alarm]:
    listed = _metrics(resource, kind, where)
    metrics = listed or [{"Name": required_text(payload.get("RuleName"), "RuleName")}]
    if kind.state is AlarmState.FIRING:  # the rule's other metrics are listed too, with Warning false
        metrics = [m for m in metrics if m.get("Warning") is not False] or metrics
    dimensions = resource_dimensions(resource, where)
    dimensions.setdefault("sub_namespace", text(payload.get("SubNamespace")))
    dimensions = {k: v for k, v in dimensions.items() if v}
    first = epoch(resource.get("FirstAlertTime"), f"{where}.FirstAlertTime", unparsed)
    last = epoch(resource.get("LastAlertTime"), f"{where}.LastAlertTime", unparsed)
    at = happened or last or ctx.now
    started = min(first or at, at)
    name = text(resource.get("Name")) or text(resource.get("Id"))
    alarms = []
    for metric in metrics:
        metric_name = text(metric.get("Name"))
        shown = text(metric.get("Description")) or text(metric.get("DescriptionCN")) or metric_name
        current = _with_unit(metric.get("CurrentValue"), metric)
        details = {
            "rule_name": text(payload.get("RuleName")),
            "rule_condition": text(payload.get("RuleCondition")),
            "trigger_condition": text(metric.get("TriggerCondition")),
            "metric_description": shown if shown != metric_name else "",
            "current_value": current,
            "threshold": _with_unit(metric.get("Threshold"), metric),
            "no_data_reason": text(metric.get("Reason")),
            "resource_name": name,
            "alert_group_id": text(resource.get("AlertGroupId")),
            "account_id": text(payload.get("AccountId")),
        }
        alarms.append(Alarm(
            vendor="volcengine",
            name=metric_name,
            state=kind.state,
            started_at=started,
            event_at=at,
            resolved_at=at if kind.state is AlarmState.RESOLVED else None,
            namespace=text(payload.get("Namespace")),
            region=text(resource.get("Region")),
            policy_id=text(payload.get("RuleId")),
            severity=LEVELS.get(text(payload.get("Level")).lower(), ""),
            alarm_state="insufficient_data" if kind.no_data else "",
            name_identifies=bool(listed),  # a rule's name may be edited; its RuleId identifies it
            dimensions=dimensions,
            identity=frozenset(dimensions) - DISPLAY_DIMENSIONS,
            details=given_details(details, unparsed),
            summary=f"{shown} on {name}" + (f": {current}" if current and not kind.no_data else "")
            + (" (no data)" if kind.no_data else ""),
            description=f"Volcengine Cloud Monitor rule {text(payload.get('RuleName')) or '?'}: {shown} on {name}",
            console_url=CONSOLE_URL,
            raw=payload,
        ))
    return alarms


def _with_unit(value: Any, metric: dict[str, Any]) -> str:
    """``90.5 %``; empty when there is no value."""
    shown = text(value)
    return " ".join(filter(None, (shown, text(metric.get("Unit"))))) if shown else ""


def _metrics(resource: dict[str, Any], kind: _List, where: str) -> list[dict[str, Any]]:
    """The resource's metrics with a name, from the first of the list's metric fields that has any.
    None: the alert is named after the rule."""
    for field in kind.metrics:
        value = resource.get(field)
        if value is None:
            continue
        if not isinstance(value, list):
            raise InvalidPayload(f"{where}.{field}: must be an array, got {type_name(value)}")
        named = [obj(m, f"{where}.{field}") for m in value]
        named = [m for m in named if text(m.get("Name"))]
        if named:
            return named
    return []


def resource_dimensions(resource: dict[str, Any], where: str) -> dict[str, str]:
    """``Dimensions`` [{Name, Value}] as a map, the resource ``Id`` as ``ResourceID`` when no dimension
    carries it, and its display name and project."""
    raw = resource.get("Dimensions")
    if raw is not None and not isinstance(raw, list):
        raise InvalidPayload(f"{where}.Dimensions: must be an array, got {type_name(raw)}")
    dimensions: dict[str, str] = {}
    for item in raw or []:
        if isinstance(item, dict) and text(item.get("Name")):
            dimensions.setdefault(text(item.get("Name")), text(item.get("Value")))
    resource_id = text(resource.get("Id"))
    if resource_id and resource_id not in dimensions.values():
        dimensions.setdefault("ResourceID", resource_id)
    for key, field in (("ResourceName", "Name"), ("ProjectName", "ProjectName")):
        dimensions.setdefault(key, text(resource.get(field)))
    return dimensions


def happened_at(value: Any, ctx: ParseContext, unparsed: dict[str, str]) -> float | None:
    """``2026-02-26 09:12:09(UTC+08:00)``, an ISO time, or Unix seconds; None if unreadable (then the
    resource's ``LastAlertTime``, else the arrival time, stands in)."""
    given = raw = text(value)
    stamp, paren, zone = raw.removesuffix(")").rpartition("(")
    match = _UTC_OFFSET.fullmatch(zone.strip()) if paren and raw.endswith(")") else None
    if match:  # split at the last "(", never a regex over the whole text: that backtracked quadratically
        offset = match.group(1) or "+00:00"
        if ":" not in offset and len(offset) <= 3:  # "+8" → "+08:00"
            offset = f"{offset[0]}{offset[1:].zfill(2)}:00"
        raw = stamp.strip() + offset
    result = local_time(raw, "HappenedAt", ctx.timezone, unparsed)
    if "HappenedAt" in unparsed:
        unparsed["HappenedAt"] = given[:128]
    return result


def _event_alarms(payload: dict[str, Any], ctx: ParseContext) -> list[Alarm]:
    event_type = required_text(payload.get("EventType"), "EventType")
    unparsed: dict[str, str] = {}
    at = happened_at(payload.get("HappenedAt"), ctx, unparsed) or ctx.now
    details_obj = obj(payload.get("Details"), "Details", required=False)
    resource = text(details_obj.get("volcresourcename")) or text(details_obj.get("subject"))
    dimensions = {k: v for k, v in {"resource": resource, "source": text(payload.get("Source")),
                                    "ProjectName": text(payload.get("ProjectName"))}.items() if v}
    rules = payload.get("Rules")
    rules = [rules] if isinstance(rules, dict) else rules if isinstance(rules, list) else []
    rules = [rule for rule in rules if isinstance(rule, dict)] or [{}]
    description = text(payload.get("Description")) or text(payload.get("DescriptionCN"))
    data = obj(details_obj.get("data"), "Details.data", required=False)
    content = {f"data_{k}": v[:4096] for k, v in list(flat_strings(data).items())[:32]}
    alarms = []
    for rule in rules:
        details = {"event_id": text(payload.get("Id")), "event_description": description,
                   "rule_name": text(rule.get("RuleName")), "account_id": text(payload.get("AccountId")), **content}
        alarms.append(Alarm(
            vendor="volcengine",
            name=event_type,
            state=AlarmState.FIRING,
            started_at=at,
            event_at=at,
            namespace=text(payload.get("Source")),
            region=text(payload.get("Region")) or text(details_obj.get("volcregion")),
            policy_id=text(rule.get("RuleId")),
            severity=LEVELS.get(text(rule.get("Level")).lower(), ""),
            dimensions=dimensions,
            identity=frozenset(dimensions) - DISPLAY_DIMENSIONS,
            details=given_details(details, unparsed),
            summary=(description or event_type) + (f" on {resource}" if resource else ""),
            description=f"Volcengine event {event_type}" + (f" (rule {text(rule.get('RuleName'))})"
                                                            if text(rule.get("RuleName")) else ""),
            console_url=CONSOLE_URL,
            expires_at=min(at, ctx.now) + EVENT_TTL,
            raw=payload,
        ))
    return alarms


VENDOR = Volcengine()
