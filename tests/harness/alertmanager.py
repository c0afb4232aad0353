"""A real Alertmanager (Debian's prometheus-alertmanager) for end-to-end tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.harness.processes import free_port, terminate, wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "prometheus-alertmanager"


class Alertmanager:
    """A real Alertmanager on a free port, with its own storage directory (so restarts forget alerts)."""

    def __init__(self, workdir: Path, resolve_timeout: str = "5m", port: int | None = None,
                 route_prefix: str = "", host: str = "127.0.0.1") -> None:
        """``host``: the loopback address to listen on (127.0.0.2, .3 … reach lo too), so that replicas
        found by DNS can share a port as Kubernetes pods do."""
        self.workdir = workdir
        self.port = port or free_port()
        self.host = host
        self.route_prefix = route_prefix.rstrip("/")
        self.url = f"http://{host}:{self.port}{self.route_prefix}"
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
             f"--web.listen-address={self.host}:{self.port}", "--cluster.listen-address=",
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


def active(alerts: list[dict]) -> list[dict]:
    """The alerts Alertmanager holds as active (not silenced, not inhibited)."""
    return [a for a in alerts if a["status"]["state"] == "active"]


def hosts(alerts: list[dict], state: str = "active") -> set[str]:
    """The ``host`` labels of the alerts in ``state``."""
    return {a["labels"]["host"] for a in alerts if a["status"]["state"] == state}
