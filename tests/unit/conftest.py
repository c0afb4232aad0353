"""Fixtures for the unit tests: a real SQLite store in the test's directory, and the Flask app on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bridge.settings import Settings
from bridge.store.sqlite import SqliteStore
from bridge.web.app import create_app


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "bridge.db")


@pytest.fixture
def make_client(store: SqliteStore) -> Callable[..., FlaskClient]:
    """``make_client(**settings)``: Flask's test client of ``create_app(Settings(**settings))`` on ``store``."""

    def make(**settings) -> FlaskClient:
        return create_app(Settings(**settings), store=store).test_client()

    return make


@pytest.fixture
def client(make_client: Callable[..., FlaskClient]) -> FlaskClient:
    """The test client of the app with default settings, on ``store``."""
    return make_client()
