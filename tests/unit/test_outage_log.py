"""An outage is logged once, reminded with counts, and its end is one line (bridge.logs.Outage)."""

from __future__ import annotations

import logging
import time

import pytest

from bridge.logs import Outage


def test_first_failure_then_a_reminder_with_counts_then_one_line_on_recovery(
        caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage(logging.getLogger("test.outage"), "down", "still down", "up again", remind_every=0.2,
                    alertmanager="am")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(50):  # 10 attempts a second, as the old loop logged them
            outage.failed("Connection refused")
            time.sleep(0.005)
        time.sleep(0.2)
        outage.failed("Connection refused")
        outage.ended()
        outage.ended()
    records = [(r.getMessage(), getattr(r, "failures", None)) for r in caplog.records]
    assert records[0] == ("down", None)
    assert [m for m, _ in records[1:-1]] == ["still down"] * (len(records) - 2) and 1 <= len(records) - 2 <= 2
    assert records[-1] == ("up again", 51)
    assert caplog.records[-2].failures_since_last_log >= 1  # type: ignore[attr-defined]
