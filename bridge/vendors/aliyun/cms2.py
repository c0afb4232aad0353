"""Alibaba Cloud CloudMonitor 2.0 webhooks (workspace → Alert Center → notification object → custom webhook).

CloudEvents-like JSON: ``specversion``, ``id``, ``type``, ``subtype`` (``NORMAL_TRIGGER``,
``NORMAL_RESOLVE``), ``time`` (ISO 8601) and ``timestamp`` (milliseconds), ``subject`` (the alert's
title), ``severity``, ``status`` (``OCCURRED`` or ``PERSISTENT`` while firing, ``RESOLVED`` or
``RECOVERED`` when it ends), ``ruleId``, ``alertMessage``, ``resource.entity`` (``domain``,
``entity_type``, ``entity_id``, ``prop``), ``resource.tags``, ``labels``, ``annotations`` and ``data``
(``value``, ``threshold``, ``comparisonOperator``). Recoveries arrive only when the rule's recovery
notification is enabled.

The object is named by the ``labels`` (the rule's series) and the entity. ``resource.tags`` are labels
too, since routes are written against them, but users edit them: a tag changed while the alert fires
gives the same object a new label set, not a second alert.
"""

from __future__ import annotations

from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload
from bridge.vendors import ParseContext
from bridge.vendors._fields import (
    epoch,
    flat_strings,
    given_details,
    local_time,
    obj,
    required_text,
    text,
)
from bridge.vendors.aliyun.common import Shape, json_text, prefixed, severity

CONSOLE_URL_2 = "https://cmsnext.console.aliyun.com/"
"""The 2.0 console; the alert's own links (history, rule, entity) are annotations, never the generatorURL:
a value Alertmanager cannot parse as a URL would make it refuse the alert."""
_STATES = {"OCCURRED": AlarmState.FIRING, "PERSISTENT": AlarmState.FIRING, "TRIGGERED": AlarmState.FIRING,
           "FIRING": AlarmState.FIRING, "RESOLVED": AlarmState.RESOLVED, "RECOVERED": AlarmState.RESOLVED}
REGION_LABELS = ("_cms_region", "regionId", "region")
"""Where 2.0 puts the region: the ``_cms_region`` label, or a ``regionId``/``region`` label or tag."""


def parse(fields: dict[str, Any], ctx: ParseContext) -> list[Alarm]:
    status = required_text(fields.get("status"), "status").upper()
    if status not in _STATES:
        raise InvalidPayload(f"status: must be OCCURRED, PERSISTENT, RESOLVED or RECOVERED, got {status[:32]!r}")
    state = _STATES[status]
    labels = flat_strings(obj(fields.get("labels"), "labels", required=False))
    name = required_text(labels.pop("alertname", "") or fields.get("subject"), "subject")
    resource = obj(fields.get("resource"), "resource", required=False)
    entity = obj(resource.get("entity"), "resource.entity", required=False)
    tags = flat_strings(obj(resource.get("tags"), "resource.tags", required=False))
    entity_ids = {"entity_type": text(entity.get("entity_type")) or text(entity.get("entityType")),
                  "entity_id": text(entity.get("entity_id")) or text(entity.get("entityId"))}
    dimensions = {**tags, **labels, **{k: v for k, v in entity_ids.items() if v}}
    unparsed: dict[str, str] = {}
    at = (epoch(fields.get("timestamp"), "timestamp", unparsed)
          or local_time(fields.get("time"), "time", ctx.timezone, unparsed) or ctx.now)
    data = obj(fields.get("data"), "data", required=False)
    annotations = flat_strings(obj(fields.get("annotations"), "annotations", required=False))
    threshold = " ".join(filter(None, (text(data.get("comparisonOperator")), text(data.get("threshold")))))
    prop = obj(entity.get("prop"), "resource.entity.prop", required=False)
    details = {
        "alert_message": text(fields.get("alertMessage")),
        "current_value": text(data.get("value")),
        "threshold": threshold,
        "alert_status": status,
        "alert_subtype": text(fields.get("subtype")),
        "alert_type": text(fields.get("type")),
        "alert_title": text(fields.get("subject")),
        "event_id": text(fields.get("id")),
        "trace_id": text(fields.get("traceId")),
        "workspace": text(fields.get("workspace")),
        "alert_entity_id": text(fields.get("alertEntityId")),
        "user_id": text(fields.get("userId")),
        "alert_history_url": text(fields.get("alertHistoryUrl")),
        "alert_rule_url": text(fields.get("alertRuleUrl")) or text(fields.get("ruleUrl")),
        "entity_url": text(fields.get("entityUrl")),
        **prefixed("entity", prop),
        **prefixed("field", obj(fields.get("alertEntityFields"), "alertEntityFields", required=False)),
        "data": json_text({k: v for k, v in data.items() if k not in ("value", "threshold", "comparisonOperator")}),
        **annotations,  # the rule's own annotations: its author's words win over the bridge's
    }
    shown = text(prop.get("instanceName")) or entity_ids["entity_id"]
    where = f" on {shown}" if shown else ""
    region = next((dimensions[k] for k in REGION_LABELS if dimensions.get(k)), "")
    return [Alarm(
        vendor="aliyun",
        name=name,
        state=state,
        started_at=at,
        event_at=at,
        resolved_at=at if state is AlarmState.RESOLVED else None,
        namespace=text(entity.get("domain")),
        region=region,
        policy_id=text(fields.get("ruleId")),
        severity=severity(fields.get("severity")),
        dimensions=dimensions,
        identity=frozenset(k for k in dimensions if k not in tags or k in labels or k in entity_ids),
        details=given_details(details, unparsed),
        summary=f"{name}{where}" + (f": {text(data.get('value'))}" if text(data.get("value")) else ""),
        description=text(fields.get("alertMessage")) or f"Alibaba Cloud CloudMonitor 2.0 alert {name}{where}",
        console_url=CONSOLE_URL_2,
        raw=fields,
    )]


SHAPE = Shape("CloudMonitor 2.0 webhook", ("specversion",), parse)
