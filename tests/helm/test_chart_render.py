"""The chart lints, renders every ci/ value set, and renders objects Kubernetes accepts."""

from __future__ import annotations

import base64
import re
import subprocess
import tomllib

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

import bridge
from bridge.settings import check_file_options
from tests.helm.helmkit import CHART_DIR, CI_VALUES, NAMESPACE, RELEASE, REPO, Rendered, fullname, load_values

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known.
KUBE_VERSIONS = ["1.25.0", kubernetes_validate.utils.latest_version()]
# The Prometheus Operator's kinds have no schema in kubernetes-validate; they are checked
# below by what the operator does with them.
CRD_GROUP = "monitoring.coreos.com/"


def test_it_lints_clean_in_strict_mode():
    for values_file in [None, *CI_VALUES]:
        values = load_values(values_file) if values_file else None
        report = helm.lint(CHART_DIR, values, strict=True, namespace=NAMESPACE, kube_version="v1.25.0")
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert report["errors"] == [] and problems == [], (values_file, report)


def test_its_app_version_is_the_package_version(chart):
    # The image tag defaults to appVersion, so a release that bumps the package but not the
    # chart would deploy the old image.
    package = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert chart.metadata["appVersion"] == package == bridge.__version__
    assert chart.metadata["apiVersion"] == "v2"


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(render, values_file, kube_version):
    rendered = render(load_values(values_file))
    assert rendered.objects
    for obj in rendered.objects:
        if obj["apiVersion"].startswith(CRD_GROUP):
            continue
        kubernetes_validate.validate(obj, kube_version, strict=True)
        assert obj["metadata"]["namespace"] == NAMESPACE


def test_the_defaults_follow_the_security_baseline(render):
    rendered = render()
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    container = rendered.container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # A read-only root needs a writable /tmp (gunicorn, multiprocess metric files).
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mounts["/tmp"]] == {"name": "tmp", "emptyDir": {}}
    assert "resources" not in container


def test_the_defaults_run_serve_with_probes_a_pvc_and_the_operated_alertmanager(render):
    rendered = render()
    container = rendered.container()
    assert container["command"] == ["cloud-alarm-bridge"]
    assert container["args"][0] == "serve"
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": "http"}
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    config = rendered.bridge_config()
    # Every replica behind kube-prometheus-stack's headless Service, found by its SRV records.
    assert config["alertmanager_urls"] == ["dnssrv+http://_web._tcp.alertmanager-operated.monitoring.svc"]
    assert config["store"] == "sqlite:////data/bridge.db"
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/data", "/etc/cloud-alarm-bridge"}
    pvc = rendered.one("PersistentVolumeClaim")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    # Optional objects are off by default.
    kinds = {o["kind"] for o in rendered.objects}
    assert kinds == {
        "ConfigMap", "Deployment", "PersistentVolumeClaim", "Secret", "Service", "ServiceAccount",
    }  # fmt: skip


def test_the_service_selects_the_pods_by_labels_without_a_version(render):
    rendered = render()
    selector = rendered.one("Service")["spec"]["selector"]
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert rendered.one("Deployment")["spec"]["selector"]["matchLabels"] == selector
    assert not any("version" in key or key == "helm.sh/chart" for key in selector)


def test_it_generates_a_token_secret_and_mounts_it_as_the_token_file(render):
    rendered = render()
    token = rendered.secret_value(fullname(), "token")
    assert len(token) == 32 and token.isalnum()
    assert rendered.bridge_config()["token_file"] == "/etc/cloud-alarm-bridge-secrets/token"
    sources = _projected_sources(rendered)
    assert {"secret": {"name": fullname(), "items": [{"key": "token", "path": "token"}]}} in sources


def test_an_existing_secret_replaces_the_generated_one(render):
    rendered = render(load_values(CHART_DIR / "ci" / "existing-secret-values.yaml"))
    assert rendered.all("Secret") == []
    assert rendered.all("PersistentVolumeClaim") == []
    item = {"key": "callback-token", "path": "token"}
    assert {"secret": {"name": "cloud-alarm-tokens", "items": [item]}} in _projected_sources(rendered)
    assert "checksum/secret" not in rendered.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "cloud-alarm-tokens" in rendered.notes and "callback-token" in rendered.notes


