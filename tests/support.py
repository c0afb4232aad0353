"""Real processes for end-to-end tests: Alertmanager (Debian's prometheus-alertmanager) and the bridge."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "prometheus-alertmanager"
BRIDGE = str(Path(sys.executable).with_name("cloud-alarm-bridge"))
FIXTURES = Path(__file__).parent / "fixtures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Poll until ``predicate`` returns something truthy; fail with ``message`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (requests.RequestException, AssertionError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    detail = f": {last_error}" if last_error else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {message}{detail}")


def terminate(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def fixture_bytes(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


class Alertmanager:
    """A real Alertmanager on a free port, with its own storage directory (so restarts forget alerts)."""

    def __init__(self, workdir: Path, resolve_timeout: str = "5m", port: int | None = None,
                 route_prefix: str = "") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.route_prefix = route_prefix.rstrip("/")
        self.url = f"http://127.0.0.1:{self.port}{self.route_prefix}"
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(
            f"global:\n  resolve_timeout: {resolve_timeout}\n"
            "route:\n  receiver: blackhole\n  group_wait: 1h\n"
            "receivers:\n  - name: blackhole\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> Alertmanager:
        storage = self.workdir / f"storage-{time.monotonic_ns()}"
        self.log = open(self.workdir / "alertmanager.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={self.config}", f"--storage.path={storage}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=warn", *([f"--web.route-prefix={self.route_prefix}"] if self.route_prefix else [])],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: requests.get(f"{self.url}/-/ready", timeout=1).ok, 20, message="alertmanager ready")
        return self

    def stop(self) -> None:
        terminate(self.process)
        self.process = None
        if getattr(self, "log", None):
            self.log.close()

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Alertmanager's own view (GET /api/v2/alerts), active, silenced and inhibited alike."""
        params = [("filter", f'{k}="{v}"') for k, v in filters.items()]
        response = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        response.raise_for_status()
        return response.json()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], Any], timeout: float = 10.0,
                 message: str = "alerts in alertmanager", **filters: str) -> Any:
        return wait_for(lambda: predicate(self.alerts(**filters)), timeout, message=message)


class Bridge:
    """The real ``cloud-alarm-bridge serve``, as a process group that can be killed whole."""

    def __init__(self, workdir: Path, alertmanager_urls: list[str], *args: str,
                 env: dict[str, str] | None = None, port: int | None = None,
                 store: str | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store or f"sqlite:///{workdir}/bridge.db"
        self.argv = [BRIDGE, "serve", f"--listen=127.0.0.1:{self.port}", f"--store={self.store}",
                     "--workers=2", *[f"--alertmanager-url={u}" for u in alertmanager_urls], *args]
        self.env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{self.port}"),
                    **(env or {})}
        self.process: subprocess.Popen | None = None
        self.log_path = workdir / f"bridge-{self.port}.log"

    def start(self) -> Bridge:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                        cwd=self.workdir, start_new_session=True)
        wait_for(self._ready, 20, message=f"bridge ready (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise RuntimeError(f"bridge exited with {self.process.returncode}: {self.log_text()[-2000:]}")
        return requests.get(f"{self.url}/-/ready", timeout=1).ok

    def kill(self) -> None:
        """kill -9 the whole bridge: supervisor, gunicorn master and workers."""
        if self.process:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
            self.log.close()

    def stop(self, timeout: float = 30) -> int | None:
        if not self.process:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        code = self.process.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # anything left of the group
        self.process = None
        self.log.close()
        return code

    def post(self, vendor: str, body: bytes | str, content_type: str = "application/json",
             **kwargs: Any) -> requests.Response:
        data = body.encode() if isinstance(body, str) else body
        return requests.post(f"{self.url}/callbacks/{vendor}", data=data,
                             headers={"Content-Type": content_type, **kwargs.pop("headers", {})},
                             timeout=10, **kwargs)

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=5).text

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
