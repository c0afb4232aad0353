"""Tencent Cloud Monitor callbacks: the 2018 format and the current metric and event formats.

Times carry no zone (the vendor's zone, Asia/Shanghai by default); ``alarmStatus`` arrives as 1/0 or
"1"/"0"; "-" marks a stateless EventBridge event that never recovers. Events routed through EventBridge
may carry no ``policyId``. A multi-level policy names the level in ``alertId`` (``<sessionId>_Serious``).
``objName``, ``deviceName`` and ``objDetail`` are display text, not identity. The reply must echo the
``sessionId`` with ``retCode`` 0, or older Tencent senders retry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import (
    flat_strings,
    is_json_type,
    load_json,
    local_time,
    number,
    obj,
    required_text,
    text,
    unparsed_details,
)

CONSOLE_URL = "https://console.cloud.tencent.com/monitor/alarm/policy"
STATELESS_EVENT_TTL = 3600.0
"""How long a stateless event ("-") stays firing; Tencent never sends its recovery."""

DISPLAY_DIMENSIONS = frozenset({"objName", "deviceName", "objDetail"})
"""Dimensions that describe the object rather than identify it: ``objName`` is what the alarm SMS shows
(``172.21.30.15#588789``, ``cdb-59ds6dfv(instance name:…,IP:…)``), ``deviceName`` the editable instance
name, and ``objDetail`` (flattened) the event object's IPs, VPC and names. They stay labels, but are left
out of the object's identity, so a rename or a new IP while the alarm fires does not make a second alert."""

LEVELS = {"remind": "info", "warn": "warning", "serious": "critical"}
"""A multi-level policy's levels (Remind, Warn, Serious), read from the ``alertId`` suffix
(``<sessionId>_<level>``). Other alarms take the configured default severity."""

_STATES = {"1": AlarmState.FIRING, "0": AlarmState.RESOLVED, "-": AlarmState.FIRING}


class Tencent:
    name = "tencent"

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        if not is_json_type(content_type):
            raise UnsupportedMediaType(f"tencent sends application/json, not {content_type}")
        payload = obj(load_json(body, ctx.max_json_depth), "body")
        reply = {"sessionId": text(payload.get("sessionId")), "retCode": 0}
        return Callback(alarms=list(self._alarms(payload, ctx)), reply=reply)

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"sessionId": query.get("sessionId", ""), "retCode": 0}

    def _alarms(self, payload: dict[str, Any], ctx: ParseContext) -> list[Alarm]:
        status = text(payload.get("alarmStatus"))
        if status not in _STATES:
            raise InvalidPayload(f"alarmStatus: must be 1, 0 or '-', got {status[:32]!r}" if status
                                 else "alarmStatus: missing")
        alarm_type = text(payload.get("alarmType")) or "metric"
        target = obj(payload.get("alarmObjInfo"), "alarmObjInfo", required=False)
        policy = obj(payload.get("alarmPolicyInfo"), "alarmPolicyInfo")
        raw_conditions = policy.get("conditions")
        conditions = raw_conditions if isinstance(raw_conditions, list) else [raw_conditions]
        if not conditions:  # accepting it would record nothing, and the alarm would be lost
            raise InvalidPayload("alarmPolicyInfo.conditions: empty, so no metric or event name")
        return [
            self._alarm(payload, status, alarm_type, target, policy,
                        obj(cond, "alarmPolicyInfo.conditions"), ctx)
            for cond in conditions
        ]

    def _alarm(self, payload: dict[str, Any], status: str, alarm_type: str, target: dict[str, Any],
               policy: dict[str, Any], cond: dict[str, Any], ctx: ParseContext) -> Alarm:
        name_field = "eventName" if alarm_type == "event" or "eventName" in cond else "metricName"
        name = required_text(cond.get(name_field), f"alarmPolicyInfo.conditions.{name_field}")
        unparsed: dict[str, str] = {}
        first, duration, recovered = _timing(payload, policy, ctx, unparsed)
        state = _STATES[status]
        event_at = first + (duration or 0.0)
        if state is AlarmState.RESOLVED:
            recovered = recovered or ctx.now
            event_at = max(event_at, recovered)
        show_name = text(cond.get("metricShowName")) or text(cond.get("eventShowName")) or name
        raw_dimensions = obj(target.get("dimensions"), "alarmObjInfo.dimensions", required=False)
        dimensions = flat_strings(raw_dimensions)
        details = {**_details(policy, cond, duration, payload), **unparsed_details(unparsed)}
        obj_name = dimensions.get("objName") or dimensions.get("unInstanceId") or dimensions.get("objId", "")
        return Alarm(
            vendor=self.name,
            name=name,
            state=state,
            started_at=first,
            event_at=event_at,
            resolved_at=recovered if state is AlarmState.RESOLVED else None,
            namespace=text(target.get("namespace")) or text(cond.get("productName")),
            region=text(target.get("region")),
            policy_id=text(policy.get("policyId")),
            severity=level_severity(payload),
            dimensions=dimensions,
            identity=identity_dimensions(raw_dimensions),
            details=details,
            summary=_summary(show_name, obj_name, cond),
            description=f"Tencent Cloud policy {text(policy.get('policyName')) or '?'}: {show_name}"
            + (f" on {obj_name}" if obj_name else ""),
            console_url=CONSOLE_URL,
            expires_at=min(first, ctx.now) + STATELESS_EVENT_TTL if status == "-" else None,
            raw=payload,
        )


