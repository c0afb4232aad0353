"""``translate`` prints exactly the alerts ``serve`` stores: both go through bridge.pipeline."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.deliver.alertmanager import postable
from bridge.rules.loading import load_settings
from bridge.store.sqlite import SqliteStore
from bridge.web.app import create_app
from tests.harness import smn, sns
from tests.harness.fixtures import FIXTURES, content_type, sample_paths
from tests.harness.signing import SigningServer

CONFIG = """\
vendor_timezone: UTC
external_labels: {cluster: prod}
max_label_value_length: 12
annotation_templates:
  runbook: "https://runbooks.example.com/{{ labels.alertname }}"
"""
"""Settings and rules that change what every sample becomes, so a translate that skipped any would show."""
SAMPLES = [path.relative_to(FIXTURES).as_posix() for path in sample_paths()]
RESIGN = {"aws": (sns.resign, "/aws-translate.pem"), "huawei": (smn.resign, smn.CERTIFICATE_PATH)}
"""Vendors whose pushes are signed: serve checks the signature, so their stored samples are signed anew by the
test CA, their certificate served where the scheme expects one (what translate prints does not depend on the
signature)."""


@pytest.mark.parametrize("sample", SAMPLES)
def test_translate_shows_the_labels_and_annotations_serve_stores(sample: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 signing_server: SigningServer,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # one clock for both: a sample without times (GCP's test notification) starts at its arrival
    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)
    vendor = sample.split("/")[0]
    config = tmp_path / "bridge.yml"
    config.write_text(CONFIG)
    assert main(["translate", vendor, str(FIXTURES / sample), "--config", str(config)]) == 0
    printed = json.loads(capsys.readouterr().out)

    store = SqliteStore(tmp_path / "bridge.db", synchronous="OFF")
    settings = load_settings(env={"BRIDGE_CONFIG": str(config)})
    body = (FIXTURES / sample).read_bytes()
    if vendor in RESIGN:
        resign, certificate_path = RESIGN[vendor]
        body = resign(body, signing_server.ca, signing_server.serve_certificate(certificate_path))
        settings = replace(settings, signing_hosts={vendor: ("127.0.0.1",)},
                           signing_ca_files={vendor: (str(signing_server.ca.ca_path),)})
    client = create_app(settings, store=store).test_client()
    response = client.post(f"/callbacks/{vendor}", data=body, content_type=content_type(sample))
    assert response.status_code == 200, response.text
    stored = [row.alert for row in store.active("", 1000, time.time(), 10**9)]

    assert printed, "every sample becomes at least one alert"
    assert all(a["labels"]["cluster"] == "prod" and "runbook" in a["annotations"] for a in printed)
    assert shown(printed) == shown([{"labels": a.labels, "annotations": a.annotations, "generatorURL": a.generator_url,
                                     "startsAt": postable(a, 0, 0)["startsAt"]} for a in stored])


def shown(alerts: list[dict]) -> list[str]:
    """What a user compares: labels, annotations, start and the console link, in a stable order."""
    return sorted(json.dumps([a["labels"], a["annotations"], a["startsAt"], a.get("generatorURL") or ""],
                             sort_keys=True, ensure_ascii=False) for a in alerts)


@pytest.mark.parametrize(("vendor", "sample", "header"), [
    ("aws", "lambda-errors-ok.json", "text/plain; charset=UTF-8"),  # what SNS sends
    ("huawei", "default-rds-firing.json", "application/json; charset=UTF-8"),  # what SMN sends
    ("tencent", "metric-firing.json", "Application/JSON"),
])
def test_translate_takes_the_content_type_header_as_the_vendor_sends_it(vendor: str, sample: str, header: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """serve reads the media type without its parameters, in any case; translate --content-type (and the
    inspector's "try") refused the header a user copies from the vendor's request (found by the soak)."""
    assert main(["translate", vendor, str(FIXTURES / vendor / sample), "--content-type", header]) == 0
    assert json.loads(capsys.readouterr().out)
