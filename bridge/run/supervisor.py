"""``serve``: the gunicorn web tier as a child process, and the delivery loop in this one.

This process supervises: it forwards SIGTERM (graceful stop) and SIGHUP to gunicorn, and exits
non-zero if gunicorn or a delivery thread dies, so that the container restarts whole. Gunicorn gets
its settings over a pipe (tokens never go into its environment) and dies with this process
(PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bridge import __version__
from bridge.deliver import Deliverer
from bridge.metrics import Metrics, enable_multiprocess
from bridge.settings import Settings, to_json
from bridge.store import Store, StoreError, open_store, redact_url
from bridge.vendors import VENDORS
from bridge.web.auth import Guard

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


_METRICS_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_[^/]+\.db")
"""prometheus_client's multiprocess files (``counter_<pid>.db``, ``gauge_livesum_<pid>.db``...)."""


class StartError(Exception):
    """``serve`` cannot start; the message names the cause and the option to change."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def prepare_metrics_dir() -> Path | None:
    """Point prometheus_client at a multiprocess directory without a previous run's counts; the
    temporary directory made for it (remove it with :func:`remove_metrics_dir` on the way out), if any.

    Must run before the first metric is built. A directory the operator names may hold other files
    (it could even be /tmp), so only prometheus_client's own files are removed from it.
    """
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    try:
        tempfile.gettempdir()  # gunicorn's master keeps reload snapshots there too: fail here, in one line
    except FileNotFoundError as exc:
        raise StartError(f"{exc}; set TMPDIR to a writable directory (or mount one at /tmp)") from None
    try:
        if not path:
            made = Path(tempfile.mkdtemp(prefix="cloud-alarm-bridge-metrics-"))
            enable_multiprocess(str(made))
            return made
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.iterdir():
            if _METRICS_FILE.fullmatch(stale.name) and stale.is_file():
                stale.unlink(missing_ok=True)
    except OSError as exc:
        where = f"PROMETHEUS_MULTIPROC_DIR {path}" if path else f"a temporary directory in {tempfile.gettempdir()}"
        raise StartError(f"cannot use {where} for metrics: {exc.strerror}; set PROMETHEUS_MULTIPROC_DIR "
                         "to a writable directory") from None
    enable_multiprocess(path)
    return None


def remove_metrics_dir(made: Path | None) -> None:
    """A clean stop leaves nothing behind in /tmp (a restarted container would otherwise pile them up)."""
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


def open_checked_store(settings: Settings) -> Store:
    """The store, answering; StartError naming the cause (exit 2 for a store URL or path that cannot
    work, 1 for a store that does not answer now)."""
    shown = redact_url(settings.store)
    try:
        store = open_store(settings.store, max_alerts=settings.store_max_alerts, max_bytes=settings.store_max_bytes)
    except (StoreError, ValueError) as exc:
        raise StartError(f"cannot use the store {shown}: {exc}; change --store") from None
    try:
        store.ping()
    except StoreError as exc:
        raise StartError(f"the store {shown} does not answer: {exc}", exit_code=1) from None
    return store


def check_listen(listen: str) -> None:
    """Bind the listen address once before anything else starts, so that a taken port is said plainly
    (gunicorn would retry for seconds, print a dozen lines and exit 1) and no lease is taken meanwhile."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            sock.bind((host, int(port)))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartError(f"{listen} is already in use (another bridge or program listens there); "
                                 "stop it or change --listen", exit_code=1) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise StartError(f"{listen}: permission denied to listen on port {port}; change --listen") from None
            raise StartError(f"cannot listen on {listen}: {exc.strerror or exc}; change --listen") from None


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def warn_about_tokens(settings: Settings) -> None:
    """Name the vendors whose URL anyone may post to, and those that refuse every callback."""
    guard = Guard.from_settings(settings)
    if not guard.requires_token:
        log.warning("no token configured: anyone who can reach these callback URLs can create alerts",
                    extra={"vendors": list(VENDORS)})
        return
    refused = [vendor for vendor in VENDORS if not guard.accepted_tokens(vendor)]
    if refused:  # closed, not open: once any token is set, every vendor needs one
        log.warning("no token accepted for these vendors: every callback to them is refused",
                    extra={"vendors": refused})


def warn_about_topics(settings: Settings) -> None:
    """Name the signed-push vendors that accept any topic: anyone may create a topic in their own account
    and subscribe a URL they know; the bridge would confirm it."""
    open_to_any = [name for name, vendor in VENDORS.items()
                   if getattr(vendor, "signed_by", "") and not settings.allow_topics.get(name)]
    if open_to_any:
        log.warning("no --allow-topic for these vendors: signed pushes from any topic are accepted, including "
                    "topics of other accounts subscribed to a URL they know", extra={"vendors": open_to_any})


def serve(settings: Settings) -> int:
    """Run the bridge until SIGTERM or SIGINT; the exit status (1 if a part of it died).

    Raise StartError if it cannot start (a taken port, a store it cannot use).
    """
    check_listen(settings.listen)
    store = open_checked_store(settings)
    warn_about_tokens(settings)
    warn_about_topics(settings)
    log.info("starting", extra={"version": __version__, "listen": settings.listen, "store": describe_store(settings),
                                "config_file": os.path.abspath(settings.config_file) if settings.config_file else "",
                                "workers": settings.workers, "alertmanagers": [t.name for t in settings.alertmanagers],
                                "resend_interval_seconds": settings.resend_interval})
    web = subprocess.Popen([sys.executable, "-m", "bridge.run.webserver"], stdin=subprocess.PIPE,
                           preexec_fn=_die_with_parent)
    assert web.stdin is not None
    web.stdin.write(to_json(settings).encode())
    web.stdin.close()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGHUP, lambda *_: web.send_signal(signal.SIGHUP))

    deliverer = Deliverer(store, settings, Metrics())
    delivery = threading.Thread(target=deliverer.run, name="delivery", daemon=True)
    delivery.start()
    failure = ""
    while not stopping.is_set() and not failure:
        stopping.wait(0.2)
        failure = _failure(web, [delivery], deliverer.dead_threads())
    return _shutdown(web, deliverer, settings, failure)


def describe_store(settings: Settings) -> str:
    """The store URL without a password; an SQLite file as its absolute path (the default is relative
    to the working directory, which an operator should not have to guess)."""
    if settings.store.startswith("sqlite:///"):
        return "sqlite:///" + os.path.abspath(settings.store.removeprefix("sqlite:///"))
    return redact_url(settings.store)


def _failure(web: subprocess.Popen, threads: list[threading.Thread], dead_targets: list[str]) -> str:
    """Why this bridge can no longer do its job, or ""; then it exits so that the container restarts.

    A dead delivery thread would otherwise go unnoticed: callbacks are still acknowledged, /-/healthy
    still answers, and nothing reaches Alertmanager.
    """
    if web.poll() is not None:
        return f"the web server exited with {web.returncode}"
    dead = [t.name for t in threads if t.ident is not None and not t.is_alive()] + dead_targets
    return f"the {dead[0]} thread died" if dead else ""


def _shutdown(web: subprocess.Popen, deliverer: Deliverer, settings: Settings, failure: str) -> int:
    deadline = time.monotonic() + settings.shutdown_timeout
    if failure:
        log.error("stopping: the bridge cannot go on", extra={"reason": failure})
    else:
        log.info("stopping: finishing requests in flight and the current send")
    if web.poll() is None:
        web.send_signal(signal.SIGTERM)
    try:
        web.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        web.kill()
        web.wait()
    deliverer.stop(max(0.1, deadline - time.monotonic()))
    log.info("stopped")
    return 1 if failure else 0
