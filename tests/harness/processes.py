"""Running and waiting for real processes: free ports, polling until ready, stopping for good."""

from __future__ import annotations

import contextlib
import multiprocessing
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def non_loopback_address() -> str:
    """This machine's address on its first non-loopback interface: a client there is not on loopback."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # a route lookup only: UDP connect sends nothing
            address = sock.getsockname()[0]
    except OSError:  # no route at all: any address of the host's interfaces
        found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
        address = next((a for a in found if "." in a and not a.startswith("127.")), "127.0.0.1")
    if address.startswith("127."):
        raise AssertionError("this machine has no non-loopback IPv4 address to test remote clients from")
    return address


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition") -> Any:
    """Poll until ``predicate`` returns something truthy; fail with ``message`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except (requests.RequestException, AssertionError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    detail = f": {last_error}" if last_error else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {message}{detail}")


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (none once it is gone)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):  # the thread or the process ended while we looked
            found += [int(child) for child in task.read_text().split()]
    return found


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group ``pgid``: whatever a kill left behind."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def terminate(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def in_child(function: Callable[[], Any], timeout: float) -> Any:
    """``function()`` in a forked child, killed after ``timeout`` seconds (then AssertionError).

    For code whose regression hangs in C holding the GIL (a backtracking regex): neither of
    pytest-timeout's methods can interrupt that in-process, but a child can be killed.
    """
    receiver, sender = multiprocessing.get_context("fork").Pipe(duplex=False)

    def run() -> None:
        try:
            sender.send((True, function()))
        except BaseException as exc:
            sender.send((False, exc))

    child = multiprocessing.get_context("fork").Process(target=run, daemon=True)
    child.start()
    sender.close()  # the child's copy is then the only one: its death is an EOF here, not a wait to the end
    try:
        if not receiver.poll(timeout):
            raise AssertionError(f"still running after {timeout} s: killed")
        try:
            ok, result = receiver.recv()
        except EOFError:
            child.join(5)
            raise AssertionError(f"the child died without answering (exit code {child.exitcode})") from None
    finally:
        child.kill()
        child.join()
        receiver.close()
    if not ok:
        raise result
    return result
