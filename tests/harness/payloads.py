"""Builders for distinct, realistic callbacks (shapes transcribed from the vendors' documents)."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from tests.harness.fixtures import fixture_bytes


def kingsoft(host: str, state: int = 1, timestamp: int = 1_700_000_000, metric: str = "cpu.util") -> bytes:
    return json.dumps({
        "alarmState": state,
        "alarmObjInfo": {"region": "Shanghai Region 2 (VPC)", "namespace": "Eip", "tag": [f"host={host}"]},
        "alarmPolicyInfo": {"policyId": 8888, "policyName": "test11", "conditions": [{
            "metricAlias": "CPU utilization", "metricName": metric, "period": "5m", "function": "avg",
            "points": "1", "op": ">", "threshold": "50", "CurValue": "60" if state else "20", "units": "%",
            "alarmInterval": "60", "alarmMax": "3"}]},
        "timestamp": str(timestamp),
        "step": 1,
    }).encode()


def tencent(instance: str, status: int = 1, first: str = "2026-01-01 10:00:00", recover: str = "0",
            duration: int = 60, session: str = "s-1") -> bytes:
    return json.dumps({
        "sessionId": session, "alarmStatus": str(status), "alarmType": "metric",
        "alarmObjInfo": {"region": "gz", "namespace": "qce/cvm",
                         "dimensions": {"unInstanceId": instance, "objName": f"10.0.0.1#{instance}"}},
        "alarmPolicyInfo": {"policyId": "policy-n4exeh88", "policyType": "cvm_device", "policyName": "test",
                            "conditions": {"metricName": "cpu_usage", "metricShowName": "CPU utilization",
                                           "calcType": ">", "calcValue": "90", "currentValue": "100", "unit": "%",
                                           "period": "60", "periodNum": "1"}},
        "firstOccurTime": first, "durationTime": duration, "recoverTime": recover,
    }).encode()


def aliyun(instance: str, state: str = "ALERT", level: str = "WARN", pre_level: str = "WARN",
           timestamp_ms: int = 1_700_000_000_000) -> bytes:
    return urlencode({
        "alertName": "cpu high", "alertState": state, "curValue": "97.39",
        "dimensions": f"{{userId=1270000000000000, instanceId={instance}}}", "expression": "$Average>=95",
        "instanceName": f"web-{instance}", "metricName": "CPUUtilization", "metricProject": "acs_ecs_dashboard",
        "namespace": "acs_ecs_dashboard", "preTriggerLevel": pre_level, "ruleId": "rule-cpu-1",
        "signature": "DxpsDBGaSPrVmSqA3j7xdQ3IVyo=", "timestamp": str(timestamp_ms), "triggerLevel": level,
        "userId": "1270000000000000",
    }).encode()


def shanghai_now(offset_seconds: int = 0) -> str:
    """A Tencent-style zone-less time string, ``offset_seconds`` from now."""
    now = datetime.now(ZoneInfo("Asia/Shanghai")).timestamp() + offset_seconds
    return datetime.fromtimestamp(now, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")


# --- builders from the stored real samples (tests/fixtures/<vendor>/): the sample with its object, state and
# times changed, everything else as the cloud sent it ---------------------------------------------------------

@functools.cache
def _sample(vendor: str, name: str) -> str:
    return fixture_bytes(vendor, name).decode()


def _loaded(vendor: str, name: str) -> Any:
    return json.loads(_sample(vendor, name))  # a fresh copy each time: the callers change it


def _iso(epoch: float, digits: int) -> str:
    """UTC ISO 8601 with ``digits`` fractional digits (Azure writes 7, CloudWatch 3) and a ``Z``."""
    stamp = datetime.fromtimestamp(epoch, UTC)
    fraction = f"{stamp.microsecond:06d}{'0' * max(0, digits - 6)}"[:digits]
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


def gcp(instance: str, open_: bool = True, started_at: int = 1_700_000_000, ended_at: int | None = None) -> bytes:
    """Cloud Monitoring's incident for a GCE instance's CPU (doc-gke-cpu-closed.json), open or closed.
    One incident per occurrence: ``incident_id`` comes from the instance and ``started_at``."""
    payload = _loaded("gcp", "doc-gke-cpu-closed.json")
    incident = payload["incident"]
    incident_id = f"0.{uuid.uuid5(uuid.NAMESPACE_URL, f'{instance}/{started_at}').hex[:12]}"
    display = f"gke-cluster-1-default-pool-{instance}"
    incident.update(
        incident_id=incident_id, resource_id=instance, resource_name=f"internal-project {display}",
        resource_display_name=display, state="open" if open_ else "closed", started_at=started_at,
        ended_at=None if open_ else ended_at,
        url=f"https://console.cloud.google.com/monitoring/alerting/incidents/{incident_id}?project=internal-project",
        summary=f"CPU utilization for internal-project {display} "
                + ("is above the threshold of 0.900 with a value of 0.952." if open_
                   else "returned to normal with a value of 0.835."))
    incident["resource"]["labels"]["instance_id"] = instance
    return json.dumps(payload).encode()


def azure(vm: str, fired: bool = True, fired_at: float = 1_700_000_000.0, resolved_at: float | None = None) -> bytes:
    """Azure Monitor's common-schema metric alert on a VM's CPU (metric-static-fired.json / -resolved.json).
    One ``alertId`` per occurrence (from the VM and ``fired_at``)."""
    payload = _loaded("azure", "metric-static-fired.json" if fired else "metric-static-resolved.json")
    essentials = payload["data"]["essentials"]
    alert = uuid.uuid5(uuid.NAMESPACE_URL, f"{vm}/{fired_at}")
    essentials.update(
        alertId=f"/subscriptions/{AZURE_SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/{alert}",
        alertTargetIDs=[azure_resource_id(vm)], configurationItems=[vm], firedDateTime=_iso(fired_at, 7))
    if not fired:
        essentials["resolvedDateTime"] = _iso(resolved_at or fired_at, 7)
    dimension = payload["data"]["alertContext"]["condition"]["allOf"][0]["dimensions"][0]
    dimension["value"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, vm))  # the VM's id, as Azure's ResourceId dimension
    return json.dumps(payload).encode()


AZURE_SUBSCRIPTION = "3f2d4487-b0fc-4125-8bd5-7ad17384221e"


def azure_resource_id(vm: str) -> str:
    """The VM's ARM id as Azure puts it in ``alertTargetIDs`` (lower case, as in the sample)."""
    return f"/subscriptions/{AZURE_SUBSCRIPTION}/resourcegroups/pipelinealertrg/providers/microsoft.compute/" \
           f"virtualmachines/{vm}"


