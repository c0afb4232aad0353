"""``check-config`` names the place of every problem; ``translate --config`` shows what the rules do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.rules.loading import load_settings, rules_for
from bridge.settings import ConfigError
from bridge.web.app import create_app
from tests.harness.fixtures import FIXTURES

GOOD = """\
listen: 127.0.0.1:9999
default_severity: info
external_labels: {team: infra, cluster: prod-sh}
severity:
  vendors: {kingsoft: critical}
vendors:
  tencent:
    alert_relabel_configs:
      - source_labels: [objName]
        target_label: instance
alert_relabel_configs:
  - source_labels: [alarm_state]
    regex: insufficient_data
    action: drop
annotation_templates:
  runbook_url: "https://runbooks.example.com/{{ labels.alertname }}"
"""


def write(tmp_path: Path, text: str, name: str = "bridge.yml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_it_accepts_a_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    assert main(["check-config", path]) == 0
    assert capsys.readouterr().out == (f"{path}: valid: 1 global and 1 per-vendor relabel configs, "
                                       "2 external labels, 1 annotation templates\n")


def test_it_names_the_place_of_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, """\
workers: many
external_labels: {bad-name: x, empty: ""}
alert_relabel_configs:
  - target_label: ok
  - target_label: also_ok
  - regex: "(unclosed"
    target_label: x
vendors:
  tencent:
    alert_relabel_configs:
      - action: hashmod
        target_label: shard
  azure: {}
severity:
  default: ""
  vendors: {nobody: critical}
annotation_templates:
  summary: "{{ labels.x }"
