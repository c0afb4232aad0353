"""``serve`` that cannot start exits at once, with a status a supervisor can tell apart and a message an
operator can act on: 2 for a configuration mistake (fix the config or the flag), 1 for a store that does
not answer (fix the store, or wait: Kubernetes restarts it). A password in the store URL never reaches
the output. More start mistakes (a taken port, a store below a file): tests/e2e/test_cli.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.bridge_process import BRIDGE
from tests.harness.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

PASSWORD = "hunter2-secret"


def serve(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """The real command; a start that hangs instead of exiting fails here after 30 s."""
    return subprocess.run([BRIDGE, "serve", f"--listen=127.0.0.1:{free_port()}", "--workers=1",
                           "--alertmanager-url=http://127.0.0.1:9", *flags],
                          cwd=tmp_path, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})


def test_an_invalid_configuration_file_exits_2_naming_the_mistake(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("wokers: 2\n")
    result = serve(tmp_path, f"--config={config}")
    assert result.returncode == 2
    assert result.stderr.startswith(f"cloud-alarm-bridge: {config}: unknown option(s) wokers; known: ")
    assert "Traceback" not in result.stderr


def test_an_invalid_flag_value_exits_2(tmp_path: Path) -> None:
    result = serve(tmp_path, "--resend-interval=soon")
    assert result.returncode == 2
    assert "flag --resend-interval: not a duration: 'soon'" in result.stderr


@pytest.mark.parametrize(("store", "status", "error"), [
    (f"postgres://bridge:{PASSWORD}@db.example:5432/alarms", 2,
     "cannot use the store postgres://bridge:***@db.example:5432/alarms: unsupported store URL"),
    (f"redis://bridge:{PASSWORD}@127.0.0.1:{{port}}/0", 1,
     "the store redis://bridge:***@127.0.0.1:{port}/0 does not answer: redis: Error 111 connecting to"),
], ids=["unsupported", "redis-unreachable"])
def test_a_store_it_cannot_open_stops_the_start_with_the_password_redacted(
        tmp_path: Path, store: str, status: int, error: str) -> None:
    """(A SQLite path below a file: tests/e2e/test_cli.py.)"""
    port = free_port()  # nothing listens there
    store, error = store.format(port=port), error.format(port=port)
    result = serve(tmp_path, f"--store={store}")
    output = result.stdout + result.stderr
    assert result.returncode == status, output[-2000:]
    assert result.stderr.startswith(f"cloud-alarm-bridge: {error}"), output[-2000:]
    assert PASSWORD not in output
    assert "Traceback" not in output
