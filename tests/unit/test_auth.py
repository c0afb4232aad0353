"""Who may post: tokens (global and per vendor, rotated, from files) and source networks behind proxies."""

from __future__ import annotations

import argparse
import base64
import hmac
import io
import ipaddress
import json
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask.testing import FlaskClient
from gunicorn.config import Config

from bridge.logs import ACCESS_FIELDS, JsonFormatter, JsonGunicornLogger, redact_query
from bridge.options import add_arguments
from bridge.rules.loading import load_settings, rules_for
from bridge.run.supervisor import warn_about_tokens
from bridge.settings import ConfigError, Settings, from_json, to_json
from bridge.store.sqlite import SqliteStore
from bridge.vendors import VENDORS
from bridge.web.auth import client_address, networks, token_matches
from tests.harness.fixtures import fixture_bytes

KINGSOFT = fixture_bytes("kingsoft", "alarm.json")


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def post(c: FlaskClient, vendor: str = "kingsoft", token: str | None = None, remote: str = "127.0.0.1",
         forwarded_for: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    body = KINGSOFT if vendor == "kingsoft" else fixture_bytes("tencent", "metric-firing.json")
    return c.post(f"/callbacks/{vendor}", data=body, content_type="application/json", headers=headers,
                  environ_base={"REMOTE_ADDR": remote})


# --- configuration -------------------------------------------------------------------------------------

def test_a_token_file_holds_several_tokens_one_per_line(tmp_path: Path) -> None:
    (tmp_path / "tokens").write_text("# rotated 2026-01\nnew-token\n\n  old-token  \n")
    settings = load_settings(args("--token", "flag-token", "--token-file", str(tmp_path / "tokens")), {})
    assert settings.tokens == ("flag-token", "new-token", "old-token")


def test_a_single_line_token_file_works_as_before(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    assert load_settings(args(), {"BRIDGE_TOKEN_FILE": str(tmp_path / "token")}).tokens == ("s3cret",)


def test_vendor_tokens_come_from_flags_environment_files_and_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "aliyun").write_text("ali-1\nali-2\n")
    file = tmp_path / "bridge.yml"
    file.write_text("vendor_tokens:\n  kingsoft: [ks-1, ks-2]\n  tencent: tc-file\n")
    from_file = load_settings(args("--vendor-token-file", f"aliyun={tmp_path / 'aliyun'}", "--config", str(file)), {})
    assert from_file.vendor_tokens == {"aliyun": ("ali-1", "ali-2"), "kingsoft": ("ks-1", "ks-2"),
                                       "tencent": ("tc-file",)}
    # like every option, a flag replaces the file's value as a whole
    from_flag = load_settings(args("--vendor-token", "tencent=tc-flag", "--config", str(file)), {})
    assert from_flag.vendor_tokens == {"tencent": ("tc-flag",)}
    from_env = load_settings(args(), {"BRIDGE_VENDOR_TOKENS": "tencent=a,tencent=b=c"})
    assert from_env.vendor_tokens == {"tencent": ("a", "b=c")}


def test_allowlists_and_proxies_come_from_every_source(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yml"
    file.write_text("vendor_allow_cidrs:\n  aliyun: [47.74.206.0/26, 8.222.159.116]\ntrusted_proxies: [10.0.0.0/8]\n")
    settings = load_settings(args("--allow-cidr", "192.0.2.0/24", "--config", str(file)),
                           {"BRIDGE_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    assert settings.allow_cidrs == ("192.0.2.0/24",)
    assert settings.vendor_allow_cidrs == {"aliyun": ("47.74.206.0/26", "8.222.159.116/32")}
    assert settings.trusted_proxies == ("127.0.0.1/32", "::1/128")  # the environment beats the file


@pytest.mark.parametrize("given", [
    ("--token", ""),
    ("--token", " , "),
    ("--token-file", "{empty}"),
    ("--token-file", "{comments}"),
    ("--vendor-token-file", "tencent={empty}"),
])
def test_a_token_source_without_a_token_refuses_to_start(tmp_path: Path, given: tuple[str, str]) -> None:
    """Never fail open: an empty mounted secret or a blank flag is a mistake, not a wish for no tokens."""
    (tmp_path / "empty").write_text("")
    (tmp_path / "comments").write_text("# rotated 2026-01\n\n")
    flag, value = given
    with pytest.raises(ConfigError, match=r"holds no token|given but empty"):
        load_settings(args(flag, value.format(empty=tmp_path / "empty", comments=tmp_path / "comments")), {})


@pytest.mark.parametrize("env", [{"BRIDGE_TOKEN": ""}, {"BRIDGE_TOKEN": "  "}, {"BRIDGE_TOKEN_FILE": ""},
                                 {"BRIDGE_VENDOR_TOKENS": ""}])
def test_a_blank_token_variable_refuses_to_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=f"environment {next(iter(env))}: given but empty"):
        load_settings(args(), env)


def test_a_config_file_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    file = tmp_path / "bridge.yml"
    for text in ("tokens: []\n", f"token_file: {tmp_path / 'empty'}\n", "vendor_tokens: {aliyun: []}\n"):
        file.write_text(text)
        with pytest.raises(ConfigError):
            load_settings(args("--config", str(file)), {})
        with pytest.raises(ConfigError):  # and check-config and reloads say the same
            rules_for(Settings(config_file=str(file)))


def test_the_start_warning_names_the_open_vendors_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "bridge.run.supervisor")
    warn_about_tokens(Settings())
    [open_warning] = caplog.records
    assert "anyone who can reach" in open_warning.getMessage()
    assert open_warning.vendors == list(VENDORS)
    caplog.clear()
    warn_about_tokens(Settings(vendor_tokens={"tencent": ("t",)}))
    [closed_warning] = caplog.records
    assert "anyone" not in closed_warning.getMessage()
    assert closed_warning.vendors == [v for v in VENDORS if v != "tencent"]
    caplog.clear()
    warn_about_tokens(Settings(tokens=("t",)))
    assert caplog.records == []


def test_bad_security_options_are_reported_without_echoing_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(args("--vendor-token", "tencnet=abc", "--vendor-token-file", "TOPSECRET", "--allow-cidr",
                         "10.0.0/33", "--token-file", str(tmp_path / "missing")), {})
    text = str(error.value)
    assert f"unknown vendor 'tencnet'; known: {', '.join(VENDORS)}" in text
    assert "expected VENDOR=VALUE" in text and "TOPSECRET" not in text
    assert "not an IP network: '10.0.0/33'" in text
    assert "cannot read" in text


def test_new_settings_survive_the_trip_to_gunicorn() -> None:
    settings = Settings(tokens=("a",), vendor_tokens={"tencent": ("b",)}, allow_cidrs=("10.0.0.0/8",),
                        vendor_allow_cidrs={"aliyun": ("47.74.206.0/26",)}, trusted_proxies=("127.0.0.1/32",),
                        max_json_depth=5, request_timeout=3.0)
    assert from_json(to_json(settings)) == settings
    assert "'b'" not in repr(settings) and "'a'" not in repr(settings)


# --- tokens --------------------------------------------------------------------------------------------

def test_a_vendor_token_opens_only_its_own_vendor(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(tokens=("global",), vendor_tokens={"tencent": ("tc-only",)})
    assert post(c, "tencent", "tc-only").status_code == 200
    assert post(c, "kingsoft", "tc-only").status_code == 401
    assert post(c, "kingsoft", "global").status_code == 200
    assert post(c, "tencent", "global").status_code == 200


def test_with_only_vendor_tokens_other_vendors_are_closed_not_open(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(vendor_tokens={"tencent": ("tc-only",)})
    assert post(c, "kingsoft").status_code == 401
    assert post(c, "tencent", "tc-only").status_code == 200


def test_both_tokens_work_during_a_rotation(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(tokens=("old", "new"))
    assert post(c, token="old").status_code == 200
    basic = base64.b64encode(b"user:new").decode()
    assert c.post("/callbacks/kingsoft", data=KINGSOFT, content_type="application/json",
                  headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_tokens_are_compared_in_constant_time_with_every_accepted_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """``==`` would leak, by its timing, how much of a guess is right; an early exit, which token matched."""
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def spy(given: bytes, accepted: bytes) -> bool:
        compared.append((given, accepted))
        return constant_time(given, accepted)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert token_matches("new", ("old", "new", "next"))
    assert compared == [(b"new", b"old"), (b"new", b"new"), (b"new", b"next")]
    assert not token_matches("guess", ("old",))
    assert compared[-1] == (b"guess", b"old")


def test_the_token_never_reaches_a_log_line() -> None:
    record = logging.makeLogRecord({"msg": "Invalid request from ip=1.2.3.4: Invalid HTTP Version: "
                                           "'GET /callbacks/tencent?sessionId=1&token=s3cret HTTP/9'"})
    line = JsonFormatter().format(record)
    assert "s3cret" not in line and "token=***" in line


@pytest.mark.parametrize(("query", "logged"), [
    ("sessionId=1&token=s3cret", "sessionId=1&token=***"),
    ("%74oken=s3cret&a=b", "%74oken=***&a=b"),  # Werkzeug decodes the name: this token is accepted
    ("t%6Fken=s3cret", "t%6Fken=***"),
    ('token=ab"cd&x=1', "token=***&x=1"),  # the whole value, whatever characters it holds
    ("token=ab'c d%26e&x=1", "token=***&x=1"),
    ("TOKEN=s3cret&token=&tokens=s3cret&kept=1", "TOKEN=***&token=***&tokens=***&kept=1"),
    ("access_token=s3cret&signature=sig", "access_token=***&signature=***"),
    # near misses (issue 19 item 11): a mistyped or mangled name may still carry a real token
    ("token[]=s3cret&a=b", "token[]=***&a=b"),
    ("token%00=s3cret&a=b", "token%00=***&a=b"),
    ("x=1;token=s3cret;y=2&a=b", "x=1;token=***&a=b"),
    ("%2574oken=s3cret", "%2574oken=***"),
    ("Token%5B%5D=s3cret", "Token%5B%5D=***"),
])
def test_every_spelling_of_the_token_is_redacted_in_the_access_log(query: str, logged: str) -> None:
    assert redact_query(query) == logged


def test_a_line_holding_a_lone_surrogate_is_written_escaped_not_lost() -> None:
    """Found by the hostile SNS fuzz: an alarm named "\ud800" in the access log's ``alarms`` made every
    handler fail to write its line ("--- Logging error ---" and a traceback instead)."""
    record = logging.makeLogRecord({"msg": "request", "alarms": ["cpu\ud800"], "vendor": "aws"})
    line = JsonFormatter().format(record)
    line.encode("utf-8")
    assert json.loads(line)["alarms"] == ["cpu\ud800"] and json.loads(JsonFormatter().format(
        logging.makeLogRecord({"msg": "中文"})))["msg"] == "中文"


def test_a_quoted_request_line_is_redacted_whatever_the_token_holds() -> None:
    record = logging.makeLogRecord({"msg": "Invalid request from ip=1.2.3.4: Invalid HTTP Version: "
                                           "'GET /callbacks/tencent?%74oken=s3\"cr\'et&x=1 HTTP/9'"})
    line = JsonFormatter().format(record)
    assert "s3" not in line and "cr" not in line and "%74oken=***&x=1 HTTP/9" in line


# --- source networks -------------------------------------------------------------------------------------

TRUSTED = networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(("remote", "forwarded", "client_ip"), [
    ("203.0.113.7", "1.1.1.1", "203.0.113.7"),              # an untrusted peer's X-Forwarded-For is ignored
    ("10.0.0.2", "198.51.100.1", "198.51.100.1"),           # a trusted proxy names the client
    ("10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what the client wrote itself (left) is ignored
    ("10.0.0.2", "198.51.100.1, 10.0.0.9", "198.51.100.1"),  # chains of trusted proxies are skipped
    ("10.0.0.2", "", "10.0.0.2"),                           # a trusted peer without the header is the client
    ("10.0.0.2", "10.1.1.1, 10.0.0.9", "10.1.1.1"),         # all trusted: the leftmost
    ("10.0.0.2", "not-an-ip", None),                        # unknown source
    ("::ffff:198.51.100.1", "", "198.51.100.1"),            # IPv4-mapped IPv6 is the IPv4 address
    ("fd00::1", "2001:db8::1", "2001:db8::1"),
])
def test_the_client_address_cannot_be_spoofed(remote: str, forwarded: str, client_ip: str | None) -> None:
    expected = ipaddress.ip_address(client_ip) if client_ip else None
    assert client_address(remote, forwarded, TRUSTED) == expected


def test_a_forbidden_source_gets_403_counted_and_its_body_is_never_read(
        make_client: Callable[..., FlaskClient], store: SqliteStore) -> None:
    c = make_client(allow_cidrs=("192.0.2.0/24",))

    reads: list[str] = []

    class Watched(io.BytesIO):
        def read(self, *args):
            reads.append("read")
            return super().read(*args)

        def readinto(self, *args):
            reads.append("readinto")
            return super().readinto(*args)

    def send(remote: str):
        return c.post("/callbacks/kingsoft", input_stream=Watched(KINGSOFT), content_length=len(KINGSOFT),
                      content_type="application/json", environ_base={"REMOTE_ADDR": remote})

    response = send("203.0.113.7")
    assert reads == []
    assert response.status_code == 403
    assert response.json == {"error": "source address not allowed"}
    metrics = c.get("/metrics").get_data(as_text=True)
    assert 'cloud_alarm_bridge_callbacks_total{outcome="forbidden",vendor="kingsoft"} 1.0' in metrics
    assert store.stats([], 0).total == 0
    assert send("192.0.2.1").status_code == 200 and reads  # (the watch works: an allowed body is read)


def test_a_vendor_list_replaces_the_global_one_for_that_vendor(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(allow_cidrs=("192.0.2.0/24",), vendor_allow_cidrs={"tencent": ("47.74.206.0/26",)})
    assert post(c, "tencent", remote="47.74.206.5").status_code == 200
    assert post(c, "tencent", remote="192.0.2.5").status_code == 403
    assert post(c, "kingsoft", remote="192.0.2.5").status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_client_is_checked(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(allow_cidrs=("47.74.206.0/26",), trusted_proxies=("10.0.0.0/8",))
    assert post(c, remote="10.0.0.2", forwarded_for="47.74.206.1").status_code == 200
    assert post(c, remote="10.0.0.2", forwarded_for="47.74.206.1, 203.0.113.7").status_code == 403
    assert post(c, remote="203.0.113.7", forwarded_for="47.74.206.1").status_code == 403  # not our proxy


def test_the_allowlist_is_checked_before_the_token(make_client: Callable[..., FlaskClient]) -> None:
    c = make_client(tokens=("t",), allow_cidrs=("192.0.2.0/24",))
    assert post(c, token="wrong", remote="203.0.113.7").status_code == 403
    assert post(c, token="wrong", remote="192.0.2.1").status_code == 401


@pytest.mark.parametrize("message", [
    'Invalid request line: "GET /callbacks/x?name=my alarm&token=s3cret HTTP/1.1"',  # a space in the query
    "Invalid HTTP method: 'POST /callbacks/tencent?a=b c&%74oken=s3cret'",
    "token=s3cret",
    "Invalid request line: 'GET /callbacks/tencent?x=1;token=s3cret HTTP/1.1'",
    "Invalid request line: 'GET /callbacks/tencent?a=1&token[]=s3cret HTTP/1.1'",
])
def test_a_token_anywhere_in_a_message_is_redacted(message: str) -> None:
    record = logging.makeLogRecord({"name": "gunicorn.error", "levelname": "INFO", "msg": message})
    line = JsonFormatter().format(record)
    assert "s3cret" not in line and "=***" in line


def test_the_access_logs_direct_write_escapes_a_lone_surrogate_too(tmp_path: Path) -> None:
    """The access log writes its lines straight to the file (bench/NOTES.md), past JsonFormatter: an alarm
    named "cpu\ud800" must still leave one readable line, not a UnicodeEncodeError in the worker."""
    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    logger = JsonGunicornLogger(config)
    assert logger._access_streams, "the direct path is the one under test"
    response = SimpleNamespace(status_code=200, sent=2)
    environ = {"PATH_INFO": "/callbacks/aws", "REQUEST_METHOD": "POST", "REMOTE_ADDR": "192.0.2.1",
               ACCESS_FIELDS: {"vendor": "aws", "alarms": ["cpu\ud800"]}}
    logger.access(response, None, environ, timedelta(milliseconds=3))
    [line] = (tmp_path / "access.log").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["alarms"] == ["cpu\ud800"] and json.loads(line)["status"] == 200
