from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.harness.alertmanager import Alertmanager


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager with the default resolve_timeout, stopped after the test."""
    workdir = tmp_path / "alertmanager"
    workdir.mkdir()
    am = Alertmanager(workdir).start()
    yield am
    am.stop()


# Fuzzing budgets. CI runs "ci" (a few hundred examples per property, seconds); run
# HYPOTHESIS_PROFILE=long pytest tests/unit/test_fuzz_parsers.py tests/e2e/test_hostile_input.py for a deeper search.
settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
