"""The gunicorn process that ``serve`` starts: reads its settings from stdin, serves ``create_app``.

Reloading: gunicorn answers SIGHUP by starting new workers (each calls ``load()``, so ``create_app``
again) and stopping the old ones gracefully. The master checks the configuration file *before* that,
and on a bad file keeps the old workers, so a typo never takes callbacks down. The workers get the
rules the master checked (they are forked from it), never a file that may have changed since.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from prometheus_client import multiprocess

from bridge import metrics
from bridge.config import ConfigError, Settings, from_json, rules_for
from bridge.rules import Rules

log = logging.getLogger("bridge.web")


def _child_exit(server: Any, worker: Any) -> None:
    """Keep a dead worker's counters, drop its live gauges (prometheus_client multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def _signal_master() -> None:
    """What ``POST /-/reload`` does in a worker once the file checks out: the master reloads."""
    os.kill(os.getppid(), signal.SIGHUP)


class _CheckingArbiter(Arbiter):
    """Gunicorn's master, refusing a reload (SIGHUP) while the configuration file is invalid."""

    def handle_hup(self) -> None:
        if self.app.refresh_rules():
            super().handle_hup()


class WebServer(BaseApplication):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rules: Rules = rules_for(settings)
        super().__init__()

    def refresh_rules(self) -> bool:
        """Load the file's rules for the next workers; False (and the old rules kept) if it is invalid."""
        try:
            rules = rules_for(self.settings)
        except ConfigError as exc:
            metrics.record_reload(False)
            log.error("configuration reload refused; the current rules stay in force", extra={"error": str(exc)})
            return False
        self.rules = rules
        metrics.record_reload(True)
        log.info("configuration reloaded; replacing the workers", extra={"config_file": self.settings.config_file})
        return True

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
        return create_app(self.settings, rules=self.rules, reload=_signal_master)

    def run(self) -> None:
        try:
            _CheckingArbiter(self).run()
        except RuntimeError as exc:
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.exit(1)


def main() -> None:
    from bridge import logs

    settings = from_json(sys.stdin.read())
    sys.stdin.close()
    logs.setup(settings.log_level)
    server = WebServer(settings)
    metrics.record_reload(True)
    server.run()


if __name__ == "__main__":
    main()
