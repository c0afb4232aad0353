"""Connections opened together are spread over the workers (bridge.run.balance), and a dead worker's share
never stops the others from accepting."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge
from tests.harness.payloads import tencent
from tests.harness.processes import wait_for

pytestmark = pytest.mark.e2e
TOKEN = "balance-s3cret"
CONNECTIONS = 16


def callback(instance: str, close: bool = False) -> bytes:
    body = tencent(instance)
    head = [f"POST /callbacks/tencent?token={TOKEN} HTTP/1.1", "Host: bridge", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(["Connection: close"] if close else [])]
    return "\r\n".join([*head, "", ""]).encode() + body


def answered_ok(sock: socket.socket) -> bool:
    """Read one answer (headers and the small JSON body) and say whether it was a 200."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    length = lengths[0] if lengths else 0
    while len(body) < length:
        body += sock.recv(65536)
    return head.startswith(b"HTTP/1.1 200")


def connections_held(pid: int) -> int:
    """The sockets a worker has open, less its listening socket."""
    sockets = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            sockets += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return sockets - 1


def booted(bridge: Bridge) -> dict[str, int]:
    wait_for(lambda: bridge.log_text().count("Booting worker") >= 2, timeout=20, message="both workers booted")
    wait_for(lambda: len([r for r in bridge.pids() if r.startswith("worker-")]) == 2, timeout=10)
    return bridge.pids()


def test_connections_opened_together_are_spread_over_both_workers(alertmanager: Alertmanager,
                                                                  start_bridge: Callable[..., Bridge]) -> None:
    """A vendor's pool (or a load balancer) that opens its connections at once and keeps them alive must not land
    them all on one worker: that worker's one core would serve every callback while the other idles."""
    bridge = start_bridge([alertmanager.url], f"--token={TOKEN}")
    pids = booted(bridge)
    time.sleep(0.5)  # both loops idle in select, as when a pool connects
    socks = [socket.create_connection(("127.0.0.1", bridge.port), timeout=5) for _ in range(CONNECTIONS)]
    try:
        for index, sock in enumerate(socks):
            sock.sendall(callback(f"ins-balance-{index}"))
        assert all(answered_ok(sock) for sock in socks)
        held = sorted(connections_held(pids[role]) for role in ("worker-1", "worker-2"))
        assert sum(held) == CONNECTIONS
        assert held[0] >= CONNECTIONS // 2 - 3, f"connections per worker: {held}"
    finally:
        for sock in socks:
            sock.close()


def test_a_stopped_worker_does_not_stop_the_other_from_accepting(alertmanager: Alertmanager,
                                                                 start_bridge: Callable[..., Bridge]) -> None:
    """A worker that stops (SIGSTOP here; a hung or killed one alike) leaves its share on record, holding no
    connection: the live one, holding several, must accept all the same, without waiting for the share to go
    stale."""
    bridge = start_bridge([alertmanager.url], f"--token={TOKEN}")
    pids = booted(bridge)
    time.sleep(0.5)  # both have written their share
    os.kill(pids["worker-2"], signal.SIGSTOP)
    kept = []
    try:
        for index in range(4):  # only worker-1 accepts now: it holds four
            kept.append(socket.create_connection(("127.0.0.1", bridge.port), timeout=5))
            kept[-1].sendall(callback(f"ins-kept-{index}"))
            assert answered_ok(kept[-1])
        slowest = 0.0
        for index in range(40):  # each on a connection of its own, as vendors mostly send
            started = time.monotonic()
            with socket.create_connection(("127.0.0.1", bridge.port), timeout=5) as sock:
                sock.sendall(callback(f"ins-while-stopped-{index}", close=True))
                assert answered_ok(sock)
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 0.5, f"a connection waited {slowest:.2f}s to be accepted"
    finally:
        os.kill(pids["worker-2"], signal.SIGCONT)
        for sock in kept:
            sock.close()
