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
    "store-type-unknown.yaml": "at '/store/type': value must be one of 'sqlite', 'redis'",
    "redis-port-as-string.yaml": "at '/store/redis/port': got string, want integer",
    "redis-sentinel-without-port.yaml": (
        "at '/store/redis/sentinel/sentinels/0': 'redis-sentinel.redis.svc' does not match pattern"
    ),
    "pdb-enabled-yes.yaml": "at '/podDisruptionBudget/enabled': value must be one of true, false, 'auto'",
    "redis-without-a-server.yaml": (
        "store.type=redis: set store.redis.host (and port, db), store.redis.sentinel, or store.redis.url"
    ),
    "redis-url-with-password.yaml": "store.redis.url must not contain a password",
    "redis-sentinel-with-tls.yaml": "TLS is not supported with Sentinel",
    "redis-ca-without-tls.yaml": "store.redis.tls: a CA, client certificate or insecureSkipVerify needs TLS",
    "workers-as-string.yaml": "at '/bridge/workers': got string, want integer",
    "image-digest-in-tag.yaml": "at '/image/tag': '0.1.0@sha256:",
    "resend-interval-in-words.yaml": "at '/bridge/resendInterval'",
    "external-traffic-policy-unknown.yaml": (
        "at '/service/externalTrafficPolicy': value must be one of '', 'Cluster', 'Local'"
    ),
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
    assert "hunter2" not in message  # a refusal never echoes a password


@pytest.mark.parametrize(
    ("redis", "expected"),
    [
        ({"url": "redis://r:6379/0", "host": "r"}, "set the url or those, not both"),
        ({"host": "r", "sentinel": {"enabled": True, "sentinels": ["s:26379"]}}, "leave store.redis.host empty"),
        ({"host": "r", "existingSecret": "redis", "password": "hunter2"}, "set existingSecret or password, not both"),
        ({"host": "r", "password": "hunter2/x"}, "store.redis.password contains one of / ? # % [ ] or a space"),
        ({"host": "r", "password": "hunter2 x"}, "store.redis.password contains one of / ? # % [ ] or a space"),
        ({"sentinel": {"enabled": True}}, "list the Sentinels in store.redis.sentinel.sentinels"),
        ({"url": "redis+sentinel://s:26379/m/0", "tls": {"caSecret": "ca"}}, "TLS is not supported with Sentinel"),
        ({"url": "redis://r:6379/0", "tls": {"enabled": True}}, "use rediss:// in the url"),
        ({"host": "r", "tls": {"enabled": True, "caSecret": "a", "caConfigMap": "b"}},
         "caSecret or caConfigMap, not both"),
    ],
)
def test_contradictory_redis_values_are_refused(render, redis, expected):
    with pytest.raises(helm.HelmRenderError) as refused:
        render({"replicaCount": 2, "store": {"type": "redis", "redis": redis}})
    assert expected in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_more_than_one_replica_with_redis_renders(render):
    rendered = render({"replicaCount": 5, "store": {"type": "redis", "redis": {"host": "redis"}}})
    assert rendered.one("Deployment")["spec"]["replicas"] == 5


def test_more_than_one_replica_with_sqlite_is_refused(render):
    with pytest.raises(helm.HelmRenderError) as refused:
        render({"replicaCount": 2})
    message = str(refused.value)
    assert "replicaCount=2 with store.type=sqlite" in message
    assert "cannot be shared between replicas" in message
    assert "use a shared store" in message