""")
    assert main(["check-config", path]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "cloud-alarm-bridge: invalid configuration:",
        f"  {path}: workers: invalid literal for int() with base 10: 'many'",
        f"  {path}: vendors.tencent.alert_relabel_configs[0].modulus: hashmod requires a non-zero modulus",
        f"  {path}: vendors.azure: unknown vendor; known: aliyun, gcp, kingsoft, tencent, volcengine",
        f"  {path}: severity.vendors.nobody: unknown vendor; known: aliyun, gcp, kingsoft, tencent, volcengine",
        f"  {path}: severity.default: must be a non-empty string",
        f"  {path}: external_labels.bad-name: not a valid label name (use [a-zA-Z_][a-zA-Z0-9_]*, not __*)",
        f"  {path}: external_labels.empty: the value must be a non-empty string",
        f"  {path}: alert_relabel_configs[2].regex: invalid regular expression '(unclosed': "
        "missing ), unterminated subpattern at position 0",
        f"  {path}: annotation_templates.summary: template syntax error at line 1: unexpected '}}'",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ("alert_relabel_config: []\n", "unknown option(s) alert_relabel_config"),
    ("alert_relabel_configs: [\n", "not valid YAML"),
    ("severity: {default: x, level: y}\n", "severity.level: unknown key; known: default, vendors"),
    ("vendors: {tencent: {relabel: []}}\n", "vendors.tencent.relabel: unknown key; known: alert_relabel_configs"),
    ("external_labels: [team]\n", "external_labels: must be a mapping, got list"),
])
def test_it_refuses_structural_mistakes(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                        message: str) -> None:
    assert main(["check-config", write(tmp_path, text)]) == 1
    assert message in capsys.readouterr().err


def test_serve_refuses_two_default_severities_in_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "default_severity: info\nseverity: {default: warning}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(env={"BRIDGE_CONFIG": path})
    assert f"{path}: severity.default: conflicts with {path}: default_severity; set only one" in str(error.value)


def test_serve_refuses_a_severity_default_that_a_flag_also_sets(tmp_path: Path) -> None:
    path = write(tmp_path, "severity: {default: warning}\n")
    with pytest.raises(ConfigError) as error:
        load_settings(env={"BRIDGE_CONFIG": path, "BRIDGE_DEFAULT_SEVERITY": "info"})
    assert "severity.default: conflicts with environment BRIDGE_DEFAULT_SEVERITY" in str(error.value)


def test_a_reload_refuses_what_the_next_start_would_refuse(tmp_path: Path) -> None:
    path = write(tmp_path, "external_labels: {team: infra}\n")
    app = create_app(load_settings(env={"BRIDGE_CONFIG": path, "BRIDGE_DEFAULT_SEVERITY": "info"}))
    write(tmp_path, "severity: {default: warning}\n")
    response = app.test_client().post("/-/reload")
    assert response.status_code == 500
    assert "severity.default: conflicts with environment BRIDGE_DEFAULT_SEVERITY" in response.text
    with pytest.raises(ConfigError, match="conflicts with environment BRIDGE_DEFAULT_SEVERITY"):
        load_settings(env={"BRIDGE_CONFIG": path, "BRIDGE_DEFAULT_SEVERITY": "info"})


def test_a_reload_refuses_two_default_severities_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "default_severity: info\n")
    app = create_app(load_settings(env={"BRIDGE_CONFIG": path}))
    write(tmp_path, "default_severity: info\nseverity: {default: warning}\n")
    response = app.test_client().post("/-/reload")
    assert response.status_code == 500
    assert f"severity.default: conflicts with {Path(path).name}: default_severity" in response.json["error"]


def test_check_config_refuses_what_serve_would(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    both = write(tmp_path, "default_severity: info\nseverity: {default: warning}\n", "both.yml")
    assert main(["check-config", both]) == 1
    assert "severity.default: conflicts with" in capsys.readouterr().err
    block = write(tmp_path, "severity: {default: warning}\n", "block.yml")
    assert main(["check-config", block]) == 0
    monkeypatch.setenv("BRIDGE_DEFAULT_SEVERITY", "info")  # as in serve's environment
    assert main(["check-config", block]) == 1
    assert "conflicts with environment BRIDGE_DEFAULT_SEVERITY" in capsys.readouterr().err


def test_the_severity_map_and_default_apply(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "severity: {default: info, vendors: {kingsoft: critical}}\n")
    rules = rules_for(load_settings(env={"BRIDGE_CONFIG": path}))
    assert rules.mapping.default_severity == "info"
    assert rules.mapping.severity_by_vendor == {"kingsoft": "critical"}
    for vendor, sample, severity in (("kingsoft", "kingsoft/alarm.json", "critical"),  # the vendor's entry
                                     ("tencent", "tencent/metric-firing.json", "info"),  # the default
                                     ("aliyun", "aliyun/threshold-alert.form", "warning")):  # the alarm's own
        alerts, _ = translate(capsys, vendor, str(FIXTURES / sample), "--config", path)
        assert [a["labels"]["severity"] for a in alerts] == [severity], vendor


def test_default_severity_keeps_working_without_the_severity_block(tmp_path: Path) -> None:
    path = write(tmp_path, "default_severity: info\n")
    assert rules_for(load_settings(env={"BRIDGE_CONFIG": path})).default_severity == "info"
    assert rules_for(load_settings(env={"BRIDGE_DEFAULT_SEVERITY": "critical"})).default_severity == "critical"


def translate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[dict], str]:
    assert main(["translate", *argv]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_translate_shows_the_effect_of_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    [alert], _ = translate(capsys, "tencent", str(FIXTURES / "tencent/metric-firing.json"), "--config", path)
    assert alert["labels"]["instance"] == "172.21.30.15#588789"
    assert alert["labels"]["team"] == "infra"
    assert alert["labels"]["severity"] == "info"
    assert alert["annotations"]["runbook_url"] == "https://runbooks.example.com/cpu_usage"


def test_translate_reports_dropped_alarms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    alerts, err = translate(capsys, "aliyun", str(FIXTURES / "aliyun/apigateway-insufficient-data.form"),
                            "--config", path)
    assert alerts == []
    assert err == "alarm 0 (Code5XX) is dropped by alert_relabel_configs\n"


def test_translate_refuses_an_invalid_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "alert_relabel_configs: [{action: drop, regex: '('}]\n")
    assert main(["translate", "tencent", str(FIXTURES / "tencent/metric-firing.json"), "--config", path]) == 2
    assert "alert_relabel_configs[0].regex: invalid regular expression" in capsys.readouterr().err
