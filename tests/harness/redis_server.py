"""A real ``redis-server`` for tests: a free port, its own directory, append-only file on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis

from tests.harness.processes import free_port, terminate, wait_for

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """``redis-server --save '' --appendonly yes``; restarts keep the port and the data directory."""

    def __init__(self, workdir: Path, appendfsync: str = "everysec") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendfsync = appendfsync
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.workdir / "redis.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", self.appendfsync, "--dir", str(self.workdir), "--daemonize", "no"],
            stdout=self.log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        wait_for(lambda: self._ready(client), 10, message="redis-server ready")
        client.close()
        return self

    def _ready(self, client: redis.Redis) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {(self.workdir / 'redis.log').read_text()[-2000:]}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False  # still starting (or loading the append-only file)

    def flush(self) -> None:
        """Delete every key, whatever its prefix."""
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            client.flushall()
        finally:
            client.close()

    def kill(self) -> None:
        """kill -9: whatever Redis acknowledged must be in the append-only file already."""
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None
            self.log.close()

    def stop(self) -> None:
        if self.process:
            terminate(self.process)
            self.process = None
            self.log.close()
