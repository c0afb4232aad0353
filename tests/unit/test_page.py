"""The inspector page's own helpers: the matcher box, the state of a tried alert, times for a person."""

from __future__ import annotations

import pytest

from bridge.web.page import postable_state, split_matchers, when


@pytest.mark.parametrize(("typed", "matchers"), [
    ('alertname=~"cpu.*"', ['alertname=~"cpu.*"']),
    ('alertname=~"cpu.*", severity!="info"', ['alertname=~"cpu.*"', 'severity!="info"']),
    ('{vendor="tencent",host=~"a,b|c"}', ['vendor="tencent"', 'host=~"a,b|c"']),  # amtool's braces; comma quoted
    ('summary="say \\"hi, there\\"", x=y', ['summary="say \\"hi, there\\""', "x=y"]),
    (" , ", []),
])
def test_the_matcher_box_takes_amtools_syntax_one_matcher_per_comma_outside_quotes(typed: str,
                                                                                  matchers: list[str]) -> None:
    assert split_matchers(typed) == matchers


def test_a_tried_alert_is_resolved_once_its_end_has_passed() -> None:
    assert postable_state({"endsAt": "2001-01-01T00:00:00.000Z"}) == "resolved"
    assert postable_state({"endsAt": "2999-01-01T00:00:00.000Z"}) == "firing"
    assert postable_state({}) == "firing"


def test_times_read_as_utc_to_the_second() -> None:
    assert when(1_700_000_000.25) == "2023-11-14 22:13:20Z"
    assert when("2023-11-14T22:13:20.000Z") == "2023-11-14 22:13:20Z"
    assert when(None) == "—"