def test_without_an_admin_token_the_inspector_stays_loopback_only(render):
    rendered = render()
    assert "admin_token_file" not in rendered.bridge_config()
    assert "admin-token" not in str(_projected_sources(rendered))


def test_an_admin_token_in_values_is_kept_in_the_secret_and_mounted_as_the_admin_token_file(render):
    rendered = render({"admin": {"token": "admin-secret-1"}})
    assert rendered.secret_value(fullname(), "admin-token") == "admin-secret-1"
    assert rendered.bridge_config()["admin_token_file"] == "/etc/cloud-alarm-bridge-secrets/admin-token"
    item = {"key": "admin-token", "path": "admin-token"}
    assert {"secret": {"name": fullname(), "items": [item]}} in _projected_sources(rendered)
    assert "admin-secret-1" not in str(rendered.one("Deployment"))


def test_an_existing_admin_secret_is_mounted_even_beside_an_existing_callback_secret(render):
    values = load_values(CHART_DIR / "ci" / "existing-secret-values.yaml")
    rendered = render({**values, "admin": {"existingSecret": "inspector", "existingSecretKey": "token"}})
    assert rendered.all("Secret") == []
    item = {"key": "token", "path": "admin-token"}
    assert {"secret": {"name": "inspector", "items": [item]}} in _projected_sources(rendered)
    assert rendered.bridge_config()["admin_token_file"] == "/etc/cloud-alarm-bridge-secrets/admin-token"
    with_token = render({**values, "admin": {"token": "admin-secret-1"}})
    [secret] = with_token.all("Secret")
    assert set(secret["data"]) == {"admin-token"}  # the callback token stays in its existing Secret


def test_a_config_change_rolls_the_pods(render):
    def checksum(values):
        pod = render(values).one("Deployment")["spec"]["template"]
        return pod["metadata"]["annotations"]["checksum/config"]

    fixed = {"auth": {"token": "t"}}
    assert checksum(fixed) == checksum(fixed)
    assert checksum(fixed) != checksum({**fixed, "bridge": {"resendInterval": 30}})


def test_a_generated_token_does_not_roll_the_pods_on_the_next_upgrade(render):
    # Every render generates a new random token (lookup, which reuses the stored one, needs a
    # cluster); the checksum must not follow it, or the first upgrade restarts the pods.
    first, second = render(), render()
    assert first.secret_value(fullname(), "token") != second.secret_value(fullname(), "token")
    annotations = [r.one("Deployment")["spec"]["template"]["metadata"]["annotations"] for r in (first, second)]
    assert annotations[0] == annotations[1]
    assert "checksum/secret" in annotations[0]


def test_a_token_given_in_values_rolls_the_pods_when_it_changes(render):
    def checksum(token):
        return render({"auth": {"token": token}}).one("Deployment")["spec"]["template"]["metadata"][
            "annotations"]["checksum/secret"]

    assert checksum("one") == checksum("one") != checksum("two")
    assert checksum("one") != render().one("Deployment")["spec"]["template"]["metadata"]["annotations"][
        "checksum/secret"]


def test_alertmanagers_with_auth_become_config_targets_with_secret_files(render):
    rendered = render(load_values(CHART_DIR / "ci" / "multi-alertmanager-values.yaml"))
    config = rendered.bridge_config()
    assert len(config["alertmanager_urls"]) == 2
    mimir, cortex = config["alertmanagers"]
    secrets = "/etc/cloud-alarm-bridge-secrets/alertmanager"
    assert mimir == {
        "url": "https://mimir.example.com/alertmanager",
        "timeout": "10s",
        "headers": {"X-Scope-OrgID": "team-cloud"},
        "basic_auth": {"username": "bridge", "password_file": f"{secrets}/mimir-auth/password"},
        "tls_config": {"ca_file": f"{secrets}/mimir-ca/ca.crt"},
    }
    assert cortex["bearer_token_file"] == f"{secrets}/cortex-auth/token"
    assert cortex["tls_config"]["key_file"] == f"{secrets}/cortex-tls/tls.key"
    assert cortex["timeout"] == 5
    # Every file the config names is a Secret key projected at that path; no password is
    # written into the ConfigMap.
    mount = "/etc/cloud-alarm-bridge-secrets/"
    projected = {
        mount + item["path"]: (src["secret"]["name"], item["key"])
        for src in _projected_sources(rendered)
        for item in src["secret"]["items"]
    }
    named = [v for t in config["alertmanagers"] for v in _leaves(t) if str(v).startswith(mount)]
    assert len(named) == 6 and set(named) <= projected.keys()
    assert projected[f"{secrets}/mimir-auth/password"] == ("mimir-auth", "password")


