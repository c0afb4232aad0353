"""The real ``cloud-alarm-bridge serve`` as a process, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from tests.harness.processes import children, free_port, group_members, wait_for

BRIDGE = str(Path(sys.executable).with_name("cloud-alarm-bridge"))


class Bridge:
    """The real ``cloud-alarm-bridge serve``, as a process group that can be killed whole."""

    def __init__(self, workdir: Path, alertmanager_urls: list[str], *args: str,
                 env: dict[str, str] | None = None, port: int | None = None,
                 store: str | None = None, host: str = "127.0.0.1") -> None:
        """``host``: the address to listen on; ``url`` reaches it over loopback unless it is one address only."""
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{self.port}"
        self.store = store or f"sqlite:///{workdir}/bridge.db"
        self.argv = [BRIDGE, "serve", f"--listen={host}:{self.port}", f"--store={self.store}",
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
            with contextlib.suppress(ProcessLookupError):  # it had exited already (a failed start)
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
            self.log.close()

    def kill_supervisor(self, timeout: float = 30) -> float:
        """kill -9 the supervisor alone (gunicorn's master dies with it, PR_SET_PDEATHSIG); wait for the rest
        of the group to go, kill -9 whatever is left after ``timeout``; the seconds the rest lived on."""
        assert self.process is not None
        pgid = self.process.pid
        os.kill(pgid, signal.SIGKILL)
        self.process.wait()
        killed = time.monotonic()
        try:
            wait_for(lambda: not group_members(pgid), timeout, message="the bridge's other processes to exit")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.process = None
            self.log.close()
        return time.monotonic() - killed

    def pids(self) -> dict[str, int]:
        """The running processes by role: the supervisor (with the delivery loop), gunicorn's master,
        and its workers (worker-1, worker-2 ... in pid order); empty while the bridge is down."""
        if not self.process or self.process.poll() is not None:
            return {}
        roles = {"supervisor": self.process.pid}
        for master in children(self.process.pid):
            roles["gunicorn-master"] = master
            for index, worker in enumerate(sorted(children(master)), 1):
                roles[f"worker-{index}"] = worker
        return roles

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


def metric(text: str, name: str) -> float:
    """The sum of every sample in ``text`` (the /metrics page) whose line starts with ``name``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total
