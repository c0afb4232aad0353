"""Alibaba Cloud CloudMonitor threshold alarm callbacks (the rule's "HTTP callback" URL).

Sent as ``application/x-www-form-urlencoded`` (the same fields are accepted as JSON). ``dimensions`` is a
Java ``Map.toString`` string such as ``{userId=12, instanceId=i-1}`` (older docs: a JSON list), the literal
string "null" means absent, ``ALERT`` and ``ALARM`` are the same state, and ``timestamp`` is in seconds
(docs) or milliseconds (observed). The ``signature`` field cannot be verified: its algorithm is not
public, so it is removed before parsing and never stored or logged.
"""

from __future__ import annotations

from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload
from bridge.vendors import ParseContext
from bridge.vendors._fields import (
    DEFAULT_MAX_JSON_DEPTH,
    dated_once,
    epoch,
    flat_strings,
    given_details,
    loads_bounded,
    required_text,
    text,
)
from bridge.vendors.aliyun.common import CONSOLE_URL, SEVERITIES, Shape

_STATES = {"ALERT": AlarmState.FIRING, "ALARM": AlarmState.FIRING, "INSUFFICIENT_DATA": AlarmState.FIRING,
           "OK": AlarmState.RESOLVED}


def parse(fields: dict[str, Any], ctx: ParseContext) -> list[Alarm]:
    raw_state = required_text(fields.get("alertState"), "alertState").upper()
    if raw_state not in _STATES:
        raise InvalidPayload(f"alertState: must be OK, ALERT, ALARM or INSUFFICIENT_DATA, got {raw_state[:32]!r}")
    state = _STATES[raw_state]
    metric = required_text(fields.get("metricName"), "metricName")
    unparsed: dict[str, str] = {}
    at = epoch(fields.get("timestamp"), "timestamp", unparsed) or ctx.now
    level = text(fields.get("triggerLevel")).upper()
    if state is AlarmState.RESOLVED or level not in SEVERITIES:
        level = text(fields.get("preTriggerLevel")).upper()
    dimensions = parse_dimensions(fields.get("dimensions"), ctx.max_json_depth)
    instance = text(fields.get("instanceName")) or dimensions.get("instanceId", "")
    current = text(fields.get("curValue"))
    details = {
        "alert_name": text(fields.get("alertName")),
        "expression": text(fields.get("expression")),
        "current_value": " ".join(filter(None, (current, text(fields.get("unit"))))),
        "instance_name": text(fields.get("instanceName")),
        "trigger_level": text(fields.get("triggerLevel")),
        "previous_trigger_level": text(fields.get("preTriggerLevel")),
        "last_time": text(fields.get("lastTime")),
        "region_name": text(fields.get("regionName")),
        "product_group_name": text(fields.get("productGroupName")),
        "group_id": text(fields.get("groupId")),
        "raw_metric_name": text(fields.get("rawMetricName")),
        "trans_id": text(fields.get("transId")),
        "user_id": text(fields.get("userId")),
    }
    title = text(fields.get("alertName")) or metric
    where = f" on {instance}" if instance else ""
    return [Alarm(
        vendor="aliyun",
        name=metric,
        state=state,
        **dated_once(at, state),
        namespace=text(fields.get("namespace")) or text(fields.get("metricProject")),
        region=text(fields.get("regionId")) or dimensions.get("regionId", ""),
        policy_id=text(fields.get("ruleId")),
        severity=SEVERITIES.get(level, ""),
        alarm_state="insufficient_data" if raw_state == "INSUFFICIENT_DATA" else "",
        dimensions=dimensions,
        details=given_details(details, unparsed),
        summary=f"{title}{where}" + (f": {current}" if current else ""),
        description=f"Alibaba Cloud CloudMonitor rule {title}: {text(fields.get('expression')) or metric}"
        + where + (" (insufficient data)" if raw_state == "INSUFFICIENT_DATA" else ""),
        console_url=CONSOLE_URL,
        raw=fields,
    )]


def parse_dimensions(value: Any, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> dict[str, str]:
    """Read ``{k=v, k=v}``, a JSON list of objects, a JSON object, or a JSON string of either."""
    if isinstance(value, dict):
        return flat_strings(value)
    if isinstance(value, list):
        merged: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict):
                merged.update(item)
        return flat_strings(merged)
    raw = text(value)
    if not raw:
        return {}
    if raw[0] in "[{" and '"' in raw:
        try:
            return parse_dimensions(loads_bounded(raw, "dimensions", max_depth), max_depth)
        except InvalidPayload:
            pass  # not JSON after all (or absurdly deep): read it as Java's Map.toString
    return _java_map(raw)


def _java_map(raw: str) -> dict[str, str]:
    """Parse Java's ``Map.toString``; a comma inside a value stays in that value.

    A value's pieces are joined once at the end: appending to a string per comma is quadratic.
    """
    inner = raw[1:-1] if raw.startswith("{") and raw.endswith("}") else raw
    pieces: dict[str, list[str]] = {}
    last_key = ""
    for part in inner.split(","):
        key, sep, val = part.partition("=")
        if sep and key.strip():
            last_key = key.strip()
            pieces[last_key] = [val.strip()]
        elif last_key:
            pieces[last_key].append(part)
    result = {k: ",".join(v) for k, v in pieces.items()}
    return {k: v for k, v in result.items() if text(v)}


SHAPE = Shape("threshold alarm callback", ("alertState",), parse)
