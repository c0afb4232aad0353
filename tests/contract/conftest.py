"""Fixtures for the store contract: every test runs once on each backend (SQLite, Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.store import Store
from bridge.store.journal import DEFAULT_JOURNAL, JournalCaps
from bridge.store.redis import RedisStore
from bridge.store.sqlite import SqliteStore
from tests.harness.redis_server import RedisServer
from tests.harness.stores import StoreFactory


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Open the store under test; every call opens another handle on the same data (another replica).

    The Redis store uses the session's ``redis_server`` (tests/conftest.py), under a key prefix of the test's own.
    """
    opened: list[Store] = []
    prefix = f"test-{uuid.uuid4().hex[:8]}:"

    def make(max_alerts: int = 0, max_bytes: int = 0, journal: JournalCaps = DEFAULT_JOURNAL) -> Store:
        if request.param == "sqlite":
            store: Store = SqliteStore(tmp_path / "bridge.db", max_alerts=max_alerts, max_bytes=max_bytes,
                                       journal=journal)
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            store = RedisStore.from_url(f"{server.url}?prefix={prefix}", max_alerts=max_alerts, max_bytes=max_bytes,
                                        journal=journal)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    return make_store()
