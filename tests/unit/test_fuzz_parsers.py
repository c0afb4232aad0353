"""Property: whatever a vendor URL receives, it becomes alerts Alertmanager accepts or a 400-style error.

Budget per property: the hypothesis profile (tests/conftest.py): "ci" by default, HYPOTHESIS_PROFILE=long
for a deeper run. Every accepted alarm goes through the real mapping and ``postable``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import urlencode

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.deliver.alertmanager import postable
from bridge.logs import redact_query, redact_text
from bridge.mapping.limits import Limits, alert_bytes
from bridge.model import InvalidPayload, UnsupportedMediaType
from bridge.pipeline import to_alerts
from bridge.rules import Rules
from bridge.run.framing import BODY_TOO_LARGE, HAND_OVER, HEAD_TOO_LARGE, RequestFraming
from bridge.vendors import VENDORS, ParseContext
from bridge.vendors._fields import DEFAULT_MAX_JSON_DEPTH, load_json
from bridge.web.auth import presented_token
from tests.harness.fixtures import fixture_bytes
from tests.harness.fuzzing import (
    CONTENT_TYPES,
    SAMPLES,
    assert_acceptable,
    assert_safe_text,
    authorization_values,
    chunked,
    deep,
    deep_bodies,
    every_field_with_every_tricky_value,
    form_bodies,
    invalid_utf8,
    mutated_form,
    mutated_json,
    pathological_texts,
    secret_parameters,
)
from tests.harness.hostile import hostile_bytes, hostile_callbacks, sample_kinds

NOW = 1_700_000_000.0
CTX = ParseContext(now=NOW)
LIMITS = Limits()
RULES = Rules()
VENDOR_NAMES = sorted(VENDORS)
FORM = "application/x-www-form-urlencoded"


def outcome(vendor: str, body: bytes, content_type: str) -> str:
    """Parse and map like the app does (default rules); assert acceptable alerts or an explained refusal."""
    try:
        parsed = VENDORS[vendor].parse(body, content_type.split(";")[0].strip().lower(), CTX)
        alerts = to_alerts(parsed.alarms, RULES, LIMITS, NOW)
    except (InvalidPayload, UnsupportedMediaType) as exc:
        assert str(exc).strip(), "a refusal must say why"
        return type(exc).__name__
    json.dumps(parsed.reply, allow_nan=False)
    for alert in alerts:
        body_ = postable(alert, NOW, 240.0)
        assert_acceptable(body_)
        assert all(len(v) <= LIMITS.max_label_value_length for v in alert.labels.values())
        assert len(alert.labels) <= LIMITS.max_labels
        assert len(alert.annotations) <= LIMITS.max_labels + 32  # vendor details + one `_full` per cut label
        assert_safe_text(body_)
        assert alert_bytes(alert) <= LIMITS.max_alert_bytes
        assert alert.expires_at is None or alert.starts_at <= alert.expires_at <= alert.starts_at + 86400
    assert sum(map(alert_bytes, alerts)) <= LIMITS.max_callback_bytes
    return "accepted"


def assert_mostly_accepted(outcomes: Counter[str], minimum: float) -> None:
    """The property reached the mapping and the acceptance check often enough to mean something."""
    share = outcomes["accepted"] / sum(outcomes.values())
    print(f"accepted {share:.0%} of {sum(outcomes.values())}: {dict(outcomes.most_common(4))}")
    assert share >= minimum, f"only {share:.0%} accepted; the strategy no longer reaches the mapping: {outcomes}"


@pytest.mark.parametrize("vendor", VENDOR_NAMES)
def test_hostile_json_callbacks_become_valid_alerts_or_an_error(vendor: str) -> None:
    outcomes: Counter[str] = Counter()

    @given(callback=hostile_callbacks(vendor, "application/json"))
    def check(callback: tuple[bytes, str]) -> None:
        outcomes[outcome(vendor, *callback)] += 1

    check()
    assert_mostly_accepted(outcomes, 0.5)


@pytest.mark.parametrize("vendor", [v for v in VENDOR_NAMES if FORM in sample_kinds(v)])
def test_hostile_form_callbacks_become_valid_alerts_or_an_error(vendor: str) -> None:
    outcomes: Counter[str] = Counter()

    @given(callback=hostile_callbacks(vendor, FORM))
    def check(callback: tuple[bytes, str]) -> None:
        outcomes[outcome(vendor, *callback)] += 1

    check()
    assert_mostly_accepted(outcomes, 0.5)


@pytest.mark.parametrize("vendor", [v for v in VENDOR_NAMES if FORM not in sample_kinds(v)])
@given(body=form_bodies)
def test_a_json_only_vendor_refuses_any_form_body_as_unsupported(vendor: str, body: bytes) -> None:
    assert outcome(vendor, body, FORM) == "UnsupportedMediaType"


@pytest.mark.parametrize("vendor", VENDOR_NAMES)
def test_any_bytes_with_any_content_type_become_valid_alerts_or_an_error(vendor: str) -> None:
    """Half hostile callbacks as a proxy may alter them (BOM, padding, charset), half arbitrary bytes."""
    outcomes: Counter[str] = Counter()
    arbitrary = st.tuples(st.binary(max_size=2048) | invalid_utf8, st.sampled_from(CONTENT_TYPES))

    @given(callback=hostile_bytes(vendor) | arbitrary)
    def check(callback: tuple[bytes, str]) -> None:
        outcomes[outcome(vendor, *callback)] += 1

    check()
    assert_mostly_accepted(outcomes, 0.3)


@given(sample=mutated_json())
def test_mutated_real_json_payloads_become_valid_alerts_or_an_error(sample: tuple[str, bytes]) -> None:
    vendor, body = sample
    outcome(vendor, body, "application/json")


@given(body=mutated_form())
def test_mutated_real_alibaba_forms_become_valid_alerts_or_an_error(body: bytes) -> None:
    outcome("aliyun", body, "application/x-www-form-urlencoded")


@pytest.mark.parametrize("vendor", VENDOR_NAMES)
@given(body=deep_bodies)
@example(body=deep(1_000_000))
def test_deep_nesting_is_refused_without_recursing(vendor: str, body: bytes) -> None:
    """Past the limit, refused by the depth scan before json.loads recurses (a 1,000,000-deep body would
    otherwise cost a RecursionError, and anything up to Python's limit would be parsed)."""
    depth = body.count(b"[") + body.count(b"{")
    if depth <= DEFAULT_MAX_JSON_DEPTH:
        assert outcome(vendor, body, "application/json") == "InvalidPayload"  # nested arrays are no callback
        return
    with pytest.raises(InvalidPayload, match=f"^body: JSON nested deeper than {DEFAULT_MAX_JSON_DEPTH} levels$"):
        VENDORS[vendor].parse(body, "application/json", CTX)


@pytest.mark.parametrize("vendor", VENDOR_NAMES)
@given(text=pathological_texts)
def test_texts_that_slow_parsers_down_are_answered_quickly(vendor: str, text: str) -> None:
    """As the body and as Alibaba's ``dimensions`` field; 2 s is generous: linear parsing takes milliseconds."""
    form = urlencode({"alertState": "ALERT", "metricName": "cpu", "dimensions": text}).encode()
    for body, content_type in ((text.encode(), "application/json"), (form, "application/x-www-form-urlencoded")):
        started = time.monotonic()
        outcome(vendor, body, content_type)
        assert time.monotonic() - started < 2


def test_every_sample_still_passes_the_acceptance_check() -> None:
    """The property's oracle accepts what real vendors send (so 'accepted' above means something)."""
    for vendor, content_type, body in SAMPLES:
        assert outcome(vendor, body, content_type) == "accepted", (vendor, body[:80])


def test_every_field_of_every_sample_survives_every_tricky_value() -> None:
    """Exhaustive where random search is thin: one field at a time, each value that broke parsers before."""
    cases = every_field_with_every_tricky_value()
    assert len(cases) > 5000
    for vendor, content_type, body in cases:
        try:
            outcome(vendor, body, content_type)
        except Exception as exc:
            raise AssertionError(f"{vendor}: {body[:300]!r}") from exc


@settings(max_examples=15)
@given(name_length=st.integers(0, 400_000), conditions=st.integers(1, 100), filler=st.sampled_from(["P", "中", "\x1b"]))
def test_a_huge_policy_name_in_many_conditions_stays_within_the_byte_budgets(
        name_length: int, conditions: int, filler: str) -> None:
    """Issue 19 item 3's shape: one long text copied into every alert of a callback."""
    payload = load_json(fixture_bytes("kingsoft", "alarm.json"))
    policy = payload["alarmPolicyInfo"]
    policy["policyName"] = filler * name_length
    policy["conditions"] = [{**policy["conditions"][0], "metricName": f"m{i}"} for i in range(conditions)]
    assert outcome("kingsoft", json.dumps(payload).encode(), "application/json") == "accepted"


# --- the web tier (issue 19): request framing, credentials, log redaction -----------------------------------

HEAD = b"POST /callbacks/tencent HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@given(body=st.binary(max_size=3000), sizes=st.lists(st.integers(1, 700), max_size=8),
       cuts=st.lists(st.integers(1, 400), max_size=12))
