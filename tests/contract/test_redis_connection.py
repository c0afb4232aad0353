"""Reaching Redis: the URL forms the docs promise (TLS, Sentinel, prefixes), and failing fast."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.model import AlarmState, Alert
from bridge.store import Outcome, Store, StoreError, open_store
from tests.harness.processes import free_port, wait_for
from tests.harness.redis_server import REDIS_SERVER, RedisServer

NOW = 1_700_000_000.0
FIRING = Alert(labels={"alertname": "CPUHigh", "vendor": "tencent", "host": "web-1"}, annotations={},
               state=AlarmState.FIRING, starts_at=NOW, event_at=NOW)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Start ``redis-server ARGS`` in the test's directory; killed after the test."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> None:
        started.append(subprocess.Popen([REDIS_SERVER, *args], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, cwd=tmp_path))

    yield start
    for process in started:
        process.kill()
        process.wait()


def answers(store: Store) -> bool:
    try:
        store.ping()
    except StoreError:
        return False
    return True


def test_prefixes_keep_two_bridges_apart(redis_server: RedisServer) -> None:
    team_a = open_store(f"{redis_server.url}?prefix=team-a:")
    team_b = open_store(f"{redis_server.url}?prefix=team-b:")
    assert team_a.apply([FIRING], NOW) == [Outcome.CHANGED]
    assert team_b.apply([FIRING], NOW) == [Outcome.CHANGED]
    assert team_b.stats([], NOW).total == 1


def test_an_unreachable_redis_is_a_store_error_at_once() -> None:
    store = open_store(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(StoreError):
        store.ping()
    with pytest.raises(StoreError):
        store.apply([FIRING], NOW)
    assert time.monotonic() - started < 2


def test_it_finds_the_primary_through_sentinel(tmp_path: Path, daemon: Callable[..., None]) -> None:
    primary, sentinel = free_port(), free_port()
    daemon("--port", str(primary), "--save", "", "--requirepass", "sekret")
    config = tmp_path / "sentinel.conf"
    config.write_text(f"port {sentinel}\nsentinel monitor mymaster 127.0.0.1 {primary} 1\n"
                      "sentinel auth-pass mymaster sekret\n")
    daemon(str(config), "--sentinel")
    store = open_store(f"redis+sentinel://:sekret@127.0.0.1:{sentinel}/mymaster/0?prefix=s:")
    wait_for(lambda: answers(store), 10, message="the primary through sentinel")
    assert store.apply([FIRING], NOW) == [Outcome.CHANGED]


def test_it_speaks_tls(tmp_path: Path, daemon: Callable[..., None]) -> None:
    subprocess.run([shutil.which("openssl") or "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], cwd=tmp_path, check=True, capture_output=True)
    port = free_port()
    daemon("--port", "0", "--tls-port", str(port), "--tls-cert-file", "cert.pem",
                            "--tls-key-file", "key.pem", "--tls-auth-clients", "no", "--save", "")
    store = open_store(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tmp_path / 'cert.pem'}")
    wait_for(lambda: answers(store), 10, message="redis over TLS")
    assert store.apply([FIRING], NOW) == [Outcome.CHANGED]
    with pytest.raises(StoreError):  # TLS means verified TLS: an unknown CA is refused
        open_store(f"rediss://127.0.0.1:{port}/0").ping()
