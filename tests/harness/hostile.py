"""Hypothesis strategies for callbacks that are valid in shape but hostile in every value.

Arbitrary JSON or form bodies are refused at the first missing field, so a property over them never
reaches the mapping, the limits or the check that Alertmanager would accept the result. These keep a
real sample's structure and its state field valid, and replace most other values with hostile ones of
the same kind (text: any Unicode, lone surrogates, control characters, huge, deep JSON in a string;
numbers: huge, negative, fractional, numeric strings), so most bodies are accepted and checked.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hypothesis import strategies as st

from bridge.vendors._fields import load_json
from tests.harness.fuzzing import SAMPLES, TRICKY, texts

STATES = {
    "tencent": {"alarmStatus": ["1", "0", 1, 0, "-"]},
    "kingsoft": {"alarmState": [1, 0, "1", "0"]},
    "aliyun": {"alertState": ["ALERT", "OK", "INSUFFICIENT_DATA"],  # threshold callback
               "alertStatus": ["TRIGGERED", "RESOLVED"],  # notification-policy push (inside ``alert``)
               "status": ["OCCURRED", "PERSISTENT", "RESOLVED", "RECOVERED"]},  # CloudMonitor 2.0 (events: free)
    "aws": {"Type": ["Notification"], "NewStateValue": ["ALARM", "OK", "INSUFFICIENT_DATA"]},  # SNS envelope, alarm
    "huawei": {"type": ["Notification"], "alarm_status": ["alarm", "ok", "insufficient_data"],  # default shape
               "IsAlarm": [True, False]},  # JSON template
    "azure": {"schemaId": ["azureMonitorCommonAlertSchema"],  # any other is a legacy schema: 400
              "monitorCondition": ["Fired", "Resolved", None]},  # None: budget alerts, which have none
    "gcp": {"state": ["open", "closed", "OPEN", "acknowledged"]},  # also metadata's ``state`` label: harmless
    "volcengine": {"Type": ["Metric", "MetricRecovered", "MetricsNoData", "NoDataRecovered", "Event"]},
}
"""Each vendor's state fields (one per callback shape) and the values they document: hostile states are
refused (400), and tests/unit/test_fuzz_parsers.py's every_field test covers each of them; here they stay
valid."""

NESTED_JSON = {"aws": "Message", "huawei": "message"}
"""Fields that carry the callback's real content as a JSON string (the SNS/SMN envelope's message): made
hostile inside, so that the alarm parser is reached, not only the envelope's."""

HOSTILE_SHARE = 0.7
"""How often a value is replaced; the rest keep the sample's, so that required fields mostly stay readable."""

numbers = (st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
           | st.sampled_from([0, -1, 2**63, 1e300, -1e300, 0.5]))
hostile_texts = texts | numbers.map(str) | st.sampled_from(TRICKY)


def _hostile_like(draw: st.DrawFn, original: Any) -> Any:
    if draw(st.floats(0, 1)) >= HOSTILE_SHARE:
        return original
    if isinstance(original, bool):
        return draw(st.booleans())
    if isinstance(original, int | float):
        return draw(numbers | hostile_texts)
    return draw(hostile_texts)


def _rewrite(draw: st.DrawFn, value: Any, states: dict[str, list[Any]]) -> Any:
    if isinstance(value, dict):
        return {key: draw(st.sampled_from(states[key])) if key in states else _rewrite(draw, item, states)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_rewrite(draw, item, states) for item in value]
    return _hostile_like(draw, value)


def _rewrite_field(draw: st.DrawFn, value: str, states: dict[str, list[Any]]) -> str:
    """A form field made hostile; one that carries a JSON object (Alibaba's ``alert``) keeps its structure."""
    if value.startswith("{"):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            return json.dumps(_rewrite(draw, decoded, states), ensure_ascii=False)
    return str(_hostile_like(draw, value))


def sample_kinds(vendor: str) -> set[str]:
    """The content types of ``vendor``'s samples."""
    return {content_type for v, content_type, _ in SAMPLES if v == vendor}


@st.composite
def hostile_callbacks(draw: st.DrawFn, vendor: str, content_type: str | None = None) -> tuple[bytes, str]:
    """(body, content type): one of ``vendor``'s real samples (of ``content_type``), its values made hostile."""
    samples = [(ct, body) for v, ct, body in SAMPLES if v == vendor and content_type in (None, ct)]
    content_type, body = draw(st.sampled_from(samples))
    states = STATES[vendor]
    if content_type == "application/json":
        original = load_json(body)
        payload = _rewrite(draw, original, states)
        nested = NESTED_JSON.get(vendor)
        if nested and nested in original:
            payload[nested] = json.dumps(_rewrite(draw, load_json(original[nested].encode()), states),
                                         ensure_ascii=draw(st.booleans()))
        ascii_only = draw(st.booleans())  # escapes carry lone surrogates; raw output makes invalid UTF-8
        return json.dumps(payload, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"), content_type
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    pairs = [(key, str(draw(st.sampled_from(states[key]))) if key in states else _rewrite_field(draw, value, states))
             for key, value in fields.items()]
    return urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                      for k, v in pairs]).encode(), content_type


def _bytes_variants(body: bytes, content_type: str) -> st.SearchStrategy[tuple[bytes, str]]:
    """Byte-level variants a real sender or proxy produces: a BOM, padding, charset and case in the type."""
    bodies = st.sampled_from([body, b"\xef\xbb\xbf" + body, b" \r\n\t" + body + b"\n\n"])
    types = st.sampled_from([content_type, content_type.upper(), f"{content_type}; charset=UTF-8",
                             f"{content_type};charset=utf-8", f" {content_type} "])
    return st.tuples(bodies, types)


def hostile_bytes(vendor: str) -> st.SearchStrategy[tuple[bytes, str]]:
    """A hostile callback of ``vendor`` as bytes a proxy may alter, under a content type of the right kind."""
    return hostile_callbacks(vendor).flatmap(lambda pair: _bytes_variants(*pair))
