"""Amazon CloudWatch alarms, as Amazon SNS posts them to an HTTP/HTTPS subscription.

The body is an SNS envelope (``Type``, ``TopicArn``, ``Message``, …; sent as ``text/plain`` by default)
whose ``Message`` is the alarm as a JSON string. serve checks the envelope's signature first
(bridge.verify.sns, ``signed_by``); this parser only reads it. ALARM fires, OK resolves, and
INSUFFICIENT_DATA fires with ``alarm_state="insufficient_data"`` as Alibaba's does: one alert per alarm,
which the next state replaces. A metric alarm names its metric in ``Trigger``; a metric-math alarm in
``Trigger.Metrics[].MetricStat.Metric``; a composite alarm has an ``AlarmRule`` and no ``Trigger``.
``Region`` is a display name that has changed over the years ("EU - Ireland", "EU (Ireland)") and older
messages lack ``AlarmArn``, so the region code comes from the alarm's ARN, else the topic's.

The alert is ``alertname`` = the alarm's name (a CloudWatch alarm is the rule, as a Prometheus alert rule
is), ``policy_id`` = its ARN, ``account_id`` and the metric's dimensions as labels: the alarm's identity
is its ARN (or account, region and name) plus its dimensions. A well-formed notification that is not a
CloudWatch alarm (a console test message, an EventBridge or budget notice on the same topic) is answered
200 and ignored with a log line: SNS would only retry it, and it is no alarm to lose.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import (
    dated_once,
    given_details,
    is_json_type,
    load_json,
    loads_bounded,
    obj,
    required_text,
    text,
    type_name,
)

ENVELOPE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_REGION_CODE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_STATES = {"ALARM": AlarmState.FIRING, "INSUFFICIENT_DATA": AlarmState.FIRING, "OK": AlarmState.RESOLVED}


class Aws:
    name = "aws"
    signed_by = "sns"

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        if not is_json_type(content_type):
            raise UnsupportedMediaType(f"SNS posts text/plain (JSON), not {content_type}")
        envelope = obj(load_json(body, ctx.max_json_depth), "body")
        kind = envelope.get("Type")
        if kind not in ENVELOPE_TYPES:
            shown = repr(kind[:40]) if isinstance(kind, str) else "missing" if kind is None else type_name(kind)
            raise InvalidPayload(f"Type: must be one of {', '.join(ENVELOPE_TYPES)}, got {shown} "
                                 "(is this an SNS message?)")
        topic = text(envelope.get("TopicArn"))
        if kind != "Notification":
            return Callback([], {"type": kind, "topic": topic},
                            ignored=f"an SNS {kind} carries no alarm (serve verifies it"
                            + (" and confirms the subscription)" if kind == "SubscriptionConfirmation" else ")"))
        message = alarm_message(envelope.get("Message"), ctx.max_json_depth)
        if isinstance(message, str):
            return Callback([], {"ignored": message}, ignored=message)
        return Callback([self._alarm(message, envelope, ctx)], {"status": "ok"})

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok"}

    def _alarm(self, message: dict[str, Any], envelope: dict[str, Any], ctx: ParseContext) -> Alarm:
        name = required_text(message.get("AlarmName"), "Message.AlarmName")
        raw_state = required_text(message.get("NewStateValue"), "Message.NewStateValue").upper()
        if raw_state not in _STATES:
            raise InvalidPayload(f"Message.NewStateValue: must be ALARM, OK or INSUFFICIENT_DATA, "
                                 f"got {raw_state[:32]!r}")
        state = _STATES[raw_state]
        unparsed: dict[str, str] = {}
        at = (iso_time(message.get("StateChangeTime"), "StateChangeTime", unparsed)
              or iso_time(envelope.get("Timestamp"), "Timestamp", unparsed) or ctx.now)
        arn = text(message.get("AlarmArn"))
        region = region_code(arn_part(arn, 3)) or region_code(arn_part(text(envelope.get("TopicArn")), 3))
        account = text(message.get("AWSAccountId")) or arn_part(arn, 4) or arn_part(text(envelope.get("TopicArn")), 4)
        if not arn:
            partition = "aws-cn" if region.startswith("cn-") else "aws"
            arn = f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}"
        trigger = obj(message.get("Trigger"), "Message.Trigger", required=False)
        metrics = trigger_metrics(trigger)
        dimensions = {"account_id": account} if account else {}
        for metric in metrics:
            for key, value in read_dimensions(metric.get("Dimensions")).items():
                dimensions.setdefault(key, value)
        namespaces = {text(m.get("Namespace")) for m in metrics} - {""}
        insufficient = raw_state == "INSUFFICIENT_DATA"
        details = {
            "alarm_description": text(message.get("AlarmDescription")),
            "new_state_reason": text(message.get("NewStateReason"))[:2048],
            "old_state": text(message.get("OldStateValue")),
            "region_name": text(message.get("Region")),
            "metric_name": ", ".join(dict.fromkeys(t for m in metrics if (t := text(m.get("MetricName"))))),
            "threshold": " ".join(filter(None, (text(trigger.get("ComparisonOperator")), text(trigger.get("Threshold"))
                                                 or text(trigger.get("ThresholdMetricId"))))),
            "statistic": text(trigger.get("ExtendedStatistic")) or text(trigger.get("Statistic")),
            "period_seconds": text(trigger.get("Period")),
            "evaluation_periods": text(trigger.get("EvaluationPeriods")),
            "datapoints_to_alarm": text(trigger.get("DatapointsToAlarm")),
            "treat_missing_data": text(trigger.get("TreatMissingData")),
            "expressions": "; ".join(f"{text(m.get('Id'))}={text(m.get('Expression'))}"
                                     for m in trigger_list(trigger) if text(m.get("Expression")))[:1024],
            "alarm_rule": text(message.get("AlarmRule"))[:2048],
            "topic_arn": text(envelope.get("TopicArn")),
            "message_id": text(envelope.get("MessageId")),
        }
        return Alarm(
            vendor=self.name,
            name=name,
            state=state,
            **dated_once(at, state),
            namespace=namespaces.pop() if len(namespaces) == 1 else "",
            region=region,
            policy_id=arn,
            alarm_state="insufficient_data" if insufficient else "",
            dimensions=dimensions,
            details=given_details(details, unparsed),
            summary=f"CloudWatch alarm {name} is {raw_state}",
            description=" — ".join(filter(None, (text(message.get("AlarmDescription")),
                                                 text(message.get("NewStateReason"))))),
            console_url=console_url(region, name),
            raw=message,
        )


def alarm_message(value: Any, max_depth: int) -> dict[str, Any] | str:
    """The CloudWatch alarm in ``Message``, or why the message is none (a plain text or other JSON)."""
    if not isinstance(value, str):
        raise InvalidPayload(f"Message: must be a string, got {type_name(value)}")
    if not value.lstrip().startswith("{"):
        return "the SNS message is not a CloudWatch alarm (not a JSON object)"
    try:
        message = loads_bounded(value, "Message", max_depth)
    except InvalidPayload:
        return "the SNS message is not a CloudWatch alarm (not valid JSON)"
    if not isinstance(message, dict) or "AlarmName" not in message or "NewStateValue" not in message:
        return "the SNS message is not a CloudWatch alarm (no AlarmName and NewStateValue)"
    return message


def trigger_list(trigger: dict[str, Any]) -> list[dict[str, Any]]:
    raw = trigger.get("Metrics")
    return [item for item in raw if isinstance(item, dict)] if isinstance(raw, list) else []


def trigger_metrics(trigger: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm watches: ``Trigger`` itself, or each ``Metrics[].MetricStat.Metric``."""
    if text(trigger.get("MetricName")):
        return [trigger]
    found = []
    for item in trigger_list(trigger):
        stat = item.get("MetricStat")
        metric = stat.get("Metric") if isinstance(stat, dict) else None
        if isinstance(metric, dict):
            found.append(metric)
    return found


