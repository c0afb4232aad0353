"""``translate --config`` resolves only MAPPING_OPTIONS: each setting the pipeline reads must be one of them,
or translate previews a callback with a default where serve uses the file's value (issue 20 review item 3)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

from bridge import pipeline
from bridge.mapping.limits import Limits
from bridge.model import InvalidPayload
from bridge.options import OPTIONS
from bridge.settings import MAPPING_OPTIONS, Settings
from bridge.vendors import VENDORS

FIELDS = {field.name for field in dataclasses.fields(Settings)}
DERIVED = {"timezone": "vendor_timezone"}
"""Settings properties computed from an option."""


class ReadRecorder:
    """Answers as default Settings, and records which settings were read."""

    def __init__(self) -> None:
        self.settings, self.read = Settings(), set[str]()

    def __getattr__(self, name: str) -> Any:
        if name in FIELDS or name in DERIVED:
            self.read.add(DERIVED.get(name, name))
        return getattr(self.settings, name)


def test_every_setting_the_pipeline_reads_is_resolved_by_translate() -> None:
    recorder = ReadRecorder()
    Limits.from_settings(recorder)  # type: ignore[arg-type]
    vendor = next(iter(VENDORS.values()))
    with contextlib.suppress(InvalidPayload):  # an empty body is refused; what it read on the way counts
        pipeline.parse(vendor, b"{}", "application/json", recorder, time.time())  # type: ignore[arg-type]
    assert {"max_alert_bytes", "vendor_timezone"} <= recorder.read  # the recorder sees what is read
    assert recorder.read <= {option.name for option in OPTIONS}
    assert recorder.read - MAPPING_OPTIONS == set()
