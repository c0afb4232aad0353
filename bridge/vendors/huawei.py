"""Huawei Cloud Cloud Eye (CES) alarms, as Simple Message Notification (SMN) posts them to an HTTP(S) subscription.

The body is SMN's envelope (snake_case: ``type``, ``message_id``, ``topic_urn``, ``message``, ``timestamp``,
``signature``…); its ``message`` is a JSON string whose shape depends on the notification template the user
chose: the default Cloud Eye shape (``alarm_status`` alarm/ok/insufficient_data, ``time`` in milliseconds,
``metric_name``, ``dimension`` as ``instance_id:<uuid>``, ``template_variable`` with the display names) or the
JSON template (``{"version": "v1", "data": {"IsAlarm": …, "AlarmTime": "2024/01/02 10:00:00 GMT+08:00",
"ResourceId", "MetricName", "AlarmLevel", "RegionId", …}}``). ``alarm_id`` names the rule, not the resource, so
the resource is part of the object. Event alarms (Cloud Eye's "immediate trigger" event rules) have no
recovery and resolve themselves after :data:`EVENT_TTL`.

This module only reads the envelope: the signature and the subscription handshake are bridge.verify.smn's,
done before the body gets here. Subscription and unsubscription confirmations carry no alarm.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import (
    epoch,
    flat_strings,
    given_details,
    is_json_type,
    load_json,
    loads_bounded,
    obj,
    required_text,
    text,
    type_name,
)

CONSOLE_URL = "https://console.huaweicloud.com/ces/"
NOTIFICATION = "Notification"
HANDSHAKES = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})
"""Envelope types that carry no alarm: bridge.verify.smn confirms the first and only logs the second."""
MESSAGE_TYPES = (NOTIFICATION, *sorted(HANDSHAKES))

EVENT_TTL = 3600.0
"""How long an event alarm stays firing: Cloud Eye sends no recovery for event rules (their alarm status
is "--"), so it resolves itself; an hour, as the bridge's other vendors' one-shot events."""

SEVERITIES = {"critical": "critical", "紧急": "critical", "1": "critical",
              "major": "warning", "重要": "warning", "2": "warning",
              "minor": "warning", "次要": "warning", "3": "warning",
              "informational": "info", "info": "info", "提示": "info", "4": "info"}
"""Cloud Eye's four levels (English console, Chinese console, API number) as the three severities
Alertmanager routes know: Critical pages, Major and Minor warn, Informational informs. The level as sent is
kept in the ``alarm_level`` annotation."""

_STATES = {"alarm": AlarmState.FIRING, "insufficient_data": AlarmState.FIRING, "ok": AlarmState.RESOLVED}
_URN_REGION = re.compile(r"urn:smn:([a-z0-9-]+):")
_ALARM_TIME = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2}) ?(\d{1,2}):(\d{2}):(\d{2}) ?GMT([+-])(\d{1,2}):?(\d{2})")
"""The JSON template's ``AlarmTime``: ``2025/06/02 22:56:15 GMT+08:00`` (a published preview drops the spaces)."""
_ALARM_TIME_MDY = re.compile(r"(\d{1,2}) (\d{1,2}), (\d{4}) (\d{1,2}):(\d{2}):(\d{2}) ?GMT([+-])(\d{1,2}):?(\d{2})")
"""The default shape's ``template_variable.AlarmTime`` in an English console: ``05 08, 2022 10:21:01 GMT+02:00``."""


class Huawei:
    name = "huawei"
    signed_by = "smn"
    """serve checks every body's SMN signature (bridge.verify.smn) before :meth:`parse` sees it."""

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        if not is_json_type(content_type):
            raise UnsupportedMediaType(f"huawei (SMN) sends application/json, not {content_type}")
        envelope = obj(load_json(body, ctx.max_json_depth), "body")
        kind = required_text(envelope.get("type"), "type")
        if kind in HANDSHAKES:  # serve answers these before parsing; translate shows them as no alarm
            reason = f"an SMN {kind}, not an alarm"
            return Callback(alarms=[], reply={"ignored": reason}, ignored=reason)
        if kind != NOTIFICATION:
            raise InvalidPayload(f"type: must be one of {', '.join(MESSAGE_TYPES)}, got {kind[:40]!r}")
        message = _message(envelope, ctx.max_json_depth)
        if isinstance(message, str):
            return Callback(alarms=[], reply={"ignored": message}, ignored=message)
        if "data" in message or "version" in message:
            alarm = _template_alarm(envelope, obj(message.get("data"), "message.data"), ctx)
        else:
            alarm = _default_alarm(envelope, message, ctx)
        raw = {**{k: v for k, v in envelope.items() if k != "signature"}, "message": message}
        return Callback(alarms=[replace(alarm, raw=raw)], reply={"status": "ok"})

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok"}


