"""Fixtures for the end-to-end tests: more real Alertmanagers, and real bridge processes, stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge


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


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator[Callable[..., Bridge]]:
    """``start_bridge(alertmanager_urls, *flags, **options)``: a started ``serve`` working in ``tmp_path``."""
    started: list[Bridge] = []

    def start(alertmanager_urls: list[str], *args: str, **kwargs) -> Bridge:
        started.append(Bridge(tmp_path, alertmanager_urls, *args, **kwargs).start())
        return started[-1]

    yield start
    for bridge in started:
        bridge.stop()


@pytest.fixture(scope="module")
def module_alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """One real Alertmanager for a whole module, for tests that each use alerts of their own."""
    am = Alertmanager(tmp_path_factory.mktemp("alertmanager")).start()
    yield am
    am.stop()


@pytest.fixture(scope="module")
def module_bridge(module_alertmanager: Alertmanager, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    """One started ``serve`` for a whole module, delivering to :func:`module_alertmanager`."""
    bridge = Bridge(tmp_path_factory.mktemp("bridge"), [module_alertmanager.url]).start()
    yield bridge
    bridge.stop()