def level_severity(payload: dict[str, Any]) -> str:
    """The severity of a multi-level policy's alarm: ``alertId`` is ``<sessionId>_<level>`` there, and
    equals ``sessionId`` otherwise (then the configured default applies)."""
    _, sep, level = text(payload.get("alertId")).rpartition("_")
    return LEVELS.get(level.lower(), "") if sep else ""


def identity_dimensions(raw: dict[str, Any]) -> frozenset[str]:
    """The (flattened) dimensions that identify the object: all but :data:`DISPLAY_DIMENSIONS`.

    Unknown dimensions identify, so that two objects of a product not listed here never merge.
    """
    return frozenset(flat_strings({k: v for k, v in raw.items() if k not in DISPLAY_DIMENSIONS}))


def _timing(payload: dict[str, Any], policy: dict[str, Any], ctx: ParseContext, unparsed: dict[str, str]
            ) -> tuple[float, float | None, float | None]:
    """First occurrence, duration and recovery; the 2018 format nests them in alarmPolicyInfo.

    An unreadable time counts as absent (the arrival time stands in) and is added to ``unparsed``.
    """

    def field(key: str) -> Any:
        return payload[key] if key in payload else policy.get(key)

    first = local_time(field("firstOccurTime"), "firstOccurTime", ctx.timezone, unparsed)
    duration = number(field("durationTime"))
    recovered = local_time(field("recoverTime"), "recoverTime", ctx.timezone, unparsed)
    if first is None:
        first = ctx.now - (duration or 0.0)
    return first, duration, recovered


def _details(policy: dict[str, Any], cond: dict[str, Any], duration: float | None,
             payload: dict[str, Any]) -> dict[str, str]:
    threshold = " ".join(filter(None, (text(cond.get("calcType")), text(cond.get("calcValue")),
                                       text(cond.get("calcUnit")) or text(cond.get("unit")))))
    details = {
        "policy_name": text(policy.get("policyName")),
        "policy_type": text(policy.get("policyType")),
        "policy_type_name": text(policy.get("policyTypeCName")) or text(policy.get("policyTypeEname")),
        "metric_show_name": text(cond.get("metricShowName")),
        "event_show_name": text(cond.get("eventShowName")),
        "product_name": text(cond.get("productShowName")) or text(cond.get("productName")),
        "current_value": " ".join(filter(None, (text(cond.get("currentValue")), text(cond.get("unit"))))),
        "threshold": threshold,
        "period_seconds": text(cond.get("period")),
        "period_count": text(cond.get("periodNum")),
        "duration_seconds": text(duration),
        "notify_type": text(cond.get("alarmNotifyType")),
        "notify_period_seconds": text(cond.get("alarmNotifyPeriod")),
        "alert_id": text(payload.get("alertId")),
    }
    extra = payload.get("additionalMsg")
    if isinstance(extra, list) and extra:
        details["additional_msg"] = json.dumps(extra, ensure_ascii=False)[:4096]
    return {k: v for k, v in details.items() if v}


def _summary(show_name: str, obj_name: str, cond: dict[str, Any]) -> str:
    where = f" on {obj_name}" if obj_name else ""
    current = text(cond.get("currentValue"))
    if not current:
        return f"{show_name}{where}"
    unit = text(cond.get("unit"))
    limit = " ".join(filter(None, (text(cond.get("calcType")), text(cond.get("calcValue")))))
    return f"{show_name}{where}: {current}{unit}" + (f" ({limit}{unit})" if limit else "")


VENDOR = Tencent()
