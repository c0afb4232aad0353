"""The servers under test and beside them: the bridge and Alertmanager (from the test harness), the two
baselines, and a webhook that records when Alertmanager notified each probe.

This is the one module of bench/ that imports the test harness (``tests.harness``, the helpers that
start real processes), so that a move of those helpers changes one place here; the rest of bench/
imports these names from this module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

import requests

from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge
from tests.harness.processes import free_port, terminate, wait_for
from tests.harness.redis_server import RedisServer

__all__ = ["BENCH", "PROBE_ROUTING", "TOKEN", "Alertmanager", "Baseline", "Bridge", "ProbeReceiver", "RedisServer",
           "running", "wait_for"]

BENCH = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789abcdef"
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))

PROBE_ROUTING = """\
route:
  receiver: blackhole
  group_wait: 1h
  routes:
    - receiver: probes
      matchers: ['unInstanceId=~"ins-probe-.*"']
      group_by: ['...']
      group_wait: 0s
      group_interval: 1h
      repeat_interval: 24h
receivers:
  - name: blackhole
  - name: probes
    webhook_configs:
      - url: {url}
        send_resolved: false
"""


class ProbeReceiver:
    """A webhook for Alertmanager's notifications: when each probe alert was first notified."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                for alert in body.get("alerts", []):
                    seen.setdefault(int(alert["labels"]["unInstanceId"].rpartition("-")[2]), now)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def __enter__(self) -> ProbeReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Baseline:
    """One of bench/baselines under gunicorn with the bridge's settings: gthread, 2 workers x 4 threads."""

    def __init__(self, workdir: Path, module: str, alertmanager_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{module}.log"
        self.argv = [GUNICORN, "--worker-class=gthread", "--workers=2", "--threads=4", "--keep-alive=5",
                     f"--bind=127.0.0.1:{self.port}", "--access-logfile=-", f"--chdir={BENCH / 'baselines'}",
                     f"{module}:app"]
        self.env = {**os.environ, "ALERTMANAGER_URL": alertmanager_url}
        self.process: subprocess.Popen | None = None

    def start(self) -> Baseline:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        wait_for(lambda: requests.get(f"{self.url}/callbacks/tencent", timeout=1).status_code == 405, 20,
                 message=f"baseline ready (log: {self.log_path})")
        return self

    def stop(self) -> None:
        terminate(self.process)
        self.log.close()


class Stoppable(Protocol):
    def stop(self) -> object: ...


@contextmanager
def running(*servers: Stoppable) -> Iterator[None]:
    """Stop ``servers`` on the way out, last started first."""
    try:
        yield
    finally:
        for server in reversed(servers):
            server.stop()
