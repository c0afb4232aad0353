"""Settings: flag > environment > file > default, with every problem reported at once."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bridge.options import add_arguments
from bridge.rules.loading import load_settings
from bridge.settings import ConfigError, from_json, to_json


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_match_the_documented_contract() -> None:
    settings = load_settings(args(), {})
    assert settings.listen == "0.0.0.0:8080"
    assert [t.url for t in settings.alertmanagers] == ["http://127.0.0.1:9093"]
    assert settings.store == "sqlite:///data/bridge.db"
    assert (settings.resend_interval, settings.workers, settings.tokens) == (60.0, 2, ())


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yml"
    file.write_text("workers: 5\nresend_interval: 2m\nlisten: 127.0.0.1:1\n")
    env = {"BRIDGE_CONFIG": str(file), "BRIDGE_RESEND_INTERVAL": "30", "BRIDGE_LISTEN": "127.0.0.1:2"}
    settings = load_settings(args("--listen", "127.0.0.1:3"), env)
    assert settings.workers == 5
    assert settings.resend_interval == 30.0
    assert settings.listen == "127.0.0.1:3"


def test_repeatable_and_comma_separated_alertmanagers() -> None:
    settings = load_settings(args(), {"BRIDGE_ALERTMANAGER_URLS": "http://a:9093, http://b:9093"})
    assert [t.name for t in settings.alertmanagers] == ["http://a:9093", "http://b:9093"]
    settings = load_settings(args("--alertmanager-url", "http://c:9093", "--alertmanager-url", "http://d:9093"), {})
    assert [t.name for t in settings.alertmanagers] == ["http://c:9093", "http://d:9093"]


def test_targets_from_the_file_carry_auth_tls_and_tenant_headers(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    file = tmp_path / "bridge.yml"
    file.write_text(f"""
alertmanagers:
  - url: https://bridge:ignored@mimir.example/alertmanager
    timeout: 5s
    headers: {{X-Scope-OrgID: tenant-1}}
    basic_auth: {{username: bridge, password_file: {tmp_path / 'pw'}}}
    tls_config: {{ca_file: /etc/ca.pem}}
""")
    [target] = load_settings(args("--config", str(file)), {}).alertmanagers
    assert target.alerts_url == "https://bridge:ignored@mimir.example/alertmanager/api/v2/alerts"
    assert target.name == "https://mimir.example/alertmanager"
    assert (target.timeout, target.username, target.password) == (5.0, "bridge", "s3cret")
    assert target.headers == {"X-Scope-OrgID": "tenant-1"}
    assert target.tls.ca_file == "/etc/ca.pem"
    assert "s3cret" not in repr(target)


def test_every_problem_is_reported_with_its_source(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yml"
    file.write_text("workers: 0\n")
    with pytest.raises(ConfigError) as error:
        load_settings(args("--resend-interval", "soon", "--alertmanager-url", "http://am:9093/api/v2/alerts"),
                    {"BRIDGE_CONFIG": str(file), "BRIDGE_VENDOR_TIMEZONE": "Mars/Olympus"})
    text = str(error.value)
    assert "flag --resend-interval: not a duration: 'soon'" in text
    assert f"{file}: workers: must be at least 1" in text
    assert "environment BRIDGE_VENDOR_TIMEZONE: unknown time zone 'Mars/Olympus'" in text
    assert "give the base URL" in text


def test_unknown_file_keys_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yml"
    file.write_text("wokers: 3\n")
    with pytest.raises(ConfigError, match="unknown option"):
        load_settings(args("--config", str(file)), {})


def test_tokens_come_from_flags_environment_and_files(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    settings = load_settings(args("--token", "a", "--token", "b", "--token-file", str(tmp_path / "token")), {})
    assert settings.tokens == ("a", "b", "from-file")
    assert "from-file" not in repr(settings)
    assert load_settings(args(), {"BRIDGE_TOKEN": "x,y"}).tokens == ("x", "y")


def test_settings_survive_the_trip_to_gunicorn() -> None:
    settings = load_settings(args("--token", "t", "--alertmanager-url", "http://a:1"), {})
    assert from_json(to_json(settings)) == settings


def test_the_lease_ttl_defaults_to_15s_and_must_be_positive() -> None:
    assert load_settings(args(), {}).lease_ttl == 15.0
    assert load_settings(args("--lease-ttl", "3s"), {}).lease_ttl == 3.0
    with pytest.raises(ConfigError, match="flag --lease-ttl: must be more than 0"):
        load_settings(args("--lease-ttl", "0"), {})


def test_mimir_tenants_sharing_one_url_are_separate_targets(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yml"
    file.write_text("""
alertmanagers:
  - url: https://mimir.example/alertmanager
    headers: {X-Scope-OrgID: team-a}
  - url: https://mimir.example/alertmanager
    headers: {x-scope-orgid: team-b}
  - url: http://am-0:9093
""")
    targets = load_settings(args("--config", str(file), "--alertmanager-url", "http://am-0:9093"), {}).alertmanagers
    assert [t.name for t in targets] == ["https://mimir.example/alertmanager (tenant team-a)",
                                         "https://mimir.example/alertmanager (tenant team-b)",
                                         "http://am-0:9093"]  # a URL used once keeps its name (and its cursor)
    assert [t.tenant for t in targets] == ["team-a", "team-b", ""]
    assert from_json(to_json(load_settings(args("--config", str(file)), {}))).alertmanagers == targets


def test_an_explicit_name_identifies_a_target_and_repeats_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yml"
    file.write_text("""
alertmanagers:
  - {url: https://mimir.example/alertmanager, name: mimir-cloud, headers: {X-Scope-OrgID: cloud}}
  - {url: https://mimir.example/alertmanager}
""")
    targets = load_settings(args("--config", str(file)), {}).alertmanagers
    assert [t.name for t in targets] == ["mimir-cloud", "https://mimir.example/alertmanager"]
    file.write_text("""
alertmanagers:
  - {url: https://mimir.example/alertmanager, headers: {X-Scope-OrgID: team-a}}
  - {url: https://mimir.example/alertmanager, headers: {X-Scope-OrgID: team-a}}
  - {url: http://am:9093, name: ""}
""")
    with pytest.raises(ConfigError) as error:
        load_settings(args("--config", str(file)), {})
    assert "alertmanagers[1]: another entry has the name 'https://mimir.example/alertmanager (tenant team-a)'" \
        in str(error.value)
    assert "alertmanagers[2]: name: must be a non-empty string" in str(error.value)
