"""Baseline (b): what a user writes in an afternoon. Every callback is posted to Alertmanager at once,
synchronously, one POST each; no store, no retries, no batching. ``ALERTMANAGER_URL`` names the target."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import requests
from flask import Flask, jsonify, request

app = Flask(__name__)
session = requests.Session()
ALERTMANAGER = os.environ.get("ALERTMANAGER_URL", "http://127.0.0.1:9093") + "/api/v2/alerts"


def labels_of(vendor: str, payload: dict) -> dict[str, str]:
    if vendor == "tencent":
        dims = payload.get("alarmObjInfo", {}).get("dimensions", {})
        name = payload.get("alarmPolicyInfo", {}).get("conditions", {}).get("metricName", "unknown")
        return {"alertname": name, "vendor": vendor, **{k: str(v) for k, v in dims.items()}}
    if vendor == "kingsoft":
        tags = dict(t.split("=", 1) for t in payload.get("alarmObjInfo", {}).get("tag", []) if "=" in t)
        name = payload.get("alarmPolicyInfo", {}).get("conditions", [{}])[0].get("metricName", "unknown")
        return {"alertname": name.replace(".", "_"), "vendor": vendor, **tags}
    return {"alertname": payload.get("metricName", "unknown"), "vendor": vendor,
            "instance": payload.get("instanceName", "")}


@app.post("/callbacks/<vendor>")
def callback(vendor: str):
    payload = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    now = datetime.now(UTC)
    alert = {"labels": labels_of(vendor, payload or {}), "startsAt": now.isoformat(),
             "endsAt": (now + timedelta(minutes=5)).isoformat()}
    session.post(ALERTMANAGER, json=[alert], timeout=10).raise_for_status()
    return jsonify(sessionId=(payload or {}).get("sessionId", ""), retCode=0)
