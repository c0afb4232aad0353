"""Alibaba Cloud CloudMonitor event-rule callbacks (Event Center → system event alert rule → URL callback).

JSON like ``{"product": "ECS", "eventType": "StatusNotification", "name": "Instance:StateChange",
"level": "INFO", "regionId": "cn-hangzhou", "resourceId": "acs:ecs:…:instance/i-bp1…", "instanceName": …,
"content": {"resourceId": "i-bp1…", "state": "Stopping"}, "eventTime": "20181226T220114.058+0800",
"id": …, "status": "Normal", "ruleName": …}``: the event as the product reported it (ECS documents the
same body for its event notifications). Most events never end (a state change, a pre-emption notice),
so their alert resolves itself after :data:`~bridge.vendors.aliyun.common.EVENT_TTL`; an event with a
lifecycle (``Executing`` … ``Executed``) is resolved by the notification that ends it.
"""

from __future__ import annotations

from typing import Any

from bridge.model import Alarm, AlarmState
from bridge.vendors import ParseContext
from bridge.vendors._fields import given_details, local_time, required_text, text
from bridge.vendors.aliyun.common import (
    CONSOLE_URL,
    EVENT_IDENTITY,
    Shape,
    event_name_and_state,
    event_state,
    nested,
    prefixed,
    resource_labels,
    severity,
)


def parse(fields: dict[str, Any], ctx: ParseContext) -> list[Alarm]:
    raw_name = required_text(fields.get("name"), "name")
    product = required_text(fields.get("product"), "product")
    name, lifecycle = event_name_and_state(raw_name, text(fields.get("status")))
    content = nested(fields.get("content"), "content", ctx.max_json_depth)
    dimensions, arn_region = resource_labels(text(fields.get("resourceId")), text(content.get("instanceId")),
                                             text(content.get("resourceId")))
    resource = dimensions.get("instanceId", "")
    unparsed: dict[str, str] = {}
    at = local_time(fields.get("eventTime"), "eventTime", ctx.timezone, unparsed) or ctx.now
    state, expires_at = event_state(lifecycle, at)
    instance_name = text(fields.get("instanceName")) or text(content.get("instanceName"))
    details = {
        "event_id": text(fields.get("id")),
        "event_status": text(fields.get("status")) or lifecycle,
        "event_type": text(fields.get("eventType")),
        "event_name": raw_name if raw_name != name else "",
        "event_time": text(fields.get("eventTime")),
        "event_show_name": text(fields.get("eventRealnameEn")) or text(fields.get("eventRealname")),
        "rule_name": text(fields.get("ruleName")),
        "instance_name": instance_name,
        "region_name": text(fields.get("regionName")),
        "group_id": text(fields.get("groupId")),
        "user_id": text(fields.get("userId")),
        **prefixed("content", content),
    }
    shown = text(content.get("state")) or ("" if lifecycle.lower() == "normal" else lifecycle)
    where = f" on {instance_name or resource}" if instance_name or resource else ""
    return [Alarm(
        vendor="aliyun",
        name=name,
        state=state,
        started_at=at,
        event_at=at,
        resolved_at=at if state is AlarmState.RESOLVED else None,
        namespace=product,
        region=text(fields.get("regionId")) or arn_region,
        policy_id=text(fields.get("ruleName")),
        severity=severity(fields.get("level"), fields.get("curLevel")),
        dimensions=dimensions,
        identity=EVENT_IDENTITY,
        details=given_details(details, unparsed),
        summary=f"{name}{where}" + (f": {shown}" if shown else ""),
        description=f"Alibaba Cloud {product} event {name}{where}"
        + (f" (rule {text(fields.get('ruleName'))})" if text(fields.get("ruleName")) else ""),
        console_url=CONSOLE_URL,
        expires_at=expires_at,
        raw=fields,
    )]


SHAPE = Shape("event-rule callback", ("name", "product"), parse)
