"""Reloading the mapping rules: how gunicorn's master and its workers agree, both sides.

The master answers SIGHUP by reading the configuration file once and checking that text; if it is
valid, the master saves the text as a snapshot in a private directory, then bumps a generation number
in memory shared with its forked workers. A worker that sees a new generation takes its rules from that
generation's snapshot, never from the file: an edit made after the reload (or one worker reading before
an edit and another after) can never go live unchecked or split the workers. ``POST /-/reload`` in a
worker asks the master (SIGHUP) and waits for its verdict. Workers are not replaced, unlike gunicorn's
own SIGHUP handling, because replacing gthread workers drops connections they had accepted but not yet
read (benoitc/gunicorn#3380, #3394): a reload must never fail a vendor's callback. A worker forked
later (after a crash) starts with the master's last checked rules.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import re
import shutil
import signal
import struct
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from bridge.config_file import RULE_KEYS, ConfigError, parse_text, read_text
from bridge.metrics import Metrics
from bridge.rules import Rules
from bridge.rules.loading import rules_for
from bridge.settings import Settings

log = logging.getLogger(__name__)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s:'\"/]+/)+(?=[^\s:'\"/])")


def without_directories(message: str) -> str:
    """The message with every absolute path cut to its file name: a caller of ``/-/reload`` learns which
    file is wrong, not how the host's file system is laid out (SECURITY.md, item 5). URLs are left alone."""
    return _ABSOLUTE_PATH.sub("", message)


def restart_options(text: str, path: str) -> dict[str, Any]:
    """What a configuration text sets besides mapping rules: only a restart applies it."""
    try:
        data = parse_text(text, path) if text.strip() else {}
    except ConfigError:
        return {}
    return {key: value for key, value in data.items() if key not in RULE_KEYS}


