"""The real ``cloud-alarm-bridge`` command on a newcomer's mistakes: one short line naming the cause and the
option to change, no traceback, exit 2 for usage and configuration errors; and help that tells the truth."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import pytest

from bridge.options import OPTIONS
from bridge.settings import Settings
from tests.harness.bridge_process import BRIDGE
from tests.harness.fixtures import FIXTURES
from tests.harness.processes import free_port

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"


def run(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([BRIDGE, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=30,
                          env=env)


def one_line_error(done: subprocess.CompletedProcess, code: int, *phrases: str) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run("serve", f"--listen=127.0.0.1:{free_port()}", "--alertmanager-url=http://127.0.0.1:1", *args,
               cwd=tmp_path)


def test_serve_where_data_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    one_line_error(serve(tmp_path), 2, "data is a file, not a directory", "--store")


def test_serve_with_a_store_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    one_line_error(serve(tmp_path, "--store=sqlite:///file/sub/bridge.db"), 2, "is a file, not a directory",
                   "--store")


def test_serve_with_a_store_url_it_does_not_know(tmp_path: Path) -> None:
    one_line_error(serve(tmp_path, "--store=mysql://db/bridge"), 2, "unsupported store URL", "--store")


def test_serve_on_a_taken_port_says_so_before_taking_the_lease(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = run("serve", f"--listen={address}", "--alertmanager-url=http://127.0.0.1:1", cwd=tmp_path)
    one_line_error(done, 1, f"{address} is already in use", "--listen")
    assert "lease" not in done.stderr and "gunicorn" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


def test_translate_a_missing_file_and_a_directory(tmp_path: Path) -> None:
    one_line_error(run("translate", "tencent", "nope.json", cwd=tmp_path), 2, "nope.json", "no such file")
    one_line_error(run("translate", "tencent", str(tmp_path), cwd=tmp_path), 2, "is a directory")


def test_translate_an_unknown_time_zone(tmp_path: Path) -> None:
    done = run("translate", "--vendor-timezone", "Mars/Base", "tencent",
               str(FIXTURES / "tencent" / "metric-firing.json"), cwd=tmp_path)
    assert "Traceback" not in done.stderr and done.returncode == 2
    assert "unknown time zone 'Mars/Base'" in done.stderr


def test_translate_of_text_from_stdin_blames_the_payload_not_a_content_type(tmp_path: Path) -> None:
    done = run("translate", "tencent", "-", cwd=tmp_path, stdin="hello\n")
    line = one_line_error(done, 1, "not valid JSON")
    assert "x-www-form-urlencoded" not in line


def test_translate_previews_rules_of_a_production_file_whose_secrets_are_elsewhere(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("alertmanagers:\n  - url: http://am:9093\n  - url: https://mimir/alertmanager\n"
                      "    basic_auth: {username: u, password_file: /etc/bridge/mimir-password}\n"
                      "token_file: /etc/bridge/token\nexternal_labels: {team: infra}\n")
    done = run("translate", "--config", str(config), "tencent", str(FIXTURES / "tencent" / "metric-firing.json"),
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"team": "infra"' in done.stdout
    checked = run("check-config", str(config), cwd=tmp_path)  # serve would need them: check-config says so
    assert checked.returncode == 1 and "mimir-password" in checked.stderr


def test_serve_help_shows_each_real_default_and_environment_variable_once(tmp_path: Path) -> None:
    done = run("serve", "--help", cwd=tmp_path, env={"COLUMNS": "400"})
    assert done.returncode == 0
    assert "None" not in done.stdout
    for flag, default in [("--listen", "0.0.0.0:8080"), ("--alertmanager-url", "http://127.0.0.1:9093"),
                          ("--resend-interval", "60s"), ("--workers", "2"), ("--threads", "4"),
                          ("--store", "sqlite:///data/bridge.db")]:
        (block,) = [b for b in re.split(r"\n  (?=--)", done.stdout) if b.startswith(flag + " ")]
        assert f"default: {default};" in " ".join(block.split()), block
    assert done.stdout.count("BRIDGE_ALERTMANAGER_URLS") == 1


def test_translate_and_check_config_help_say_what_they_do(tmp_path: Path) -> None:
    translate = run("translate", "--help", cwd=tmp_path, env={"COLUMNS": "400"}).stdout
    assert "else Asia/Shanghai" in translate
    check = run("check-config", "--help", cwd=tmp_path, env={"COLUMNS": "400"}).stdout
    assert "Check a configuration file" in check


def test_the_readme_table_and_help_describe_options_alike() -> None:
    """Same defaults; an option --help calls repeatable is one the README says to repeat."""
    text = README.read_text()
    rows = re.findall(r"^\| `(--[a-z-]+)[^|]*\| [^|]*\| [^|]*\| ([^|]*) \|", text, re.MULTILINE)
    assert len(rows) >= 15
    for option in OPTIONS:
        row = re.search(rf"^\| `{option.flag} [^|]*\|", text, re.MULTILINE)
        if row and option.repeatable:
            assert "(repeat)" in row.group(), row.group()
    defaults = Settings()
    for flag, shown in rows:
        value = getattr(defaults, flag.removeprefix("--").replace("-", "_"), None)
        token = re.match(r"`([^`]*)`", shown)
        if isinstance(value, float):
            assert token and float(token.group(1).rstrip("s")) == value, flag
        elif isinstance(value, int | str) and value != "":
            assert token and token.group(1) == str(value), flag