def test_a_chunked_request_arriving_in_any_pieces_is_whole_exactly_at_its_end(body: bytes, sizes: list[int],
                                                                              cuts: list[int]) -> None:
    request = HEAD + chunked(body, sizes)
    framing = RequestFraming(max_head=4096, max_body=len(body))
    at = 0
    for cut in [*cuts, len(request)]:
        at = min(len(request), at + cut)
        end = framing.scan(request[:at] + (b"GET / HTTP/1.1\r\n" if at == len(request) else b""))
        assert end == (len(request) if at == len(request) else None)
        if at == len(request):
            break


@given(data=st.binary(max_size=600))
def test_any_bytes_after_a_head_are_framed_or_handed_over_never_a_crash(data: bytes) -> None:
    for head in (HEAD, HEAD.replace(b"Transfer-Encoding: chunked", b"Content-Length: 300"), b""):
        end = RequestFraming(max_head=512, max_body=500).scan(head + data)
        assert end is None or end in (HAND_OVER, HEAD_TOO_LARGE, BODY_TOO_LARGE) or 0 < end <= len(head + data)


@given(value=authorization_values)
def test_any_authorization_header_yields_a_token_or_none(value: bytes) -> None:
    token = presented_token({}, {"Authorization": value.decode("latin-1")})
    assert token is None or isinstance(token, str)


@given(prefix=secret_parameters, secret=st.text(st.characters(exclude_characters="&", codec="utf-8"), min_size=6),
       after=st.sampled_from(["", "&kept=1", "&x=2;y=3"]))
def test_no_spelling_of_a_secret_parameter_leaves_its_value_in_a_log(prefix: str, secret: str, after: str) -> None:
    secret = "S3" + secret.replace(" ", "_")
    query = f"{prefix}{secret}{after}"
    assert secret not in redact_query(query)
    assert secret not in redact_text(f"Invalid request line: 'GET /callbacks/tencent?{query} HTTP/1.1'")
    assert redact_query(query).endswith(after)
