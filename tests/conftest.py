from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Alertmanager


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager with the default resolve_timeout, stopped after the test."""
    workdir = tmp_path / "alertmanager"
    workdir.mkdir()
    am = Alertmanager(workdir).start()
    yield am
    am.stop()