def volcengine(instance: str, firing: bool = True, happened_at: str = "2026-02-26 09:15:00(UTC+08:00)",
               first_alert: int = 1_772_068_200, last_alert: int = 1_772_068_500) -> bytes:
    """Cloud Monitor's metric callback for one ECS instance (the first resource of
    ecs-two-resources-metric.json: CPU in warning, memory listed with ``Warning`` false). A recovery is
    ``MetricRecovered`` with the instance under ``RecoveredResources``, listing the metric that recovered,
    as redis-node-000-recovered.json does."""
    payload = _loaded("volcengine", "ecs-two-resources-metric.json")
    resource = payload.pop("Resources")[0]
    resource.update(Id=instance, Name=f"web-{instance}", FirstAlertTime=first_alert, LastAlertTime=last_alert,
                    AlertGroupId=uuid.uuid5(uuid.NAMESPACE_URL, f"{instance}/{first_alert}").hex[:24])
    resource["Dimensions"][0]["Value"] = instance
    payload["HappenedAt"] = happened_at
    if firing:
        payload["Resources"] = [resource]
    else:
        cpu = {**resource["Metrics"][0], "CurrentValue": 41.7, "Warning": False}
        payload.update(Type="MetricRecovered", RecoveredResources=[{**resource, "Metrics": [cpu]}])
    return json.dumps(payload, ensure_ascii=False).encode()


def aws(function: str, alarm: bool = True, changed_at: float = 1_700_000_000.0, cert_url: str = "") -> dict[str, Any]:
    """SNS's envelope (unsigned: tests/harness/sns.py signs it) of the CloudWatch alarm on a Lambda
    function's errors (lambda-errors-ok.json), in ALARM or OK. One alarm per function, as CloudWatch
    alarms are made; ``MessageId`` is the same for the same change (an SNS retry repeats it)."""
    envelope = _loaded("aws", "lambda-errors-ok.json")
    message = json.loads(envelope["Message"])
    name = f"{function}-errors"
    state, old = ("ALARM", "OK") if alarm else ("OK", "ALARM")
    arn = message["AlarmArn"].rsplit(":", 1)[0] + f":{name}"
    message.update(AlarmName=name, AlarmArn=arn, NewStateValue=state, OldStateValue=old,
                   StateChangeTime=_iso(changed_at, 3).replace("Z", "+0000"),
                   NewStateReason=f"Threshold Crossed: 1 datapoint [{'3.0' if alarm else '0.0'} (soak)] was "
                                  f"{'' if alarm else 'not '}greater than or equal to the threshold (1.0).")
    message["Trigger"]["Dimensions"][0]["value"] = function
    envelope.update(MessageId=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}/{state}/{changed_at}")),
                    Subject=f'{state}: "{name}" in EU (Ireland)', Message=json.dumps(message),
                    Timestamp=_iso(changed_at + 0.044, 3), SigningCertURL=cert_url)
    envelope.pop("Signature", None)
    return envelope


def huawei(instance: str, alarm: bool = True, time_ms: int = 1_651_998_061_184, cert_url: str = "") -> dict[str, Any]:
    """SMN's envelope (unsigned: tests/harness/smn.py signs it) of Cloud Eye's default-shape alarm on an RDS
    instance's disk (default-rds-firing.json / -resolved.json), ``time`` in milliseconds."""
    envelope = _loaded("huawei", "default-rds-firing.json" if alarm else "default-rds-resolved.json")
    message = json.loads(envelope["message"])
    old = message["template_variable"]["ResourceId"]
    at = datetime.fromtimestamp(time_ms / 1000, timezone(timedelta(hours=2)))
    shown = at.strftime("%m %d, %Y %H:%M:%S GMT+02:00")  # as the English console writes AlarmTime
    variables = message["template_variable"]
    variables.update(ResourceId=instance, ResourceName=f"rds-{instance}_node0", AlarmTime=shown)
    message.update(time=time_ms, dimension=f"rds_instance_id:{instance}",
                   sms_content=message["sms_content"].replace(old, instance).replace("my-rds-ha_node0",
                                                                                      f"rds-{instance}_node0"))
    envelope.update(message=json.dumps(message, ensure_ascii=False),
                    message_id=uuid.uuid5(uuid.NAMESPACE_URL, f"{instance}/{alarm}/{time_ms}").hex,
                    timestamp=_iso(time_ms // 1000 + 1, 0), signing_cert_url=cert_url)
    envelope.pop("signature", None)
    return envelope
