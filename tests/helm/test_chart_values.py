"""The values production users reach for, rendered with Helm's engine: what each becomes in the objects.

Every object of ci/extras-values.yaml is also validated strictly against the Kubernetes schemas by
test_chart_render.py; here each value is followed to where it takes effect.
"""

from __future__ import annotations

import subprocess

import pytest
import requests
import yaml

from bridge.config_file import parse_text
from bridge.settings import check_file_options
from bridge.vendors import VENDORS
from tests.harness.alertmanager import Alertmanager
from tests.harness.processes import wait_for
from tests.helm.helmkit import CHART_DIR, NAMESPACE, fullname, load_values

EXTRAS = CHART_DIR / "ci" / "extras-values.yaml"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def _pod(rendered):
    return rendered.one("Deployment")["spec"]["template"]


def test_the_default_sends_to_every_alertmanager_operated_replica_found_by_srv(render):
    rendered = render()
    assert rendered.bridge_config()["alertmanager_urls"] == [
        "dnssrv+http://_web._tcp.alertmanager-operated.monitoring.svc"]
    assert rendered.bridge_config()["alertmanager_refresh_interval"] == "30s"
    assert "dnssrv+http://_web._tcp.alertmanager-operated.monitoring.svc (every replica DNS names" in rendered.notes
    problems: list[str] = []
    check_file_options(parse_text(yaml.safe_dump(rendered.bridge_config()), "config.yaml"), "config.yaml", problems)
    assert [p for p in problems if "cannot read /etc/" not in p] == []  # the bridge takes the address


def test_targets_alone_replace_the_default_alertmanager(render):
    rendered = render({"alertmanager": {"targets": [{"url": "https://mimir.example.com/alertmanager",
                                                     "tenant": "cloud"}]}})
    config = rendered.bridge_config()
    assert "alertmanager_urls" not in config  # no phantom target, no false AlertmanagerDown
    assert [t["url"] for t in config["alertmanagers"]] == ["https://mimir.example.com/alertmanager"]
    assert "alertmanager-operated" not in rendered.notes


def test_durations_accept_units_and_the_grace_period_follows_the_shutdown_timeout(render):
    rendered = render(load_values(EXTRAS))
    config = rendered.bridge_config()
    assert (config["resend_interval"], config["max_firing_age"], config["shutdown_timeout"]) == ("30s", "48h", "60s")
    problems: list[str] = []
    check_file_options(parse_text(yaml.safe_dump(config), "config.yaml"), "config.yaml", problems)
    # The bridge reads what the chart writes (the mounted files exist only in the pod).
    assert [p for p in problems if "cannot read /etc/" not in p] == []
    # A 60 s shutdown is not cut at Kubernetes' default 30 s.
    assert _pod(rendered)["spec"]["terminationGracePeriodSeconds"] == 70
    assert _pod(render())["spec"]["terminationGracePeriodSeconds"] == 30  # 20 s + 10 s
    assert _pod(render({"bridge": {"shutdownTimeout": 90}, "terminationGracePeriodSeconds": 120}))[
        "spec"]["terminationGracePeriodSeconds"] == 120
    redis = render({"store": {"type": "redis", "redis": {"host": "r", "leaseTtl": "10s"}}}).bridge_config()
    assert redis["lease_ttl"] == "10s"


def test_a_digest_and_a_mirror_registry_make_the_image_and_the_version_label_stays_a_tag(render, chart):
    rendered = render(load_values(EXTRAS))
    image = rendered.container()["image"]
    version = chart.metadata["appVersion"]
    assert image == f"registry.example.com/cloud-alarm-bridge/cloud-alarm-bridge:{version}@{DIGEST}"
    assert rendered.one("Deployment")["metadata"]["labels"]["app.kubernetes.io/version"] == version
    assert _pod(rendered)["spec"]["imagePullSecrets"] == [{"name": "mirror-pull"}, {"name": "regcred"}]
    assert render().container()["image"] == f"ghcr.io/cloud-alarm-bridge/cloud-alarm-bridge:{version}"


def test_the_pod_template_carries_only_selector_labels_and_pod_labels(render):
    deployment = render({"podLabels": {"team": "infra"}}).one("Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"] == {**selector, "team": "infra"}
    # So a chart bump that changes nothing else leaves the pod template, and the pod, alone.
    before = render().one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert "helm.sh/chart" not in before and "app.kubernetes.io/version" not in before


