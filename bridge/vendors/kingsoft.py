"""Kingsoft Cloud (KSYUN) monitoring callbacks.

``alarmState`` is 1 (alarm) or 0 (restored); ``alarmObjInfo.tag`` is a list of ``key=value`` strings
naming the object; ``alarmPolicyInfo.conditions`` is a list, and each condition becomes its own alert;
``timestamp`` is in seconds. The vendor's own sample has a trailing comma, so JSON is read leniently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import (
    dated_once,
    epoch,
    flat_strings,
    given_details,
    is_json_type,
    load_json,
    obj,
    required_text,
    text,
)

CONSOLE_URL = "https://monitor.console.ksyun.com/"
_STATES = {"1": AlarmState.FIRING, "0": AlarmState.RESOLVED}


class Kingsoft:
    name = "kingsoft"

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        if not is_json_type(content_type):
            raise UnsupportedMediaType(f"kingsoft sends application/json, not {content_type}")
        payload = obj(load_json(body, ctx.max_json_depth), "body")
        status = text(payload.get("alarmState"))
        if status not in _STATES:
            raise InvalidPayload(f"alarmState: must be 1 or 0, got {status[:32]!r}" if status
                                 else "alarmState: missing")
        target = obj(payload.get("alarmObjInfo"), "alarmObjInfo", required=False)
        policy = obj(payload.get("alarmPolicyInfo"), "alarmPolicyInfo")
        conditions = policy.get("conditions")
        if isinstance(conditions, dict):
            conditions = [conditions]
        if not isinstance(conditions, list) or not conditions:
            raise InvalidPayload("alarmPolicyInfo.conditions: missing or empty")
        unparsed: dict[str, str] = {}
        at = epoch(payload.get("timestamp"), "timestamp", unparsed) or ctx.now
        alarms = [
            self._alarm(_STATES[status], at, target, policy,
                        obj(cond, f"alarmPolicyInfo.conditions[{i}]"), payload, i, unparsed)
            for i, cond in enumerate(conditions)
        ]
        return Callback(alarms=alarms, reply={"status": "ok"})

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok"}

    def _alarm(self, state: AlarmState, at: float, target: dict[str, Any], policy: dict[str, Any],
               cond: dict[str, Any], payload: dict[str, Any], index: int, unparsed: dict[str, str]) -> Alarm:
        metric = required_text(cond.get("metricName"), f"alarmPolicyInfo.conditions[{index}].metricName")
        tags = parse_tags(target.get("tag"))
        alias = text(cond.get("metricAlias")) or metric
        current = text(cond.get("CurValue")) or text(cond.get("curValue"))
        unit = text(cond.get("units"))
        threshold = " ".join(filter(None, (text(cond.get("op")), text(cond.get("threshold")), unit)))
        details = {
            "policy_name": text(policy.get("policyName")),
            "metric_alias": text(cond.get("metricAlias")),
            "current_value": " ".join(filter(None, (current, unit))),
            "threshold": threshold,
            "function": text(cond.get("function")),
            "period": text(cond.get("period")),
            "points": text(cond.get("points")),
            "alarm_interval": text(cond.get("alarmInterval")),
            "alarm_max": text(cond.get("alarmMax")),
            "step": text(payload.get("step")),
        }
        host = tags.get("host") or tags.get("instanceId") or next(iter(tags.values()), "")
        where = f" on {host}" if host else ""
        return Alarm(
            vendor=self.name,
            name=metric,
            state=state,
            **dated_once(at, state),
            namespace=text(target.get("namespace")),
            region=text(target.get("region")),
            policy_id=text(policy.get("policyId")),
            dimensions=tags,
            details=given_details(details, unparsed),
            summary=f"{alias}{where}" + (f": {current}{unit}" if current else "")
            + (f" ({threshold})" if threshold and current else ""),
            description=f"Kingsoft Cloud policy {text(policy.get('policyName')) or '?'}: {alias}{where}",
            console_url=CONSOLE_URL,
            raw=payload,
        )


def parse_tags(value: Any) -> dict[str, str]:
    """Read ``["host=abc", "p1=cpu1"]`` (also a single string, or an object)."""
    if isinstance(value, dict):
        return flat_strings(value)
    items = value if isinstance(value, list) else [value]
    tags: dict[str, str] = {}
    for item in items:
        key, sep, val = text(item).partition("=")
        if sep and key.strip() and val.strip():
            tags[key.strip()] = val.strip()
        elif key.strip() and not sep:
            tags.setdefault("tag", key.strip())
    return tags


VENDOR = Kingsoft()
