"""Fixtures for the end-to-end tests: more real Alertmanagers, and real bridge processes, stopped after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome

from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge
from tests.harness.browser import start_chromium


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
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Alertmanager, Bridge]]:
    """One real Alertmanager and one ``serve`` for a whole module, whose tests each use objects of their own."""
    workdir = tmp_path_factory.mktemp("shared-stack")
    (workdir / "am").mkdir()
    am = Alertmanager(workdir / "am").start()
    bridge = Bridge(workdir, [am.url]).start()
    yield am, bridge
    bridge.stop()
    am.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chrome]:
    """One headless Chromium for every page test of the run (starting one costs about a second)."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()
