"""Alibaba Cloud CloudMonitor notification-policy / event-subscription pushes (Event Subscription → push
channel of type webhook, and the notification policies that share its format).

JSON, or form fields whose objects are JSON text: ``alert`` (``alertStatus`` TRIGGERED or RESOLVED,
``source`` such as ``SYS_EVENT``, ``eventName``, ``product``, ``severity``, ``arn``, ``timestamp`` in
milliseconds, ``eventRawContent`` as a JSON string, ``meta.sysEventMeta``), plus ``subscription``,
``strategyName``, ``batchId``, ``userInfo``, ``time`` and, in notification policies, ``groupingId``,
``startTime``, ``escalationLevel`` and ``relatedAlertIds``. A system event that has no end resolves
itself as the event-rule callback's do; a threshold alarm pushed this way carries ``metricName`` and
``dimensions`` (CloudMonitor's alert model) and is resolved by its RESOLVED push. ``userInfo`` (account
and login names) is left out of everything, templates' ``payload`` included.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload
from bridge.vendors import ParseContext
from bridge.vendors._fields import epoch, given_details, local_time, required_text, text
from bridge.vendors.aliyun.common import (
    CONSOLE_URL,
    EVENT_IDENTITY,
    Shape,
    event_name_and_state,
    event_state,
    json_text,
    lenient_nested,
    nested,
    prefixed,
    present,
    resource_labels,
    severity,
)
from bridge.vendors.aliyun.threshold import parse_dimensions

_STATES = {"TRIGGERED": AlarmState.FIRING, "RESOLVED": AlarmState.RESOLVED}


def parse(fields: dict[str, Any], ctx: ParseContext) -> list[Alarm]:
    alert = nested(fields.get("alert"), "alert", ctx.max_json_depth)
    status = required_text(alert.get("alertStatus"), "alert.alertStatus").upper()
    if status not in _STATES:
        raise InvalidPayload(f"alert.alertStatus: must be TRIGGERED or RESOLVED, got {status[:32]!r}")
    meta = alert.get("meta")
    event_meta = meta.get("sysEventMeta") if isinstance(meta, dict) else None
    event_meta = event_meta if isinstance(event_meta, dict) else {}
    subscription = nested(fields.get("subscription"), "subscription", ctx.max_json_depth)
    unparsed: dict[str, str] = {}
    at = (epoch(alert.get("timestamp"), "alert.timestamp", unparsed)
          or local_time(event_meta.get("eventTime"), "alert.meta.sysEventMeta.eventTime", ctx.timezone, unparsed)
          or epoch(fields.get("time"), "time", unparsed) or ctx.now)
    started = epoch(fields.get("startTime"), "startTime", unparsed) or at
    common = {
        "strategy_name": text(fields.get("strategyName")),
        "batch_id": text(fields.get("batchId")),
        "grouping_id": text(fields.get("groupingId")),
        "escalation_level": text(fields.get("escalationLevel")),
        "related_alert_ids": json_text(fields.get("relatedAlertIds")),
        "dedup_id": text(alert.get("dedupId")),
        "trace_id": text(alert.get("traceId")),
        "alert_source": text(alert.get("source")),
        "group_id": text(alert.get("groupId")),
        "user_id": text(alert.get("userId")) or text(fields.get("userId")),
    }
    level = severity(alert.get("severity"), event_meta.get("level"), fields.get("severity"))
    policy = text(alert.get("ruleId")) or text(subscription.get("subscriptionUuid"))
    raw = {**{k: v for k, v in fields.items() if k != "userInfo"}, "alert": alert, "subscription": subscription}
    if _is_metric(alert):
        alarm = _metric(alert, status, started, at, level, policy, common, unparsed, ctx)
    else:
        alarm = _event(alert, event_meta, status, started, at, level, policy, common, unparsed, ctx)
    return [replace(alarm, raw=raw)]


def _is_metric(alert: dict[str, Any]) -> bool:
    """A threshold alarm: it names a metric and does not come from an event source (``SYS_EVENT``,
    ``CUSTOM_EVENT``). Its ``eventName`` is no event: CloudMonitor's alert history gives metric alarms
    event names such as ``AlertOk``."""
    return present(alert.get("metricName")) and "EVENT" not in text(alert.get("source")).upper()


def _event(alert: dict[str, Any], meta: dict[str, Any], status: str, started: float, at: float, level: str,
           policy: str, common: dict[str, str], unparsed: dict[str, str], ctx: ParseContext) -> Alarm:
    raw_name = text(alert.get("eventName")) or text(meta.get("name")) or text(meta.get("eventNameEn"))
    raw_name = required_text(raw_name, "alert.eventName")
    name, lifecycle = event_name_and_state(raw_name, text(meta.get("status")))
    content = lenient_nested(alert.get("eventRawContent"), "alert.eventRawContent", ctx.max_json_depth)
    dimensions, arn_region = resource_labels(text(alert.get("arn")) or text(meta.get("resourceId")),
                                             text(content.get("instanceId")), text(content.get("resourceId")))
    resource = dimensions.get("instanceId", "")
    if _STATES[status] is AlarmState.RESOLVED:
        state, expires_at = AlarmState.RESOLVED, None
    else:
        state, expires_at = event_state(lifecycle, at)
    product = text(alert.get("product")) or text(meta.get("product"))
    instance_name = text(meta.get("instanceName")) or text(content.get("instanceName"))
    extra = alert.get("eventContentMap")
    details = {
        **common,
        "event_id": text(meta.get("id")),
        "event_status": text(meta.get("status")) or lifecycle,
        "event_type": text(alert.get("eventType")) or text(meta.get("eventType")),
        "event_name": raw_name if raw_name != name else "",
        "event_show_name": text(meta.get("eventNameZh")),
        "event_time": text(meta.get("eventTime")),
        "instance_name": instance_name,
        "region_name": text(meta.get("regionNameEn")),
        **prefixed("content", content),
        **prefixed("event_content", extra if isinstance(extra, dict) else {}),
    }
    where = f" on {instance_name or resource}" if instance_name or resource else ""
    return Alarm(
        vendor="aliyun",
        name=name,
        state=state,
        started_at=min(started, at),
        event_at=at,
        resolved_at=at if state is AlarmState.RESOLVED else None,
        namespace=product,
        region=text(meta.get("regionId")) or text(content.get("regionId")) or arn_region,
        policy_id=policy,
        severity=level,
        dimensions=dimensions,
        identity=EVENT_IDENTITY,
        details=given_details(details, unparsed),
        summary=f"{name}{where}",
        description=f"Alibaba Cloud {product or 'CloudMonitor'} event {name}{where}"
        + (f" (subscription {common['strategy_name']})" if common["strategy_name"] else ""),
        console_url=CONSOLE_URL,
        expires_at=expires_at,
    )


def _metric(alert: dict[str, Any], status: str, started: float, at: float, level: str, policy: str,
            common: dict[str, str], unparsed: dict[str, str], ctx: ParseContext) -> Alarm:
    metric = required_text(alert.get("metricName"), "alert.metricName")
    dimensions = parse_dimensions(alert.get("dimensions"), ctx.max_json_depth)
    from_arn, arn_region = resource_labels(text(alert.get("arn")))
    if "instanceId" in from_arn and "instanceId" not in dimensions:
        dimensions["instanceId"] = from_arn["instanceId"]
    state = _STATES[status]
    instance = text(alert.get("instanceName")) or dimensions.get("instanceId", "")
    current = text(alert.get("curValue")) or text(alert.get("value"))
    details = {
        **common,
        "rule_name": text(alert.get("ruleName")) or text(alert.get("alertName")),
        "expression": text(alert.get("expression")),
        "current_value": current,
        "instance_name": text(alert.get("instanceName")),
        "level_change": text(alert.get("levelChange")),
    }
    title = details["rule_name"] or metric
    where = f" on {instance}" if instance else ""
    return Alarm(
        vendor="aliyun",
        name=metric,
        state=state,
        started_at=min(started, at),
        event_at=at,
        resolved_at=at if state is AlarmState.RESOLVED else None,
        namespace=text(alert.get("namespace")) or text(alert.get("product")),
        region=text(alert.get("regionId")) or arn_region or dimensions.get("regionId", ""),
        policy_id=policy,
        severity=level,
        dimensions=dimensions,
        details=given_details(details, unparsed),
        summary=f"{title}{where}" + (f": {current}" if current else ""),
        description=f"Alibaba Cloud CloudMonitor rule {title}: {details['expression'] or metric}{where}",
        console_url=CONSOLE_URL,
    )


SHAPE = Shape("notification-policy push", ("alert",), parse)
