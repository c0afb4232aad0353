"""A configuration file ``serve`` cannot use: each mistake is refused with a message naming the file and the place.

``serve`` prints the same ConfigError and exits 2 (tests/e2e/test_serve_start.py runs the real command).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bridge.options import add_arguments
from bridge.rules.loading import load_settings
from bridge.settings import ConfigError


def load(path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    load_settings(parser.parse_args(["--config", str(path)]), {})


def refusal(path: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load(path)
    return str(error.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yml"
    assert refusal(path) == f"cannot read configuration file {path}: No such file or directory"


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    """A directory where the file should be: unreadable even for root, whom chmod 000 does not stop."""
    path = tmp_path / "bridge.yml"
    path.mkdir()
    assert refusal(path) == f"cannot read configuration file {path}: Is a directory"


@pytest.mark.parametrize(("text", "message"), [
    ("- workers: 2\n", "the top level must be a mapping of option names"),
    ("just words\n", "the top level must be a mapping of option names"),
    ("workers: [\n", "not valid YAML"),
    ("wokers: 2\n", "unknown option(s) wokers; known: "),
])
def test_a_file_that_is_not_a_mapping_of_known_options_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bridge.yml"
    path.write_text(text)
    assert refusal(path).startswith(f"{path}: {message}")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yml"
    path.write_bytes(b"workers: \xff\n")
    assert refusal(path).startswith(f"{path}: not valid UTF-8")


@pytest.mark.parametrize(("entry", "message"), [
    ("{url: 'am.example:9093'}", "alertmanager URL 'am.example:9093' must start with http:// or https://"),
    ("{url: 'ftp://am.example'}", "alertmanager URL 'ftp://am.example' must start with http:// or https://"),
    ("{name: primary}", "{path}: alertmanagers[0]: each entry needs at least a url"),
    ("http://am.example:9093", "{path}: alertmanagers[0]: each entry needs at least a url"),
    ("{url: 'http://am.example', tls: {insecure_skip_verify: true}}",
     "{path}: alertmanagers[0]: unknown key(s) tls; known: basic_auth, bearer_token, bearer_token_file, headers, "
     "name, timeout, tls_config, url"),
    ("{url: 'http://am.example', basic_auth: {username: u, password: s3cret}, bearer_token: t0ken}",
     "{path}: alertmanagers[0]: basic_auth and bearer_token are mutually exclusive"),
])
def test_a_wrong_alertmanager_entry_is_refused(tmp_path: Path, entry: str, message: str) -> None:
    path = tmp_path / "bridge.yml"
    path.write_text(f"alertmanagers:\n  - {entry}\n")
    text = refusal(path)
    assert text.splitlines()[0] == "invalid configuration:"
    assert f"  {message.format(path=path)}" in text.splitlines()
    assert "s3cret" not in text and "t0ken" not in text  # a refusal never echoes a secret
