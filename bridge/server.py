"""``serve``: the gunicorn web tier as a child process, and the delivery loop in this one.

This process supervises: it forwards SIGTERM (graceful stop) and SIGHUP to gunicorn, and exits if
gunicorn dies, so that the container restarts whole. Gunicorn gets its settings over a pipe (tokens
never go into its environment) and dies with this process (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.config import Settings, to_json

if TYPE_CHECKING:
    from bridge.deliver import Deliverer

log = logging.getLogger("bridge.server")
_PR_SET_PDEATHSIG = 1


def prepare_metrics_dir() -> None:
    """Point prometheus_client at a fresh multiprocess directory; must run before it is imported."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="cloud-alarm-bridge-metrics-")
    shutil.rmtree(path, ignore_errors=True)
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def warn_about_tokens(settings: Settings) -> None:
    """Name the vendors whose URL anyone may post to, and those that refuse every callback."""
    from bridge.auth import Guard
    from bridge.vendors import VENDORS

    guard = Guard.from_settings(settings)
    if not guard.requires_token:
        log.warning("no token configured: anyone who can reach these callback URLs can create alerts",
                    extra={"vendors": list(VENDORS)})
        return
    refused = [vendor for vendor in VENDORS if not guard.accepted_tokens(vendor)]
    if refused:  # closed, not open: once any token is set, every vendor needs one
        log.warning("no token accepted for these vendors: every callback to them is refused",
                    extra={"vendors": refused})


def serve(settings: Settings) -> int:
    from bridge.deliver import Deliverer
    from bridge.store import open_store

    store = open_store(settings.store, max_alerts=settings.store_max_alerts)
    store.ping()
    warn_about_tokens(settings)
    log.info("starting", extra={"listen": settings.listen, "workers": settings.workers,
                                "alertmanagers": [t.name for t in settings.alertmanagers],
                                "resend_interval_seconds": settings.resend_interval})
    web = subprocess.Popen([sys.executable, "-m", "bridge.web"], stdin=subprocess.PIPE,
                           preexec_fn=_die_with_parent)
    assert web.stdin is not None
    web.stdin.write(to_json(settings).encode())
    web.stdin.close()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGHUP, lambda *_: web.send_signal(signal.SIGHUP))

    deliverer = Deliverer(store, settings)
    delivery = threading.Thread(target=deliverer.run, name="delivery", daemon=True)
    delivery.start()
    while not stopping.is_set() and web.poll() is None:
        stopping.wait(0.2)
    return _shutdown(web, deliverer, settings, crashed=not stopping.is_set())


def _shutdown(web: subprocess.Popen, deliverer: Deliverer, settings: Settings, *, crashed: bool) -> int:
    deadline = time.monotonic() + settings.shutdown_timeout
    if crashed:
        log.error("the web server exited; stopping", extra={"returncode": web.returncode})
    else:
        log.info("stopping: finishing requests in flight and the current send")
        web.send_signal(signal.SIGTERM)
    try:
        web.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        web.kill()
        web.wait()
    deliverer.stop(max(0.1, deadline - time.monotonic()))
    log.info("stopped")
    return 1 if crashed else 0
