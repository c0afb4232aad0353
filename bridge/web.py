"""The gunicorn process that ``serve`` starts: reads its settings from stdin, serves ``create_app``."""

from __future__ import annotations

import os
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from prometheus_client import multiprocess

from bridge.config import Settings, from_json


def _child_exit(server: Any, worker: Any) -> None:
    """Keep a dead worker's counters, drop its live gauges (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


class WebServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options = {
            "bind": self.settings.listen,
            "workers": self.settings.workers,
            "threads": self.settings.threads,
            "worker_class": "gthread",
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
