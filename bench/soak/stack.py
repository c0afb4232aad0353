"""The system under soak, all real processes: Alertmanagers, the bridge (one on SQLite, or three replicas
on one Redis with its append-only file fsynced before each reply), the disk the store lives on, and the
HTTPS server that serves the signing certificate of the signed vendors' pushes (a test CA's, which the
bridges are told to trust for those vendors, as tests/e2e/test_aws_e2e.py does)."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
from pathlib import Path

from bench.soak.vendors import CERTIFICATE_PATHS, SHAPES, Signing
from tests.harness.alertmanager import Alertmanager
from tests.harness.bridge_process import Bridge
from tests.harness.processes import wait_for
from tests.harness.redis_server import RedisServer
from tests.harness.signing import SigningServer, TestCA

RESEND_INTERVAL = "2"
"""Re-send firing alerts every 2 s, so a restarted Alertmanager relearns them within the check's wait."""
LEASE_TTL = "3"


class Disk:
    """A small tmpfs for the store (mounting needs root), filled to the last byte and freed on demand."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path, self.size_mb = path, size_mb
        self.filler = path / "filler"
        self.mounted = False

    def mount(self) -> Disk:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "soak-store", str(self.path)],
                       check=True, capture_output=True)
        self.mounted = True
        return self

    def fill(self) -> int:
        """Write zeros until the filesystem says ENOSPC; the bytes it took."""
        written = 0
        with self.filler.open("ab") as file:
            try:
                while True:
                    written += os.write(file.fileno(), bytes(65536))
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            with contextlib.suppress(OSError):  # the last bytes: a smaller write may still fit
                while True:
                    written += os.write(file.fileno(), bytes(512))
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
            self.mounted = False


class Stack:
    """``alertmanagers`` Alertmanagers; one bridge on SQLite, or ``replicas`` bridges on one Redis."""

    def __init__(self, workdir: Path, store: str, alertmanagers: int = 2, replicas: int = 3) -> None:
        self.workdir = workdir
        # Redis rewrites its append-only file only once it reaches 64 MB (auto-aof-rewrite-min-size): a
        # smaller disk fills for good in a long run, and every Redis start then ends at the first write.
        disk_mb = 160 if store == "redis" else 32
        self.disk = Disk(workdir / "disk", disk_mb) if os.geteuid() == 0 else None
        self.no_disk_because = "" if self.disk else "mounting a tmpfs needs root (run as root to include it)"
        store_dir = workdir / "disk"
        self.ams = []
        for index in range(alertmanagers):
            (workdir / f"am-{index}").mkdir(parents=True)
            self.ams.append(Alertmanager(workdir / f"am-{index}"))
        self.redis = RedisServer(store_dir / "redis", appendfsync="always") if store == "redis" else None
        store_url = self.redis.url if self.redis else f"sqlite:///{store_dir}/bridge.db"
        self.redis_lock = threading.Lock()
        self.redis_exits = 0
        self._closing = threading.Event()
        self._keeper = threading.Thread(target=self._keep_redis, name="redis-keeper", daemon=True)
        (workdir / "signing").mkdir(parents=True)
        self.signing = Signing(SigningServer(TestCA(workdir / "signing")))
        """One signing server for the run; its port is known now, so the bridges' options are too."""
        trust = [arg for vendor, shape in SHAPES.items() if shape.signed
                 for arg in self.signing.server.bridge_args(vendor)]
        self.bridges = []
        for index in range(replicas if self.redis else 1):
            (workdir / f"bridge-{index}").mkdir(parents=True)
            self.bridges.append(Bridge(workdir / f"bridge-{index}", [am.url for am in self.ams],
                                       f"--resend-interval={RESEND_INTERVAL}", f"--lease-ttl={LEASE_TTL}",
                                       "--shutdown-timeout=5s", *trust, store=store_url))

    def start(self) -> Stack:
        if self.disk:
            try:
                self.disk.mount()
            except subprocess.CalledProcessError as exc:  # root without CAP_SYS_ADMIN (a container)
                self.no_disk_because = f"mount failed: {exc.stderr.decode(errors='replace').strip()[:200]}"
                self.disk = None
        for path in CERTIFICATE_PATHS.values():
            self.signing.server.serve_certificate(path)
        self.signing.server.start()
        for am in self.ams:
            am.start()
        if self.redis:
            self.redis.start()
            self._keeper.start()
        for bridge in self.bridges:
            bridge.start()
        return self

    def _keep_redis(self) -> None:
        """Start Redis again whenever it exits on its own, as its orchestrator would: with appendfsync
        always, Redis exits when it cannot write its append-only file (a full disk)."""
        assert self.redis is not None
        while not self._closing.wait(0.5):
            with self.redis_lock:
                process = self.redis.process
                if process is None or process.poll() is None:
                    continue
                self.redis_exits += 1
                self.redis.process = None
                self.redis.log.close()
                with contextlib.suppress(RuntimeError, AssertionError):  # exited again: next round
                    self.redis.start()

    @property
    def endpoints(self) -> list[str]:
        return [bridge.url for bridge in self.bridges]

    def wait_up(self, timeout: float = 60) -> list[str]:
        """Wait for each bridge to answer ready after the faults' recoveries; what is still not ready."""
        not_ready = []
        for bridge in self.bridges:
            try:
                wait_for(bridge._ready, timeout, interval=0.2, message=f"{bridge.url} ready")
            except (AssertionError, RuntimeError) as exc:
                not_ready.append(f"{exc}; log: {bridge.log_text()[-1500:]}")
        return not_ready

    def restart_bridge(self, bridge: Bridge, tries: int = 30) -> int:
        """Start a killed bridge again, as a container runtime would, until it comes up; the failed starts."""
        for failed in range(tries):
            try:
                bridge.start()
                return failed
            except (RuntimeError, AssertionError):
                bridge.kill()
                time.sleep(1)
        raise RuntimeError(f"{bridge.url} did not start in {tries} tries: {bridge.log_text()[-1000:]}")

    def tracebacks(self) -> int:
        return sum(bridge.log_text().count("Traceback") for bridge in self.bridges)

    def stop(self) -> None:
        self._closing.set()
        if self._keeper.is_alive():
            self._keeper.join()
        for bridge in self.bridges:
            with contextlib.suppress(Exception):
                bridge.stop(timeout=15)
        if self.redis:
            self.redis.stop()
        for am in self.ams:
            am.stop()
        if self.signing.server.thread.is_alive():
            self.signing.server.stop()
        if self.disk:
            self.disk.free()
            self.disk.unmount()