def topic_region(topic_urn: str) -> str:
    """The region code of an SMN topic: ``urn:smn:cn-north-4:<project>:<name>`` → ``cn-north-4``."""
    match = _URN_REGION.match(topic_urn)
    return match.group(1) if match else ""


def _message(envelope: dict[str, Any], max_depth: int) -> dict[str, Any] | str:
    """The Cloud Eye alarm the message carries, or why it carries none.

    Anyone who may publish to the topic can send other text (a test message from the console, another
    service's JSON): it is authentic, so it is answered 2xx and logged, never refused: SMN retries what
    fails and blacklists an endpoint that keeps failing, which would cost the alarms that follow.
    """
    raw = required_text(envelope.get("message"), "message")
    if not raw.startswith("{"):
        return "message: plain text, not a Cloud Eye alarm"
    try:
        decoded = loads_bounded(raw, "message", max_depth)
    except InvalidPayload as exc:
        return f"{exc}: not a Cloud Eye alarm"
    if not isinstance(decoded, dict):
        raise InvalidPayload(f"message: must be a JSON object, got {type_name(decoded)}")
    if not ({"data", "version", "alarm_status"} & decoded.keys()):
        return ("message: a JSON object that is not a Cloud Eye alarm (neither alarm_status nor the JSON "
                "template's version and data)")
    return decoded


def _envelope_details(envelope: dict[str, Any]) -> dict[str, str]:
    return {"smn_message_id": text(envelope.get("message_id")), "smn_topic_urn": text(envelope.get("topic_urn"))}


def _is_event(message_type: str, variables: dict[str, Any]) -> bool:
    """An event rule's alarm: the default shape says ``message_type`` event, both shapes fill ``EventContent``."""
    return message_type.lower() == "event" or bool(text(variables.get("EventContent")))


def _state(firing: bool, event: bool, at: float) -> tuple[AlarmState, float | None]:
    """Firing or resolved, and when a firing event resolves itself. An event always fires: Cloud Eye sends
    no recovery for one, so a notification of it that says otherwise (no ``IsAlarm``) is still the event."""
    if event:
        return AlarmState.FIRING, at + EVENT_TTL
    return (AlarmState.FIRING, None) if firing else (AlarmState.RESOLVED, None)


def _severity(*levels: Any) -> str:
    return next((SEVERITIES[key] for level in levels if (key := text(level).lower()) in SEVERITIES), "")


def _template_alarm(envelope: dict[str, Any], data: dict[str, Any], ctx: ParseContext) -> Alarm:
    """The JSON template: ``IsAlarm`` true fires, false recovers, anything else (the template is the user's to
    edit) is refused rather than read as a recovery; an event always fires."""
    name = required_text(data.get("MetricName") or data.get("EventName"), "message.data.MetricName")
    unparsed: dict[str, str] = {}
    at = (alarm_time(data.get("AlarmTime"), "AlarmTime", unparsed)
          or _envelope_time(envelope, unparsed) or ctx.now)
    event = _is_event("", data)
    flag = data.get("IsAlarm")
    flag = text(flag).lower() if isinstance(flag, (bool, str)) else ""
    if flag not in ("true", "false") and not event:
        raise InvalidPayload("message.data.IsAlarm: must be true or false, got "
                             + (repr(data["IsAlarm"])[:32] if "IsAlarm" in data else "nothing"))
    state, expires_at = _state(flag == "true", event, at)
    resource = text(data.get("ResourceId"))
    shown = text(data.get("ResourceName")) or resource
    dimensions = {"resource_id": resource, "resource_name": text(data.get("ResourceName"))}
    return _alarm(envelope, data, name=name, state=state, at=at, expires_at=expires_at, unparsed=unparsed,
                  namespace=text(data.get("Namespace")), policy_id=text(data.get("AlarmId")),
                  region=text(data.get("RegionId")), dimensions=dimensions, shown=shown, extra={},
                  description=text(envelope.get("subject")))


def _default_alarm(envelope: dict[str, Any], message: dict[str, Any], ctx: ParseContext) -> Alarm:
    """Cloud Eye's default shape: ``alarm_status`` alarm, ok or insufficient_data."""
    status = text(message.get("alarm_status")).lower()
    if status not in _STATES:
        raise InvalidPayload(f"message.alarm_status: must be alarm, ok or insufficient_data, got {status[:32]!r}")
    variables = obj(message.get("template_variable"), "message.template_variable", required=False)
    name = required_text(message.get("metric_name") or variables.get("MetricName"), "message.metric_name")
    unparsed: dict[str, str] = {}
    at = (epoch(message.get("time"), "time", unparsed) or alarm_time(variables.get("AlarmTime"), "AlarmTime", unparsed)
          or _envelope_time(envelope, unparsed) or ctx.now)
    state, expires_at = _state(_STATES[status] is AlarmState.FIRING,
                               _is_event(text(message.get("message_type")), variables), at)
    dimensions = parse_dimension(message.get("dimension"))
    resource = text(variables.get("ResourceId")) or next(iter(dimensions.values()), "")
    dimensions = {**dimensions, "resource_id": resource, "resource_name": text(variables.get("ResourceName"))}
    extra = {"alarm_name": text(message.get("alarm_name")), "period_seconds": text(message.get("period"))}
    return _alarm(envelope, variables, name=name, state=state, at=at, expires_at=expires_at, unparsed=unparsed,
                  namespace=text(message.get("namespace")) or text(variables.get("Namespace")),
                  policy_id=text(message.get("alarm_id")) or text(variables.get("AlarmId")),
                  region=text(variables.get("RegionId")), dimensions=dimensions,
                  shown=text(variables.get("ResourceName")) or resource, extra=extra,
                  description=text(message.get("sms_content")) or text(envelope.get("subject")),
                  alarm_state="insufficient_data" if status == "insufficient_data" else "")


