"""The gunicorn process that ``serve`` starts: reads its settings from stdin, serves ``create_app``.

Three changes to gunicorn's defaults face the internet: connections time out when a request arrives
too slowly (a stalled sender would otherwise hold a worker thread forever), the ``Server`` header
names no software, and the errors gunicorn answers itself (malformed HTTP) are JSON like the app's.
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
from gunicorn.workers.gthread import ThreadWorker
from prometheus_client import multiprocess

from bridge.config import Settings, from_json

SERVER_HEADER = "cloud-alarm-bridge"
"""Sent as ``Server``: gunicorn always sends the header, so name the service and no version."""

_request_timeout: float | None = None
"""Set by WebServer.load_config in the master; workers are forked from it and inherit it."""


class CallbackWorker(ThreadWorker):
    """gthread, with a socket timeout on each connection while its request is read and answered."""

    def handle(self, conn: Any) -> Any:
        if _request_timeout:
            conn.sock.settimeout(_request_timeout)
        return super().handle(conn)


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


class WebServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        global _request_timeout
        _request_timeout = self.settings.request_timeout or None
        _harden_gunicorn()
        options = {
            "bind": self.settings.listen,
            "workers": self.settings.workers,
            "threads": self.settings.threads,
            # the class itself, not its dotted name: this module runs as __main__, and a re-import
            # would not see _request_timeout
            "worker_class": CallbackWorker,
            "graceful_timeout": max(1, int(self.settings.shutdown_timeout)),
            "timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            "loglevel": self.settings.log_level,
            "logger_class": "bridge.logs.JsonGunicornLogger",
            "child_exit": _child_exit,
            "proc_name": "cloud-alarm-bridge-web",
        }
        if os.path.isdir("/dev/shm"):
            options["worker_tmp_dir"] = "/dev/shm"
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from bridge import logs
        from bridge.app import create_app

        logs.setup(self.settings.log_level)
        return create_app(self.settings)


def main() -> None:
    settings = from_json(sys.stdin.read())
    sys.stdin.close()
    WebServer(settings).run()


if __name__ == "__main__":
    main()
