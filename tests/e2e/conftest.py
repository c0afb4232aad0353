"""Fixtures for the end-to-end tests: more real Alertmanagers, stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.alertmanager import Alertmanager


@pytest.fixture
def new_alertmanager(tmp_path: Path) -> Iterator[Callable[..., Alertmanager]]:
    """``new_alertmanager(name, **options)``: an Alertmanager in ``tmp_path/name``, not started yet."""
    made: list[Alertmanager] = []

    def new(name: str, **kwargs) -> Alertmanager:
        workdir = tmp_path / name
        workdir.mkdir(exist_ok=True)
        made.append(Alertmanager(workdir, **kwargs))
        return made[-1]

    yield new
    for am in made:
        am.stop()

