"""``serve`` that cannot start exits at once, with a status a supervisor can tell apart and a message an
operator can act on: 2 for a configuration mistake (fix the config), 1 for a store it cannot open (fix
the store, or wait: Kubernetes restarts it). A password in the store URL never reaches the output.
"""

from __future__ import annotations

import json
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


@pytest.mark.parametrize(("store", "error"), [
    (f"postgres://bridge:{PASSWORD}@db.example:5432/alarms",
     "unsupported store URL 'postgres://bridge:***@db.example:5432/alarms'"),
    (f"redis://bridge:{PASSWORD}@127.0.0.1:{{port}}/0", "redis: Error 111 connecting to 127.0.0.1:{port}"),
    ("sqlite:///{tmp_path}/a-file/bridge.db", "cannot create the directory of {tmp_path}/a-file/bridge.db"),
], ids=["unsupported", "redis-unreachable", "sqlite-uncreatable"])
def test_a_store_it_cannot_open_exits_1_with_the_password_redacted(tmp_path: Path, store: str, error: str) -> None:
    (tmp_path / "a-file").write_text("a file where the store's directory should be\n")
    port = free_port()  # nothing listens there
    store, error = (text.format(port=port, tmp_path=tmp_path) for text in (store, error))
    result = serve(tmp_path, f"--store={store}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    [line] = [json.loads(line) for line in output.splitlines() if '"cannot start"' in line]
    assert error in line["error"]
    assert line["store"] == store.replace(PASSWORD, "***")  # which store, without its password
    assert PASSWORD not in output
    assert "Traceback" not in output
