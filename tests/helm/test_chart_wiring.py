"""The chart's wiring works: the rendered container, run as rendered, delivers a callback.

The container's command, args and environment are taken from the rendered Deployment and run
here against a real Alertmanager. Its volumes are laid out in a temporary directory from the
rendered ConfigMap and Secrets; the only change is that each mount path (/etc/cloud-alarm-bridge,
/data, /tmp, ...) is replaced by its temporary directory wherever it occurs.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.helm.helmkit import (
    METRICS,
    RULES_FILE,
    SERVE_FLAGS,
    Rendered,
    dashboard_expressions,
    flags_used,
    metric_names,
)  # fmt: skip
from tests.support import fixture_bytes, free_port, wait_for

BIN = Path(sys.executable).parent


def help_flags() -> set[str]:
    done = subprocess.run([BIN / "cloud-alarm-bridge", "serve", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", done.stdout)) - {"--help"}


def test_every_flag_of_the_contract_and_every_flag_we_pass_exists_in_serve_help(render):
    flags = help_flags()
    assert flags >= SERVE_FLAGS
    assert flags_used(render().container()) <= flags


class Pod:
    """The rendered pod's volumes laid out under ``root``, and its paths rewritten to match."""

    def __init__(self, rendered: Rendered, root: Path) -> None:
        spec = rendered.one("Deployment")["spec"]["template"]["spec"]
        self.container = spec["containers"][0]
        volumes = {v["name"]: v for v in spec["volumes"]}
        self.dirs = {m["mountPath"]: root / m["name"] for m in self.container["volumeMounts"]}
        # Longest first, so /etc/cloud-alarm-bridge-secrets wins over /etc/cloud-alarm-bridge;
        # one pass, so a replacement is never rewritten again.
        prefixes = "|".join(re.escape(p) for p in sorted(self.dirs, key=len, reverse=True))
        self._paths = re.compile(rf"(?<![\w.-])({prefixes})(?=/|$|[\s\"',])")
        for mount in self.container["volumeMounts"]:
            self._fill(rendered, volumes[mount["name"]], self.dirs[mount["mountPath"]])

    def rewrite(self, text: str) -> str:
        return self._paths.sub(lambda m: str(self.dirs[m.group(1)]), text)

    def _fill(self, rendered: Rendered, volume: dict[str, Any], target: Path) -> None:
        target.mkdir(parents=True)
        if "configMap" in volume:
            for key, text in rendered.one("ConfigMap", volume["configMap"]["name"])["data"].items():
                (target / key).write_text(self.rewrite(text))
        elif "projected" in volume:
            for source in volume["projected"]["sources"]:
                data = rendered.one("Secret", source["secret"]["name"])["data"]
                for item in source["secret"]["items"]:
                    (target / item["path"]).parent.mkdir(parents=True, exist_ok=True)
                    (target / item["path"]).write_bytes(base64.b64decode(data[item["key"]]))
        else:
            assert {"emptyDir", "persistentVolumeClaim"} & volume.keys(), volume

    def environment(self, rendered: Rendered) -> dict[str, str]:
        """Return the container's environment: its own variables, rewritten, over a minimal base."""
        env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "LANG": "C.UTF-8"}
        for var in self.container.get("env", []):
            if "value" in var:
                env[var["name"]] = self.rewrite(var["value"])
            else:
                ref = var["valueFrom"]["secretKeyRef"]
                env[var["name"]] = base64.b64decode(rendered.one("Secret", ref["name"])["data"][ref["key"]]).decode()
        # The image's temporary directory is the /tmp emptyDir.
        env["TMPDIR"] = str(self.dirs["/tmp"])
        return env


@pytest.fixture
def pod_process(render, alertmanager, tmp_path):
    """Run the rendered container against the test's Alertmanager; yield (rendered, base URL)."""
    port = free_port()
    rendered = render({"alertmanager": {"urls": [alertmanager.url]}, "containerPort": port})
    pod = Pod(rendered, tmp_path / "pod")
    command = [pod.rewrite(word) for word in pod.container["command"] + pod.container["args"]]
    log = tmp_path / "bridge.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=pod.environment(rendered), cwd=tmp_path, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        probe = pod.container["readinessProbe"]["httpGet"]["path"]

        def ready():
            if process.poll() is not None:  # not an AssertionError: wait_for would keep polling
                raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-3000:]}")
            return requests.get(url + probe, timeout=1).ok

        wait_for(ready, 30, message=f"the bridge's readiness probe (log: {log})")
        yield rendered, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.e2e
def test_the_rendered_container_delivers_a_callback_to_alertmanager(pod_process, alertmanager):
    rendered, url = pod_process
    container = rendered.container()
    assert requests.get(url + container["livenessProbe"]["httpGet"]["path"], timeout=5).ok
    body = fixture_bytes("tencent", "metric-firing.json")
    headers = {"Content-Type": "application/json"}

    refused = requests.post(f"{url}/callbacks/tencent", data=body, headers=headers, timeout=10)
    assert refused.status_code == 401, "the token from the chart's Secret must be required"

    token = rendered.secret_value(rendered.one("Secret")["metadata"]["name"], "token")
    accepted = requests.post(f"{url}/callbacks/tencent", params={"token": token}, data=body, headers=headers,
                             timeout=10)
    assert accepted.ok, accepted.text

    alerts = alertmanager.wait_for(lambda alerts: alerts, timeout=30, message="the Tencent alert", vendor="tencent")
    assert alerts[0]["labels"]["policy_id"] == "policy-n4exeh88"
    assert alerts[0]["labels"]["unInstanceId"] == "ins-o9p3rg3m"

    # Every metric the dashboard and the alert rules use is really exported.
    def exported():
        text = requests.get(f"{url}/metrics", timeout=5).text
        assert 'cloud_alarm_bridge_alerts_sent_total{alertmanager="' in text
        return {metric_names(line).pop() for line in text.splitlines() if line.startswith("cloud_alarm_bridge_")}

    names = wait_for(exported, 15, message="delivery metrics")
    rules = yaml.safe_load(RULES_FILE.read_text())["groups"]
    used = set().union(*map(metric_names, dashboard_expressions()), *(metric_names(r["expr"]) for g in rules
                                                                        for r in g["rules"]))
    assert used <= names, f"not exported: {used - names}"
    assert used <= METRICS

