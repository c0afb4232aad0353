"""Wrong values are refused at install time, with a message that names what is wrong."""

from __future__ import annotations

from pathlib import Path

import helm_python as helm
import pytest

from tests.helm.helmkit import load_values

INVALID = Path(__file__).parent / "invalid-values"

# values file -> what the error must say. The schema refuses most; the templates refuse
# what a schema cannot say clearly (combinations).
REFUSALS = {
    "unknown-key.yaml": "at '/serviceMonitor': additional properties 'enable' not allowed",
    "alertmanager-url-without-scheme.yaml": (
        "at '/alertmanager/urls/0': 'alertmanager-operated.monitoring.svc:9093' does not match pattern"
    ),
    "store-type-unknown.yaml": "at '/store/type': value must be 'sqlite'",
    "workers-as-string.yaml": "at '/bridge/workers': got string, want integer",
    "bearer-and-basic-auth.yaml": (
        "alertmanager.targets[0] (https://mimir.example.com/alertmanager): "
        "set basicAuth or bearerTokenSecret, not both"
    ),
}


def test_every_invalid_values_file_has_an_expected_message():
    assert {p.name for p in INVALID.glob("*.yaml")} == set(REFUSALS)


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_invalid_values_are_refused_with_a_message(render, name):
    with pytest.raises(helm.HelmError) as refused:
        render(load_values(INVALID / name))
    message = str(refused.value)
    if isinstance(refused.value, helm.HelmValuesError):
        assert "values don't meet the specifications of the schema" in message
    assert REFUSALS[name] in message


def test_more_than_one_replica_with_sqlite_is_refused(render):
    with pytest.raises(helm.HelmRenderError) as refused:
        render({"replicaCount": 2})
    message = str(refused.value)
    assert "replicaCount=2 with store.type=sqlite" in message
    assert "cannot be shared between replicas" in message
    assert "use a shared store" in message


def test_no_alertmanager_at_all_is_refused(render):
    with pytest.raises(helm.HelmRenderError, match=r"set alertmanager\.urls or alertmanager\.targets"):
        render({"alertmanager": {"urls": []}})
