"""The gunicorn master that ``serve`` starts: reads its settings from stdin, serves ``create_app``.

Four changes to gunicorn's defaults face the internet: the worker (bridge.run.worker) reads requests whole
in an event loop before a thread takes them, with a deadline for each and a cap on connections that sheds
the oldest idle one; no peer is trusted as a proxy by gunicorn; the ``Server`` header names no software;
and the errors gunicorn answers itself (malformed HTTP) are JSON like the app's.
SIGHUP reloads the mapping rules (bridge.reload) instead of replacing workers.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

import gunicorn.http.wsgi
import gunicorn.util
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from prometheus_client import multiprocess

from bridge import logs
from bridge.config_file import read_text
from bridge.metrics import Metrics
from bridge.reload import SharedReload, restart_options
from bridge.rules import Rules
from bridge.rules.loading import rules_for
from bridge.run import worker
from bridge.run.balance import ConnectionShares
from bridge.run.worker import GUNICORN_HEAD_LIMITS, SERVER_HEADER, CallbackWorker
from bridge.settings import Settings, from_json
from bridge.web.app import create_app


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """Answer malformed HTTP the way the app answers everything: JSON, no page, no internals.

    Gunicorn answers an unsupported Transfer-Encoding 501; it is the client's request that is at
    fault, so it becomes a 400 (the endpoint never answers 5xx to anything a client can send).
    """
    if status_int == 501:
        status_int, reason = 400, "Bad Request"
    body = json.dumps({"error": f"{reason}: {mesg}"[:300] if mesg else reason}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nServer: {SERVER_HEADER}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


def _harden_gunicorn() -> None:
    gunicorn.http.wsgi.SERVER = SERVER_HEADER  # read by each Response; gunicorn has no setting for it
    gunicorn.util.write_error = write_json_error  # workers call util.write_error for malformed requests


def _child_exit(server: Any, worker: Any) -> None:
    """Keep a dead worker's counters, drop its live gauges (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


class _CheckingArbiter(Arbiter):
    """Gunicorn's master, with SIGHUP reloading the mapping rules instead of replacing workers."""

    def handle_hup(self) -> None:
        self.app.refresh_rules()


class WebServer(BaseApplication):
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        text = read_text(settings.config_file) if settings.config_file else ""
        self.rules: Rules = rules_for(settings, text)
        self.shared = SharedReload()
        self.shared.started_with = restart_options(text, settings.config_file)
        self.rules_generation = self.shared.generation()
        """The generation ``rules`` belong to. A worker forked before a reload but loading its app after
        it must start from this, not from the shared generation, or it would keep the old rules."""
        super().__init__()

    def refresh_rules(self) -> bool:
        """Check the file and hand its text to the workers; False (old rules kept) if it is invalid."""
        rules = self.shared.check_and_publish(self.settings, self.metrics)
        if rules is None:
            return False
        self.rules, self.rules_generation = rules, self.shared.generation()
        return True

    def load_config(self) -> None:
        worker.request_timeout = self.settings.request_timeout
        worker.max_body_bytes = self.settings.max_body_bytes
        worker.shares = ConnectionShares(self.settings.workers) if self.settings.workers > 1 else None
        _harden_gunicorn()
        options = {
            "bind": self.settings.listen,
            "workers": self.settings.workers,
            "threads": self.settings.threads,
            "worker_class": CallbackWorker,
            "worker_connections": self.settings.max_connections,
            # no peer is a proxy to gunicorn: SCRIPT_NAME, X-Forwarded-Proto and the like from loopback
            # would re-route paths; the app reads X-Forwarded-For itself, from --trusted-proxy only
            "forwarded_allow_ips": "",
            "forwarder_headers": "",
            "secure_scheme_headers": {},
            "graceful_timeout": max(1, int(self.settings.shutdown_timeout)),
            "timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": self.settings.log_level,
            "logger_class": "bridge.logs.JsonGunicornLogger",
            "child_exit": _child_exit,
            "proc_name": "cloud-alarm-bridge-web",
            **GUNICORN_HEAD_LIMITS,
        }
        if os.path.isdir("/dev/shm"):
            options["worker_tmp_dir"] = "/dev/shm"
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        logs.setup(self.settings.log_level)
        return create_app(self.settings, rules=self.rules, coordinator=self.shared,
                          rules_generation=self.rules_generation)

    def run(self) -> None:
        master = os.getpid()
        try:
            _CheckingArbiter(self).run()
        except RuntimeError as exc:
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.exit(1)
        finally:
            if os.getpid() == master:  # workers leave run() too, by SystemExit
                self.shared.remove()


def main() -> None:
    settings = from_json(sys.stdin.read())
    sys.stdin.close()
    logs.setup(settings.log_level)
    server = WebServer(settings)
    server.metrics.record_reload(True)
    server.run()


if __name__ == "__main__":
    main()
