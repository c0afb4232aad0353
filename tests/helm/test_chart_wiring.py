"""The chart's wiring works: the rendered container, run as rendered, delivers a callback.

The container's command, args and environment are taken from the rendered Deployment and run
here against a real Alertmanager (and, with store.type=redis, a real redis-server). Its volumes are
laid out in a temporary directory from the rendered ConfigMap and Secrets (and the objects a test
says already exist in the cluster); the only change is that each mount path
(/etc/cloud-alarm-bridge, /data, /tmp, ...) is replaced by its temporary directory wherever it
occurs. $(NAME) references in the environment are expanded as Kubernetes does.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import yaml

from tests.harness.fixtures import fixture_bytes
from tests.harness.processes import free_port, terminate, wait_for
from tests.harness.redis_server import REDIS_SERVER, RedisServer
from tests.helm.helmkit import (
    ALERTED_ONLY,
    METRICS,
    RULES_FILE,
    SERVE_FLAGS,
    Rendered,
    dashboard_expressions,
    flags_used,
    metric_names,
)  # fmt: skip

BIN = Path(sys.executable).parent


def help_flags() -> set[str]:
    done = subprocess.run([BIN / "cloud-alarm-bridge", "serve", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", done.stdout)) - {"--help"}


def test_every_flag_of_the_contract_and_every_flag_we_pass_exists_in_serve_help(render):
    flags = help_flags()
    assert flags >= SERVE_FLAGS
    assert flags_used(render().container()) <= flags


# Kubernetes' dependent environment variables: $(NAME) is the value of an earlier variable of the
# container (left as is when there is none), $$ is a literal $.
ENV_REFERENCE = re.compile(r"\$(\$|\(([A-Za-z_][A-Za-z0-9_.-]*)\))")


def expand(value: str, defined: dict[str, str]) -> str:
    return ENV_REFERENCE.sub(lambda m: "$" if m.group(1) == "$" else defined.get(m.group(2), m.group(0)), value)


def test_environment_references_expand_as_in_kubernetes():
    assert expand("a$(X)b$(Y)c$$(X)$", {"X": "1"}) == "a1b$(Y)c$(X)$"


class Pod:
    """The rendered pod's volumes laid out under ``root``, and its paths rewritten to match.

    ``cluster`` holds the Secrets and ConfigMaps the values refer to but the chart does not create.
    """

    def __init__(self, rendered: Rendered, root: Path, cluster: list[dict[str, Any]] = ()) -> None:
        self.objects = rendered.objects + list(cluster)
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
                [(kind, ref)] = source.items()
                obj = self.object("Secret" if kind == "secret" else "ConfigMap", ref["name"])
                for item in ref["items"]:
                    (target / item["path"]).parent.mkdir(parents=True, exist_ok=True)
                    if kind == "secret":
                        (target / item["path"]).write_bytes(base64.b64decode(obj["data"][item["key"]]))
                    else:
                        (target / item["path"]).write_text(obj["data"][item["key"]])
        else:
            assert {"emptyDir", "persistentVolumeClaim"} & volume.keys(), volume

    def object(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"the pod needs {kind} {name}: neither rendered nor in the cluster"
        return found[0]

    def environment(self) -> dict[str, str]:
        """Return the container's environment: its own variables, rewritten, over a minimal base."""
        own: dict[str, str] = {}
        for var in self.container.get("env", []):
            if "value" in var:
                own[var["name"]] = expand(self.rewrite(var["value"]), own)
            else:
                ref = var["valueFrom"]["secretKeyRef"]
                own[var["name"]] = base64.b64decode(self.object("Secret", ref["name"])["data"][ref["key"]]).decode()
        env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "LANG": "C.UTF-8", **own}
        # The image's temporary directory is the /tmp emptyDir.
        env["TMPDIR"] = str(self.dirs["/tmp"])
        return env

    @contextlib.contextmanager
    def run(self, workdir: Path) -> Iterator[str]:
        """Run the container's command until the block ends; yield its URL once it is ready."""
        port = next(p["containerPort"] for p in self.container["ports"] if p["name"] == "http")
        command = [self.rewrite(word) for word in self.container["command"] + self.container["args"]]
        log = workdir / f"bridge-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=self.environment(), cwd=workdir, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            probe = self.container["readinessProbe"]["httpGet"]["path"]

            def ready():
                if process.poll() is not None:  # not an AssertionError: wait_for would keep polling
                    raise RuntimeError(f"exited with {process.returncode}: {log.read_text()[-3000:]}")
                return requests.get(url + probe, timeout=1).ok

            wait_for(ready, 30, message=f"the bridge's readiness probe (log: {log})")
            yield url
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def pod_process(render, alertmanager, tmp_path):
    """Run the rendered container against the test's Alertmanager; yield (rendered, base URL)."""
    rendered = render({"alertmanager": {"urls": [alertmanager.url]}, "containerPort": free_port()})
    with Pod(rendered, tmp_path / "pod").run(tmp_path) as url:
        yield rendered, url


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
    assert used <= METRICS | ALERTED_ONLY



