"""Fixtures for every layer: hypothesis budgets, a real Alertmanager per test, one real redis-server per run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.harness.alertmanager import Alertmanager
from tests.harness.redis_server import RedisServer
from tests.harness.signing import SigningServer, TestCA


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager with the default resolve_timeout, stopped after the test."""
    workdir = tmp_path / "alertmanager"
    workdir.mkdir()
    am = Alertmanager(workdir).start()
    yield am
    am.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the run (contract, e2e and helm tests).

    Set up as the docs recommend for no loss at all: append-only file, fsync before every reply.
    """
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendfsync="always").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def signing_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A test CA and message-signing key for signed pushes (AWS SNS, Huawei SMN), made once per run."""
    return TestCA(tmp_path_factory.mktemp("signing-ca"))


@pytest.fixture(scope="session")
def signing_server(signing_ca: TestCA) -> Iterator[SigningServer]:
    """One HTTPS server under ``signing_ca`` for the run: it serves signing certificates and subscribe URLs.

    Tests serve paths of their own (``serve``/``serve_certificate``) and count their own paths' fetches."""
    server = SigningServer(signing_ca).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _redis_server_empty_and_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that uses ``redis_server`` finds it empty, and leaves it running for the next one.

    The e2e and helm tests use the bridge's default key prefix, one of them flushes Redis and one kills it
    mid-stream (and starts it again). The store contract's ``make_store`` gives each test a prefix instead.
    """
    if "redis_server" not in request.fixturenames:
        yield
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    yield
    if server.process is None:  # killed, and the test failed before starting it again
        server.start()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long fuzzing profile runs ~17 times the examples: its tests get 20 minutes, not 120 s."""
    if os.environ.get("HYPOTHESIS_PROFILE") == "long":
        for item in items:
            item.add_marker(pytest.mark.timeout(20 * 60), append=False)


# Fuzzing budgets. CI runs "ci" (a few hundred examples per property, seconds); run
# HYPOTHESIS_PROFILE=long pytest tests/unit/test_fuzz_parsers.py tests/e2e/test_hostile_input.py for a deeper search.
settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", parent=settings.get_profile("ci"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