def test_extra_volumes_env_and_containers_let_tokens_come_from_a_secret(render):
    rendered = render(load_values(EXTRAS))
    pod = _pod(rendered)["spec"]
    container = rendered.container()
    assert {"name": "vendor-tokens", "secret": {"secretName": "vendor-tokens"}} in pod["volumes"]
    assert {"name": "vendor-tokens", "mountPath": "/etc/vendor-tokens", "readOnly": True} in container["volumeMounts"]
    assert rendered.bridge_config()["vendor_token_files"] == {"aliyun": "/etc/vendor-tokens/aliyun"}
    assert container["envFrom"] == [{"secretRef": {"name": "bridge-env"}}]
    assert [c["name"] for c in pod["initContainers"]] == ["wait-for-alertmanager"]
    assert [c["name"] for c in pod["containers"]] == ["cloud-alarm-bridge", "log-shipper"]
    assert pod["hostAliases"] == [{"ip": "10.0.0.9", "hostnames": ["alertmanager.internal"]}]
    assert pod["dnsConfig"] == {"options": [{"name": "ndots", "value": "2"}]}
    assert container["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    assert container["startupProbe"]["failureThreshold"] == 30
    assert container["livenessProbe"]["timeoutSeconds"] == 3
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["revisionHistoryLimit"] == 3
    assert deployment["metadata"]["annotations"] == {"reloader.stakater.com/auto": "true"}


def test_a_load_balancer_keeps_client_addresses_and_limits_sources(render):
    rendered = render(load_values(EXTRAS))
    service = rendered.one("Service")
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert service["spec"]["loadBalancerSourceRanges"] == ["47.74.206.0/26"]
    assert service["metadata"]["labels"]["exposure"] == "public"
    assert "export SERVICE_IP=$(kubectl get svc --namespace alarms" in rendered.notes
    assert "http://$SERVICE_IP:8080/callbacks/tencent?token=$TOKEN" in rendered.notes
    assert "externalTrafficPolicy=Local" not in rendered.notes  # already set: no advice
    node_port = render({"service": {"type": "NodePort", "nodePort": 30080}})
    assert node_port.one("Service")["spec"]["ports"][0]["nodePort"] == 30080
    assert "http://$NODE_IP:$NODE_PORT/callbacks/aliyun?token=$TOKEN" in node_port.notes
    assert "externalTrafficPolicy" not in render().one("Service")["spec"]


def test_the_operator_objects_take_namespace_relabelings_and_additional_rules(render, tmp_path):
    rendered = render(load_values(EXTRAS))
    monitor = rendered.one("ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}  # still finds the bridge
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["honorLabels"] is True
    assert endpoint["relabelings"] == [{"targetLabel": "cluster", "replacement": "prod"}]
    assert endpoint["metricRelabelings"][0]["action"] == "drop"
    rule = rendered.one("PrometheusRule")
    assert rule["metadata"]["namespace"] == "monitoring"
    groups = {g["name"]: g for g in rule["spec"]["groups"]}
    assert [r["alert"] for r in groups["cloud-alarm-bridge-additional"]["rules"]] == ["CloudAlarmBridgeNoCallbacks"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]))
    check = subprocess.run(["promtool", "check", "rules", tmp_path / "rules.yaml"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tls = render({"serviceMonitor": {"enabled": True, "scheme": "https", "tlsConfig": {"insecureSkipVerify": True}}})
    endpoint = tls.one("ServiceMonitor")["spec"]["endpoints"][0]
    assert (endpoint["scheme"], endpoint["tlsConfig"]) == ("https", {"insecureSkipVerify": True})


def test_the_sqlite_volume_is_kept_by_helm_unless_told_otherwise(render):
    pvc = render().one("PersistentVolumeClaim")
    assert pvc["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    dropped = render({"store": {"sqlite": {"persistence": {"resourcePolicy": "", "annotations": {"a": "b"}}}}})
    assert dropped.one("PersistentVolumeClaim")["metadata"]["annotations"] == {"a": "b"}
    assert fullname() == pvc["metadata"]["name"]


def _readme_block(marker: str) -> dict:
    """The YAML block of the chart README that starts with the comment ``# <marker>``."""
    readme = (CHART_DIR / "README.md").read_text()
    block = readme.split(f"# {marker}\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)


KPS_DEFAULT_ALERTMANAGER = {  # kube-prometheus-stack's alertmanager.config, as its values ship it
    "global": {"resolve_timeout": "5m"},
    "inhibit_rules": [
        {"source_matchers": ["severity = critical"], "target_matchers": ["severity =~ warning|info"],
         "equal": ["namespace", "alertname"]},
        {"source_matchers": ["severity = warning"], "target_matchers": ["severity = info"],
         "equal": ["namespace", "alertname"]},
    ],
    "route": {"group_by": ["namespace"], "group_wait": "30s", "group_interval": "5m", "repeat_interval": "12h",
              "receiver": "null", "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]},
    "receivers": [{"name": "null"}],
    "templates": ["/etc/alertmanager/config/*.tmpl"],
}


def test_the_readme_kube_prometheus_stack_route_sends_cloud_alarms_to_a_receiver(tmp_path):
    # Helm merges maps and replaces lists: the README's values over kube-prometheus-stack's defaults.
    snippet = _readme_block("kps-cloud-alarms.yaml")["alertmanager"]["config"]
    config = {**KPS_DEFAULT_ALERTMANAGER, "route": {**KPS_DEFAULT_ALERTMANAGER["route"], **snippet["route"]},
              "receivers": snippet["receivers"]}
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run(["amtool", "check-config", path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    def receiver(*labels: str) -> str:
        done = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={path}", *labels],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()[0]

    assert receiver("vendor=aliyun", "cloud_namespace=acs_ecs_dashboard", "alertname=cpu") == "cloud-alarms"
    for vendor in VENDORS:  # every vendor the bridge serves, not only those the recipe was written for
        assert receiver(f"vendor={vendor}", "alertname=cpu") == "cloud-alarms", vendor
    assert receiver("alertname=Watchdog") == "null"
    assert receiver("alertname=KubePodCrashLooping", "namespace=default") == "null"


@pytest.mark.e2e
def test_the_readme_inhibit_rules_mute_a_cloud_warning_only_for_the_same_object(tmp_path):
    snippet = _readme_block("kps-cloud-alarms.yaml")["alertmanager"]["config"]
    config = {**KPS_DEFAULT_ALERTMANAGER, "route": {**KPS_DEFAULT_ALERTMANAGER["route"], **snippet["route"]},
              "receivers": snippet["receivers"], "inhibit_rules": snippet["inhibit_rules"]}
    config.pop("templates")
    am = Alertmanager(tmp_path)
    am.config.write_text(yaml.safe_dump(config))
    am.start()
    try:
        cloud = {"vendor": "tencent", "cloud_namespace": "qce/cvm", "alertname": "cpu_usage"}
        kube = {"alertname": "KubePodCrashLooping", "namespace": "default"}
        alerts = [
            {**cloud, "unInstanceId": "ins-a", "severity": "critical"},
            {**cloud, "unInstanceId": "ins-a", "severity": "warning"},  # the same object: muted
            {**cloud, "unInstanceId": "ins-b", "severity": "warning"},  # another object: notified
            {**kube, "severity": "critical"},
            {**kube, "severity": "warning"},  # kube-prometheus-stack's own rule still works
        ]
        response = requests.post(f"{am.url}/api/v2/alerts", json=[{"labels": labels} for labels in alerts],
                                 timeout=5)
        response.raise_for_status()

        def states() -> dict[tuple[str, str], str]:
            return {(a["labels"].get("unInstanceId", a["labels"]["alertname"]), a["labels"]["severity"]):
                    a["status"]["state"] for a in am.alerts()}

        expected = {("ins-a", "critical"): "active", ("ins-a", "warning"): "suppressed",
                    ("ins-b", "warning"): "active", ("KubePodCrashLooping", "critical"): "active",
                    ("KubePodCrashLooping", "warning"): "suppressed"}
        wait_for(lambda: states() == expected, 10, message="inhibitions as documented")
    finally:
        am.stop()


def test_the_readme_kube_prometheus_stack_values_render(render):
    rendered = render(_readme_block("bridge-values.yaml"))
    assert rendered.one("ServiceMonitor")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rendered.one("PrometheusRule")["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dashboard = rendered.one("ConfigMap", f"{fullname()}-dashboard")
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Cloud alarms"}
    assert "https://alarms.example.com/callbacks/tencent?token=$TOKEN" in rendered.notes


def test_the_release_workflow_publishes_the_charts_default_image(chart):
    workflow = yaml.safe_load((CHART_DIR.parents[1] / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    assert workflow["env"]["IMAGE"] == chart.values["image"]["repository"]
    steps = workflow["jobs"]["image"]["steps"]
    check = next(s for s in steps if s.get("id") == "version")["run"]
    assert "pyproject.toml" in check and "Chart.yaml" in check  # the tag must be the appVersion
    pushes = [s for s in steps if s.get("with", {}).get("push")]
    assert [s["with"]["file"] for s in pushes] == ["deploy/Dockerfile"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    assert names.index("Scan") < names.index("Push")