# --- store.type=redis ----------------------------------------------------------------------------

REDIS_PASSWORD = "wiring-test-password"  # what the chart creates a Secret from; Redis demands it


@pytest.fixture
def redis_with_password(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The run's redis-server, demanding REDIS_PASSWORD during the test."""
    client = redis.Redis(port=redis_server.port)
    client.config_set("requirepass", REDIS_PASSWORD)  # from now on the bridge must log in
    client.close()
    yield redis_server
    client = redis.Redis(port=redis_server.port, password=REDIS_PASSWORD)
    client.config_set("requirepass", "")  # the next test's clients do not log in
    client.close()


def redis_values(alertmanager_url: str, store: dict[str, Any], port: int) -> dict[str, Any]:
    """Two replicas on Redis; what differs between the pods' renders here is only their port."""
    return {"replicaCount": 2, "alertmanager": {"urls": [alertmanager_url]}, "containerPort": port,
            "auth": {"token": "wiring-token"}, "store": {"type": "redis", "redis": store}}


def post(url: str, name: str) -> requests.Response:
    return requests.post(f"{url}/callbacks/tencent", params={"token": "wiring-token"},
                         data=fixture_bytes("tencent", name), headers={"Content-Type": "application/json"},
                         timeout=10)


@pytest.mark.e2e
def test_two_rendered_replicas_share_redis_and_a_recovery_on_the_other_resolves(
        render, alertmanager, redis_with_password, tmp_path):
    store = {"host": "127.0.0.1", "port": redis_with_password.port, "password": REDIS_PASSWORD, "keyPrefix": "chart:"}
    pods = []
    for index in range(2):
        rendered = render(redis_values(alertmanager.url, store, free_port()))
        # The password reaches the container only from the Secret, through $(REDIS_PASSWORD).
        assert REDIS_PASSWORD not in yaml.safe_dump(rendered.one("Deployment"))
        assert REDIS_PASSWORD not in yaml.safe_dump(rendered.one("ConfigMap"))
        pods.append(Pod(rendered, tmp_path / f"pod-{index}"))
    with contextlib.ExitStack() as running:
        first, second = (running.enter_context(pod.run(tmp_path)) for pod in pods)
        assert post(first, "metric-firing.json").ok
        alertmanager.wait_for(lambda alerts: alerts, timeout=30, message="the Tencent alert", vendor="tencent")
        assert post(second, "metric-resolved.json").ok  # the other replica knows the alert: it is in Redis
        alertmanager.wait_for(lambda alerts: not alerts, timeout=30, message="the alert resolved", vendor="tencent")
        client = redis.Redis(port=redis_with_password.port, password=REDIS_PASSWORD)
        assert client.keys("chart:alert:*") and not client.keys("cab:*")
        client.close()
    assert not list(tmp_path.rglob("bridge.db*")), "an SQLite store: the pods did not use Redis"
    logs = list(tmp_path.glob("bridge-*.log"))
    assert len(logs) == 2 and not any(REDIS_PASSWORD in log.read_text() for log in logs)


def make_tls_files(directory: Path) -> None:
    """A CA, and a certificate it signs for 127.0.0.1 (openssl, as in the Debian image)."""
    directory.mkdir()

    def openssl(*args: str) -> None:
        done = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=wiring-test-ca", "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.ext", "-out", "server.crt")


@pytest.mark.e2e
def test_the_rendered_container_reaches_redis_over_tls_with_the_ca_it_mounts(render, alertmanager, tmp_path):
    tls = tmp_path / "tls"
    make_tls_files(tls)
    port = free_port()
    with (tmp_path / "redis-tls.log").open("wb") as log:
        server = subprocess.Popen(
            [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--tls-cert-file", tls / "server.crt", "--tls-key-file", tls / "server.key",
             "--tls-ca-cert-file", tls / "ca.crt", "--tls-auth-clients", "no", "--dir", tmp_path],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(tls / "ca.crt"),
                             socket_connect_timeout=1)
        wait_for(lambda: server.poll() is None and client.ping(), 10, message="redis-server with TLS")
        store = {"host": "127.0.0.1", "port": port, "tls": {"enabled": True, "caConfigMap": "cluster-ca",
                                                              "caKey": "root.pem"}}
        rendered = render(redis_values(alertmanager.url, store, free_port()))
        # The CA bundle is a ConfigMap that exists in the cluster (e.g. trust-manager's), not the chart's.
        bundle = {"kind": "ConfigMap", "metadata": {"name": "cluster-ca"},
                  "data": {"root.pem": (tls / "ca.crt").read_text()}}
        # Ready means the bridge pinged Redis, through TLS verified against that CA only.
        with Pod(rendered, tmp_path / "pod", cluster=[bundle]).run(tmp_path) as url:
            assert post(url, "metric-firing.json").ok
            alertmanager.wait_for(lambda alerts: alerts, timeout=30, message="the Tencent alert", vendor="tencent")
            assert client.keys("cab:alert:*")
        client.close()
    finally:
        terminate(server)
