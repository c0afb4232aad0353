"""Issue 19 item 5: a broken configuration file never echoes its secrets, nor the host's directories."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from bridge.rules.loading import load_settings
from bridge.settings import ConfigError, Settings
from bridge.store.sqlite import SqliteStore
from bridge.web.app import create_app

SECRET = "AM-PASSWORD-123"
TYPOS = {
    "unclosed quote in basic_auth": f'alertmanagers:\n  - url: http://am:9093\n    basic_auth: {{username: bridge, '
                                    f'password: "{SECRET}}}\n',
    "unclosed quote in vendor_tokens": f'vendor_tokens:\n  tencent: "{SECRET}\n',
    "unclosed quote in a token list": f"tokens: ['{SECRET}]\n",
    "basic_auth as a string": f'alertmanagers:\n  - url: http://am:9093\n    basic_auth: "bridge:{SECRET}"\n',
    "a tab before a secret": f"tokens:\n\t- {SECRET}\n",
    # PyYAML's own messages quote an alias, a tag or an anchor: the text of the file
    "a password written as an alias": f"alertmanagers:\n  - url: http://am:9093\n    basic_auth:\n"
                                      f"      password: *{SECRET}\n",
    "a token written as a tag": f"vendor_tokens:\n  tencent: !{SECRET} x\n",
    "a token written as a standard tag": f"tokens: [!!{SECRET} x]\n",
    "a token written as a verbatim tag": f"tokens: !<{SECRET}> x\n",
    "a secret as a duplicate anchor": f"tokens: [&{SECRET} a, &{SECRET} b]\n",
}


@pytest.mark.parametrize("text", TYPOS.values(), ids=TYPOS.keys())
def test_a_config_error_names_the_place_but_never_quotes_the_secret(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bridge.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(argparse.Namespace(config=str(path)), env={})
    assert SECRET not in str(raised.value)
    assert str(path) in str(raised.value)  # the operator who runs it sees which file, and where in it
    assert "line " in str(raised.value) or "alertmanagers[0]" in str(raised.value)


def test_a_refused_reload_answers_json_without_the_secret_or_the_directory(
        tmp_path: Path, store: SqliteStore, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("external_labels: {team: infra}\n")
    client = create_app(Settings(config_file=str(config)), store=store).test_client()
    config.write_text(TYPOS["unclosed quote in basic_auth"])
    with caplog.at_level(logging.ERROR):
        response = client.post("/-/reload")
    assert response.status_code == 500 and response.mimetype == "application/json"
    error = response.json["error"]
    assert "bridge.yml: not valid YAML: line 4, column 1" in error
    assert SECRET not in error and str(tmp_path) not in error
    assert caplog.records and all(SECRET not in record.getMessage() + str(record.__dict__) for record in caplog.records)
