"""Baseline (a): the ceiling for any Flask service here. Parse the body, answer as Tencent expects."""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/callbacks/<vendor>")
def callback(vendor: str):
    payload = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    return jsonify(sessionId=(payload or {}).get("sessionId", ""), retCode=0)