def needing_restart(started: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The file keys whose value differs from the one the server started with."""
    return sorted(key for key in set(started) | set(now) if started.get(key) != now.get(key))


class ReloadCoordinator(Protocol):
    """How the processes of one server agree on reloads (``SharedReload`` under gunicorn)."""

    def generation(self) -> int:
        """A number that changes whenever a reload has been accepted."""
        ...

    def request(self) -> bool:
        """Ask for a reload and wait for it; True if it was accepted."""
        ...

    def config_text(self, generation: int) -> str:
        """The configuration text accepted as ``generation``: checked once, the same for every process."""
        ...


class SharedReload:
    """Reload bookkeeping: the master writes, forked workers read.

    Two counters in anonymous shared memory: attempts (every SIGHUP handled) and generation (every
    accepted reload). Aligned 8-byte words, one writer: a reader sees the old or the new value, nothing
    torn. The configuration text of each accepted generation is a file in a private directory, written
    before the generation is announced, so a worker that sees a generation can read its text.
    """

    _FORMAT = "=qqd"
    _KEPT = 3
    """Snapshots kept: a worker reads the newest one as soon as it sees it, older ones only in a race."""

    def __init__(self) -> None:
        self._memory = mmap.mmap(-1, struct.calcsize(self._FORMAT))  # MAP_SHARED: survives fork
        self._master = os.getpid()  # not getppid() in a worker: an orphan's parent is init
        self.directory = Path(tempfile.mkdtemp(prefix="cloud-alarm-bridge-config-"))  # mode 0700
        self.started_with: dict[str, Any] = {}
        """The file's settings other than rules at start (set by the master before it forks workers)."""

    def _read(self) -> tuple[int, int]:
        return struct.unpack_from(self._FORMAT, self._memory)[:2]

    def accepted_at(self) -> float | None:
        """When the master last accepted a reload (None: not since start)."""
        return struct.unpack_from(self._FORMAT, self._memory)[2] or None

    def generation(self) -> int:
        return self._read()[1]

    def config_text(self, generation: int) -> str:
        """In a worker: the configuration text the master checked and accepted as ``generation``."""
        return self._snapshot(generation).read_text(encoding="utf-8")

    def _snapshot(self, generation: int) -> Path:
        return self.directory / f"config-{generation}.yml"

    def refuse(self) -> None:
        """In the master: one more attempt, the same generation."""
        attempts, _generation = self._read()
        struct.pack_into("=q", self._memory, 0, attempts + 1)

    def accept(self, text: str) -> None:
        """In the master: save the checked text as the next generation's snapshot, then announce it."""
        attempts, generation = self._read()
        partial = self.directory / f".config-{generation + 1}.partial"
        partial.write_text(text, encoding="utf-8")
        partial.replace(self._snapshot(generation + 1))  # atomic: a reader sees all of it or nothing
        struct.pack_into(self._FORMAT, self._memory, 0, attempts + 1, generation + 1, time.time())
        with contextlib.suppress(OSError):  # announced: tidying up must not undo the reload
            self._snapshot(generation + 1 - self._KEPT).unlink(missing_ok=True)

    def remove(self) -> None:
        """In the master, when it stops."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def request(self, timeout: float = 10.0) -> bool:
        """In a worker: SIGHUP the master and wait for its verdict."""
        attempts, generation = self._read()
        os.kill(self._master, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now_attempts, now_generation = self._read()
            if now_attempts != attempts:
                return now_generation != generation
            time.sleep(0.01)
        return False

    def check_and_publish(self, settings: Settings, metrics: Metrics) -> Rules | None:
        """In the master: check the file and hand its text to the workers; None (old rules kept) if invalid."""
        if not settings.config_file:
            self.refuse()
            log.info("nothing to reload: serve was started without --config")
            return None
        try:
            text = read_text(settings.config_file) if settings.config_file else ""
            rules = rules_for(settings, text)
            self.accept(text)  # OSError: the snapshot could not be written (a full /tmp)
        except (ConfigError, OSError) as exc:
            metrics.record_reload(False)
            self.refuse()
            log.error("configuration reload refused; the current rules stay in force", extra={"error": str(exc)})
            return None
        metrics.record_reload(True)
        restart = needing_restart(self.started_with, restart_options(text, settings.config_file))
        log.log(logging.WARNING if restart else logging.INFO, "configuration reloaded", extra={
            "config_file": settings.config_file,
            **({"changed_but_applied_only_on_restart": restart} if restart else {})})
        return rules


class RulesInForce:
    """A worker's rules, following the reloads the master accepts (without a coordinator: this process's
    own reloads, as in tests and a lone app)."""

    def __init__(self, settings: Settings, rules: Rules, coordinator: ReloadCoordinator | None,
                 metrics: Metrics, generation: int | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.coordinator = coordinator
        self._rules = rules
        self._generation = 0 if coordinator is None else (
            coordinator.generation() if generation is None else generation)
        self._lock = threading.Lock()
        started = getattr(coordinator, "started_with", None)
        self._started_with = started if started is not None else restart_options(self._file_text(), "")
        self.reloaded_at: float | None = None
        """Without a coordinator: when this process last reloaded."""
        self.restart_needed: list[str] = []
        """After a reload: the file keys it changed that only a restart applies (listen, alertmanager_urls...)."""

    @property
    def generation(self) -> int:
        """The reload generation of the rules in force (0: those of the start)."""
        return self._generation

    @property
    def last_reload_at(self) -> float | None:
        """When a reload was last accepted, None if never since the start."""
        accepted_at = getattr(self.coordinator, "accepted_at", None)
        return accepted_at() if accepted_at is not None else self.reloaded_at

    def _file_text(self) -> str:
        try:
            return read_text(self.settings.config_file) if self.settings.config_file else ""
        except ConfigError:
            return ""

    def current(self) -> Rules:
        """The rules in force, after picking up a reload accepted since the last call."""
        if self.coordinator is not None and self.coordinator.generation() != self._generation:
            self._refresh()
        return self._rules

    def _refresh(self) -> bool:
        """Take the rules of the newest accepted generation from the text the master checked, never
        from the file, which may have been edited since; False if they could not be applied."""
        assert self.coordinator is not None
        with self._lock:
            generation = self.coordinator.generation()
            if generation == self._generation:
                return True
            try:
                text = self.coordinator.config_text(generation)
                self._rules = rules_for(self.settings, text, check_options=False)
            except (OSError, ConfigError) as exc:  # not expected: the master wrote and checked it
                log.error("cannot apply the accepted configuration; keeping the current rules",
                          extra={"generation": generation, "error": str(exc)})
                return False  # tried again at the next request
            self._generation = generation
            return True

    def reload(self) -> str | None:
        """Check the configuration file and apply its rules; the problem if it cannot be applied, for the
        caller: the log has it whole, the answer names files without their directories."""
        try:
            text = read_text(self.settings.config_file)
            rules = rules_for(self.settings, text)
        except ConfigError as exc:
            self.metrics.record_reload(False)
            log.error("configuration reload refused; keeping the current rules", extra={"error": str(exc)})
            return without_directories(str(exc))
        if self.coordinator is None:
            self._rules = rules
            self._generation += 1
            self.reloaded_at = time.time()
            self.metrics.record_reload(True)
            log.info("configuration reloaded", extra={"config_file": self.settings.config_file})
        else:
            if not self.coordinator.request():
                return "the server refused the reload or did not answer in time; see its log"
            if not self._refresh():
                return "the reload was accepted, but this worker could not apply it; see its log"
            text = self.coordinator.config_text(self._generation)
        self.restart_needed = needing_restart(self._started_with, restart_options(text, self.settings.config_file))
        return None
