"""Builders for distinct, realistic callbacks (shapes transcribed from the vendors' documents)."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo


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