def read_dimensions(value: Any) -> dict[str, str]:
    """``[{"name": …, "value": …}]`` in any order (``Name``/``Value`` too) as a mapping."""
    result: dict[str, str] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            key = text(item.get("name", item.get("Name")))
            if key:
                result.setdefault(key, text(item.get("value", item.get("Value"))))
    return {k: v for k, v in result.items() if v}


def arn_part(arn: str, index: int) -> str:
    """A field of ``arn:partition:service:region:account:…``; "" if it is no ARN."""
    parts = arn.split(":", 6)
    return parts[index] if len(parts) > index and parts[0] == "arn" else ""


def region_code(value: str) -> str:
    """``value`` if it looks like a region code (``eu-west-1``, ``cn-north-1``, ``us-gov-west-1``), else ""
    (AWS's own samples carry the placeholder ``REGION``)."""
    return value if _REGION_CODE.fullmatch(value) else ""


def iso_time(value: Any, where: str, unparsed: dict[str, str]) -> float | None:
    """An ISO 8601 time as CloudWatch and SNS write it (``2021-01-08T14:11:47.105+0000``, ``…Z``)."""
    raw = text(value)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        unparsed[where] = raw[:128]
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def console_url(region: str, name: str) -> str:
    host = "console.amazonaws.cn" if region.startswith("cn-") else "console.aws.amazon.com"
    # errors="replace": a name may hold a lone surrogate (JSON's \ud800), which UTF-8 cannot encode
    return (f"https://{host}/cloudwatch/home?region={quote(region, errors='replace')}"
            f"#alarmsV2:alarm/{quote(name, safe='', errors='replace')}")


VENDOR = Aws()
