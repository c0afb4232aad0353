"""Checking what a vendor's parser read from a callback."""

from __future__ import annotations

from enum import Enum
from typing import Any

from bridge.model import Alarm


def assert_alarm(alarm: Alarm, **expected: Any) -> None:
    """Each named field of ``alarm`` is the expected value; an expected enum member must be that member itself."""
    actual = {name: getattr(alarm, name) for name in expected}
    assert actual == expected
    for name, value in expected.items():
        if isinstance(value, Enum):
            assert actual[name] is value, f"{name}: {actual[name]!r} is not {value!r}"