def _alarm(envelope: dict[str, Any], variables: dict[str, Any], *, name: str, state: AlarmState, at: float,
           expires_at: float | None, unparsed: dict[str, str], namespace: str, policy_id: str, region: str,
           dimensions: dict[str, str], shown: str, extra: dict[str, str], description: str,
           alarm_state: str = "") -> Alarm:
    """What both shapes share: ``variables`` is the JSON template's ``data`` or the default ``template_variable``."""
    current = text(variables.get("CurrentData"))
    threshold = " ".join(filter(None, (text(variables.get("Filter")), text(variables.get("ComparisonOperator")),
                                       text(variables.get("Value")))))
    details = {
        **_envelope_details(envelope),
        "alarm_rule_name": text(variables.get("AlarmRuleName")),
        "alarm_record_id": text(variables.get("AlarmRecordID")),
        "alarm_level": text(variables.get("AlarmLevel")),
        "alarm_time": text(variables.get("AlarmTime")),
        "alarm_description": text(variables.get("AlarmDesc")),
        "current_value": current,
        "threshold": threshold,
        "count": text(variables.get("Count")),
        "dimension_name": text(variables.get("DimensionName")),
        "region_name": text(variables.get("Region")),
        "private_ip": text(variables.get("PrivateIp")),
        "public_ip": text(variables.get("PublicIp")),
        "enterprise_project": text(variables.get("EpName")),
        "event_content": text(variables.get("EventContent"))[:4096],
        **extra,
    }
    where = f" on {shown}" if shown else ""
    dimensions = flat_strings(dimensions)
    return Alarm(
        vendor="huawei",
        name=name,
        state=state,
        started_at=at,
        event_at=at,
        resolved_at=at if state is AlarmState.RESOLVED else None,
        namespace=namespace,
        region=region or topic_region(text(envelope.get("topic_urn"))),
        policy_id=policy_id,
        severity=_severity(variables.get("AlarmLevel")),
        alarm_state=alarm_state,
        dimensions=dimensions,
        identity=frozenset(k for k in dimensions if k != "resource_name"),
        details=given_details(details, unparsed),
        summary=f"{text(variables.get('MetricName')) or name}{where}" + (f": {current}" if current else ""),
        description=description or f"Huawei Cloud Eye alarm {name}{where}",
        console_url=CONSOLE_URL,
        expires_at=expires_at,
    )


def parse_dimension(value: Any) -> dict[str, str]:
    """``instance_id:<uuid>`` (several joined by ``,`` or ``;``) as ``{"instance_id": "<uuid>"}``.

    A value keeps any further colons; a piece without a name is skipped.
    """
    result: dict[str, str] = {}
    for piece in re.split(r"[,;]", text(value)):
        key, sep, val = piece.partition(":")
        if sep and key.strip() and val.strip():
            result[key.strip()] = val.strip()
    return result


def alarm_time(value: Any, where: str, unparsed: dict[str, str]) -> float | None:
    """``AlarmTime`` with its own offset (``2025/06/02 22:56:15 GMT+08:00`` or ``05 08, 2022 10:21:01 GMT+02:00``).

    None when absent; an unreadable one is kept in ``unparsed`` and the caller uses another time.
    """
    raw = text(value)
    if not raw:
        return None
    if match := _ALARM_TIME.fullmatch(raw):
        year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    elif match := _ALARM_TIME_MDY.fullmatch(raw):
        month, day, year, hour, minute, second, sign, off_h, off_m = match.groups()
    else:
        unparsed[where] = raw[:128]
        return None
    try:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        tzinfo=timezone(offset)).timestamp()
    except (ValueError, OverflowError):  # month 13, offset past 24 h
        unparsed[where] = raw[:128]
        return None


def _envelope_time(envelope: dict[str, Any], unparsed: dict[str, str]) -> float | None:
    """When SMN first sent the message (ISO 8601, ``2025-06-02T14:56:17Z``): the alarm time's stand-in."""
    raw = text(envelope.get("timestamp"))
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        unparsed["timestamp"] = raw[:128]
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


VENDOR = Huawei()
