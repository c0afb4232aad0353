"""Shared by the chart and deploy/ tests: paths, the bridge's contract, rendered objects."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "cloud-alarm-bridge"
DEPLOY_DIR = REPO / "deploy"
RULES_FILE = CHART_DIR / "files" / "prometheus-rules.yaml"
DASHBOARD_FILE = CHART_DIR / "files" / "grafana-dashboard.json"
CI_VALUES = sorted(CHART_DIR.glob("ci/*-values.yaml"))
RELEASE = "bridge"
NAMESPACE = "alarms"

# The bridge's public contract (CLI flags and metric names); the chart, the image and the
# dashboard may use nothing else.
SERVE_FLAGS = {
    "--listen", "--alertmanager-url", "--store", "--resend-interval", "--workers", "--config",
    "--token", "--token-file", "--log-level", "--store-max-alerts", "--batch-size",
    "--max-firing-age", "--vendor-timezone", "--max-body-bytes",
}  # fmt: skip
METRICS = {
    "cloud_alarm_bridge_build_info", "cloud_alarm_bridge_callbacks_total",
    "cloud_alarm_bridge_callback_duration_seconds", "cloud_alarm_bridge_alerts_sent_total",
    "cloud_alarm_bridge_batch_size", "cloud_alarm_bridge_send_duration_seconds",
    "cloud_alarm_bridge_alertmanager_up", "cloud_alarm_bridge_last_success_timestamp_seconds",
    "cloud_alarm_bridge_backlog_alerts", "cloud_alarm_bridge_backlog_oldest_age_seconds",
    "cloud_alarm_bridge_alerts", "cloud_alarm_bridge_store_alerts",
    "cloud_alarm_bridge_store_capacity_alerts",
}  # fmt: skip
ALERTED_ONLY = {"cloud_alarm_bridge_store_up"}
"""Exported metrics the shipped rules alert on that have no dashboard panel (yet)."""


class Rendered:
    """The objects of one render, plus NOTES.txt."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.notes = ""
        self.objects: list[dict[str, Any]] = []
        for path, text in sorted(manifests.items()):
            if path.endswith("NOTES.txt"):
                self.notes = text
                continue
            self.objects += [doc for doc in yaml.safe_load_all(text) if doc]

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Return every object of ``kind``."""
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """Return the single object of ``kind`` (named ``name``); fail if not exactly one."""
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def container(self) -> dict[str, Any]:
        """Return the bridge container of the Deployment."""
        return self.one("Deployment")["spec"]["template"]["spec"]["containers"][0]

    def bridge_config(self) -> dict[str, Any]:
        """Return the bridge's configuration file, parsed."""
        return yaml.safe_load(self.one("ConfigMap", fullname())["data"]["config.yaml"])

    def secret_value(self, name: str, key: str) -> str:
        """Return a key of a rendered Secret, decoded."""
        return base64.b64decode(self.one("Secret", name)["data"][key]).decode()


def fullname() -> str:
    return f"{RELEASE}-cloud-alarm-bridge"


def load_values(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def metric_names(expression: str) -> set[str]:
    """Return the metric families an expression names (histogram series folded)."""
    return {HISTOGRAM_SUFFIX.sub("", n) for n in re.findall(r"\bcloud_alarm_bridge_\w+", expression)}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]] + [
        v["definition"] for v in dashboard["templating"]["list"] if "definition" in v
    ]


def compose() -> dict:
    return yaml.safe_load((DEPLOY_DIR / "docker-compose.yml").read_text())


def dockerfile_instructions() -> dict[str, list[str]]:
    instructions: dict[str, list[str]] = {}
    text = (DEPLOY_DIR / "Dockerfile").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.setdefault(keyword.upper(), []).append(rest.strip())
    return instructions


def image_command() -> list[str]:
    """Return ENTRYPOINT + CMD of the image (exec form)."""
    instructions = dockerfile_instructions()
    return json.loads(instructions["ENTRYPOINT"][-1]) + json.loads(instructions["CMD"][-1])


def flags_used(chart_container: dict) -> set[str]:
    """Return every flag the image, the demo and the chart pass to `cloud-alarm-bridge serve`."""
    words = image_command() + compose()["services"]["bridge"]["command"] + chart_container["args"]
    return {w for w in words if w.startswith("--")}