def test_ingress_exposes_only_the_callbacks(render):
    rendered = render(load_values(CHART_DIR / "ci" / "ingress-values.yaml"))
    rule = rendered.one("Ingress")["spec"]["rules"][0]
    assert [p["path"] for p in rule["http"]["paths"]] == ["/callbacks"]
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": fullname(), "port": {"name": "http"}}
    assert "https://alarms.example.com/callbacks/tencent?token=$TOKEN" in rendered.notes


def test_servicemonitor_scrapes_the_service_port(render):
    rendered = render(load_values(CHART_DIR / "ci" / "monitoring-values.yaml"))
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert [(e["port"], e["path"], e["interval"]) for e in monitor["spec"]["endpoints"]] == [
        ("http", "/metrics", "30s")
    ]
    assert monitor["spec"]["endpoints"][0]["port"] in ports


def test_prometheusrule_carries_the_rules_file_and_promtool_accepts_it(render, tmp_path):
    rendered = render(load_values(CHART_DIR / "ci" / "monitoring-values.yaml"))
    rule = rendered.one("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == yaml.safe_load((CHART_DIR / "files" / "prometheus-rules.yaml").read_text())
    # The operator parses spec.groups like a Prometheus rules file.
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    command = ["promtool", "check", "rules", tmp_path / "rules.yaml"]
    check = subprocess.run(command, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_dashboard_configmap_carries_the_dashboard_file(render):
    rendered = render(load_values(CHART_DIR / "ci" / "monitoring-values.yaml"))
    dashboard = rendered.one("ConfigMap", f"{fullname()}-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    expected = (CHART_DIR / "files" / "grafana-dashboard.json").read_text()
    assert dashboard["data"]["cloud-alarm-bridge.json"] == expected


def test_pdb_and_networkpolicy_select_the_pods(render):
    rendered = render(load_values(CHART_DIR / "ci" / "hardened-values.yaml"))
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    pdb = rendered.one("PodDisruptionBudget")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    policy = rendered.one("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["ingress"][0]["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert len(policy["ingress"][0]["from"]) == 2
    volumes = {v["name"]: v for v in rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}
    assert rendered.bridge_config()["default_severity"] == "warning"


def test_notes_print_every_callback_url_and_how_to_check(render):
    notes = render().notes
    for vendor in ("tencent", "aliyun", "kingsoft", "aws", "huawei", "azure", "gcp", "volcengine"):
        # Never a 127.0.0.1 URL to enter in a cloud console: the vendors call from the internet.
        assert f"https://<PUBLIC_ADDRESS>/callbacks/{vendor}?token=$TOKEN" in notes
    assert "http://127.0.0.1:8080/callbacks/kingsoft?token=$TOKEN" in notes  # a try from here
    assert f"kubectl get secret --namespace {NAMESPACE} {fullname()} -o jsonpath='{{.data.token}}'" in notes
    assert "amtool alert query" in notes
    assert "bridge.allowTopics.aws is empty" in notes
    assert "bridge.allowTopics.huawei is empty" in notes
    allowed = {"aws": ["arn:aws:sns:*:1:*"], "huawei": ["urn:smn:*:0a1b2c3d4e5f40718293a4b5c6d7e8f9:*"]}
    assert "allowTopics" not in render({"bridge": {"allowTopics": allowed}}).notes


def _notes_lines(notes: str) -> list[str]:
    return [line.strip() for line in notes.splitlines()]


@pytest.mark.parametrize("ingress", [False, True], ids=["port-forward", "ingress"])
def test_notes_reach_metrics_through_a_port_forward_even_with_an_ingress(render, ingress):
    values = load_values(CHART_DIR / "ci" / "ingress-values.yaml") if ingress else {}
    lines = _notes_lines(render(values).notes)
    forward = f"kubectl port-forward --namespace {NAMESPACE} svc/{fullname()} 8080:8080"
    curl = next(i for i, line in enumerate(lines) if line.startswith("curl -s http://127.0.0.1:8080/metrics"))
    # Every 127.0.0.1 URL is preceded by the port-forward that makes it work.
    assert any(line.startswith(forward) for line in lines[:curl])
    if ingress:  # the callbacks go through the Ingress: no port-forward before step 4
        step4 = next(i for i, line in enumerate(lines) if line.startswith("4."))
        assert not any(line.startswith("kubectl port-forward") for line in lines[:step4])


@pytest.mark.parametrize(
    ("url", "forward", "amtool_url"),
    [
        ("http://alertmanager-operated.monitoring.svc:9093",
         "--namespace monitoring svc/alertmanager-operated 9093:9093", "http://127.0.0.1:9093"),
        ("http://am-0.alertmanager-operated.observability.svc.cluster.local:9094",
         "--namespace observability pod/am-0 9094:9094", "http://127.0.0.1:9094"),
        ("http://alertmanager:9093", f"--namespace {NAMESPACE} svc/alertmanager 9093:9093", "http://127.0.0.1:9093"),
        ("http://alertmanager.ops:9093", "--namespace ops svc/alertmanager 9093:9093", "http://127.0.0.1:9093"),
        ("https://am.example.com/prefix", None, "https://am.example.com/prefix"),
    ],
)
def test_notes_query_the_configured_alertmanager(render, url, forward, amtool_url):
    lines = _notes_lines(render({"alertmanager": {"urls": [url]}}).notes)
    forwards = [line for line in lines if line.startswith("kubectl port-forward") and "cloud-alarm-bridge" not in line]
    assert forwards == ([f"kubectl port-forward {forward} &"] if forward else [])
    assert f"amtool alert query --alertmanager.url={amtool_url} 'vendor=~\".+\"'" in lines


def test_notes_say_when_the_alertmanager_needs_credentials(render):
    values = load_values(CHART_DIR / "ci" / "multi-alertmanager-values.yaml")
    assert "--http.config.file" not in render(values).notes  # the first URL, in the cluster, needs none
    values["alertmanager"]["urls"] = []
    notes = render(values).notes
    assert "amtool alert query --alertmanager.url=https://mimir.example.com/alertmanager" in notes
    assert "--http.config.file" in notes


def _projected_sources(rendered):
    volumes = rendered.one("Deployment")["spec"]["template"]["spec"]["volumes"]
    return next(v for v in volumes if v["name"] == "secrets")["projected"]["sources"]


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


def test_the_readme_values_table_documents_every_value(chart):
    readme = (CHART_DIR / "README.md").read_text()
    rows = re.findall(r"^\| `([\w.]+)` \|", readme, flags=re.MULTILINE)

    def leaves(value, path=""):
        if isinstance(value, dict) and value:
            for key, child in value.items():
                yield from leaves(child, f"{path}.{key}" if path else key)
        else:
            yield path

    values = chart.values
    for row in rows:
        node = values
        for key in row.split("."):
            node = node[key]  # KeyError: the README documents a value that does not exist
    for leaf in leaves(values):
        assert any(leaf == row or leaf.startswith(row + ".") for row in rows), f"{leaf} is not in README.md"


# --- store.type=redis ------------------------------------------------------------------------


def _pod(rendered):
    return rendered.one("Deployment")["spec"]["template"]


def _env(rendered):
    return {e["name"]: e for e in rendered.container().get("env", [])}


def test_three_replicas_on_redis_get_a_pdb_a_spread_a_rolling_update_and_no_pvc(render):
    rendered = render(load_values(CHART_DIR / "ci" / "redis-values.yaml"))
    deployment = rendered.one("Deployment")
    pod_labels = _pod(rendered)["metadata"]["labels"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }  # fmt: skip
    pdb = rendered.one("PodDisruptionBudget")["spec"]
    assert pdb["maxUnavailable"] == 1
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    [spread] = _pod(rendered)["spec"]["topologySpreadConstraints"]
    assert spread == {
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]},
    }  # fmt: skip
    assert spread["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    # No SQLite: no claim, no data volume.
    assert rendered.all("PersistentVolumeClaim") == []
    assert "data" not in {v["name"] for v in _pod(rendered)["spec"]["volumes"]}
    config = rendered.bridge_config()
    assert "store" not in config and config["lease_ttl"] == "10s"


def test_the_redis_password_reaches_the_container_only_through_a_secret_key_ref(render):
    rendered = render(load_values(CHART_DIR / "ci" / "redis-values.yaml"))
    env = rendered.container()["env"]
    assert [e["name"] for e in env] == ["REDIS_PASSWORD", "BRIDGE_STORE"]  # defined before it is used
    assert env[0] == {"name": "REDIS_PASSWORD",
                      "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "redis-password"}}}
    secrets = "/etc/cloud-alarm-bridge-secrets"
    assert env[1]["value"] == (
        "rediss://bridge:$(REDIS_PASSWORD)@redis-master.redis.svc:6380/1"
        f"?prefix=alarms%3A&ssl_ca_certs={secrets}/redis/ca.crt"
    )
    ca = {"secret": {"name": "redis-tls", "items": [{"key": "ca.crt", "path": "redis/ca.crt"}]}}
    assert ca in _projected_sources(rendered)


def test_a_redis_password_given_in_values_is_only_in_the_chart_secret(chart):
    password = "Pa55-word-in-values"
    values = {"replicaCount": 2, "store": {"type": "redis", "redis": {"host": "redis", "password": password}}}
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    secret_name = f"{fullname()}-redis"
    secret_file = next(path for path, text in manifests.items()
                       if "kind: Secret\n" in text and f"name: {secret_name}\n" in text)
    encoded = base64.b64encode(password.encode()).decode()
    for path, text in manifests.items():
        assert password not in text, path
        assert (encoded in text) == (path == secret_file), path
    rendered = Rendered(manifests)
    assert rendered.secret_value(secret_name, "password") == password
    assert _env(rendered)["REDIS_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": secret_name, "key": "password"}}
    assert _env(rendered)["BRIDGE_STORE"]["value"] == "redis://:$(REDIS_PASSWORD)@redis:6379/0"
    assert "redis://:***@redis:6379/0" in rendered.notes


def test_a_new_redis_password_in_values_rolls_the_pods(render):
    def checksum(password):
        values = {"auth": {"token": "t"}, "store": {"type": "redis", "redis": {"host": "r", "password": password}}}
        return _pod(render(values))["metadata"]["annotations"]["checksum/secret"]

    assert checksum("one") == checksum("one") != checksum("two")


def test_sentinel_values_become_a_sentinel_url_and_the_overrides_apply(render):
    rendered = render(load_values(CHART_DIR / "ci" / "redis-sentinel-values.yaml"))
    sentinels = ",".join(f"redis-node-{i}.redis-headless.redis.svc:26379" for i in range(3))
    assert _env(rendered)["BRIDGE_STORE"]["value"] == (
        f"redis+sentinel://:$(REDIS_PASSWORD)@{sentinels}/bridge-primary/0?socket_timeout=3"
    )
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
    [spread] = _pod(rendered)["spec"]["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == ("topology.kubernetes.io/zone", "DoNotSchedule")


@pytest.mark.parametrize(
    ("redis", "store"),
    [
        ({"url": "redis://bridge@redis.example.com:6379/2?socket_keepalive=true", "existingSecret": "r",
          "keyPrefix": "a:"},
         "redis://bridge:$(REDIS_PASSWORD)@redis.example.com:6379/2?socket_keepalive=true&prefix=a%3A"),
        ({"url": "rediss://redis.example.com:6380", "tls": {"caConfigMap": "bundle", "caKey": "root.pem",
                                                             "insecureSkipVerify": True}},
         "rediss://redis.example.com:6380?ssl_ca_certs=/etc/cloud-alarm-bridge-secrets/redis/ca.crt"
         "&ssl_cert_reqs=none&ssl_check_hostname=false"),
        ({"host": "10.0.0.7", "tls": {"enabled": True, "clientCertSecret": "client"}},
         "rediss://10.0.0.7:6379/0?ssl_certfile=/etc/cloud-alarm-bridge-secrets/redis/tls.crt"
         "&ssl_keyfile=/etc/cloud-alarm-bridge-secrets/redis/tls.key"),
        ({"host": "redis", "username": "bridge", "options": {"socket_timeout": 2.5, "health_check_interval": 10}},
         "redis://bridge@redis:6379/0?health_check_interval=10&socket_timeout=2.5"),
    ],
    ids=["url-with-user", "url-tls-configmap-ca", "host-client-cert", "options"],
)
def test_redis_values_become_the_store_url(render, redis, store):
    rendered = render({"store": {"type": "redis", "redis": redis}})
    assert _env(rendered)["BRIDGE_STORE"]["value"] == store
    assert ("REDIS_PASSWORD" in _env(rendered)) == ("existingSecret" in redis)
    for source in _projected_sources(rendered)[1:]:  # every file the URL names is mounted there
        kind = "secret" if "secret" in source else "configMap"
        for item in source[kind]["items"]:
            assert f"/etc/cloud-alarm-bridge-secrets/{item['path']}" in store


def test_one_redis_replica_rolls_but_gets_no_pdb_or_spread_and_both_can_be_forced(render):
    one = render({"store": {"type": "redis", "redis": {"host": "r"}}})
    assert one.one("Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"
    assert one.all("PodDisruptionBudget") == [] and "topologySpreadConstraints" not in _pod(one)["spec"]
    forced = render({"store": {"type": "redis", "redis": {"host": "r"}}, "podDisruptionBudget": {"enabled": True},
                     "topologySpread": {"enabled": True}})
    assert forced.one("PodDisruptionBudget") and _pod(forced)["spec"]["topologySpreadConstraints"]


def test_the_pdb_and_spread_of_several_replicas_can_be_turned_off_or_replaced(render):
    base = {"replicaCount": 3, "store": {"type": "redis", "redis": {"host": "r"}}}
    off = render({**base, "podDisruptionBudget": {"enabled": False}, "topologySpread": {"enabled": False}})
    assert off.all("PodDisruptionBudget") == [] and "topologySpreadConstraints" not in _pod(off)["spec"]
    own = {"maxSkew": 2, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}
    custom = {"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "ScheduleAnyway",
              "labelSelector": {"matchLabels": {"team": "x"}}}
    replaced = render({**base, "topologySpread": {"enabled": False}, "topologySpreadConstraints": [own, custom]})
    selector = replaced.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert _pod(replaced)["spec"]["topologySpreadConstraints"] == [
        {**own, "labelSelector": {"matchLabels": selector}}, custom,
    ]  # fmt: skip


def test_the_default_sqlite_render_has_no_redis_objects_or_variables(render):
    rendered = render({"store": {"redis": {"host": "ignored", "password": "ignored"}}})
    assert "env" not in rendered.container()
    assert [s["metadata"]["name"] for s in rendered.all("Secret")] == [fullname()]
    assert rendered.bridge_config()["store"] == "sqlite:////data/bridge.db"


def test_the_topics_allowlist_reaches_the_config_file_and_the_bridge_accepts_it(render):
    topics = {"aws": ["arn:aws:sns:*:123456789012:*", "arn:aws-cn:sns:cn-north-1:123456789012:alarms"],
              "huawei": ["urn:smn:*:0a1b2c3d4e5f40718293a4b5c6d7e8f9:*"]}
    config = render({"bridge": {"allowTopics": topics}}).bridge_config()
    assert config["allow_topics"] == topics
    problems: list[str] = []  # only this option: the token file exists only in the pod
    check_file_options(config, "config.yaml", problems, only=frozenset({"allow_topic"}))
    assert problems == []
    assert "allow_topics" not in render().bridge_config()
    assert not {"signing_hosts", "signing_ca_files"} & set(render().bridge_config()), "test-only trust stays out"
