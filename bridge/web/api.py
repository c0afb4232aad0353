"""``/api/v1/``: the inspector's data as JSON, for scripts (docs/api.md). Guarded like the page (bridge.web.admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from bridge.store import StoreError
from bridge.web import inspect
from bridge.web.admin import admin_only
from bridge.web.errors import error_response, undecodable_query
from bridge.web.state import app_state

api = Blueprint("api", __name__, url_prefix="/api/v1")
api.before_request(undecodable_query)


@api.errorhandler(ValueError)
def bad_filter(error: ValueError) -> Response:
    return error_response(400, str(error))


@api.errorhandler(StoreError)
def store_unavailable(error: StoreError) -> Response:  # the cause names hosts and paths: not for the caller
    return error_response(503, "the store is unavailable; retry later", {"Retry-After": "5"})


@api.get("/callbacks")
@admin_only
def callbacks() -> Any:
    args = request.args
    return jsonify(callbacks=inspect.recent_callbacks(app_state(), vendor=args.get("vendor"),
                                                      outcome=args.get("outcome"), limit=args.get("limit"),
                                                      before=args.get("before")))


@api.get("/alerts")
@admin_only
def alerts() -> Any:
    matchers = [*request.args.getlist("filter"), *request.args.getlist("matcher")]
    return jsonify(inspect.alerts(app_state(), matchers=matchers, limit=request.args.get("limit")))


@api.post("/try")
@admin_only
def try_payload() -> Any:
    """``{"vendor": ..., "body": "...", "content_type": "..."}``: what the payload would become."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("vendor"), str) or not isinstance(
            data.get("body"), str):
        return error_response(400, 'send JSON {"vendor": "<vendor>", "body": "<the payload as text>", '
                              '"content_type": "<optional>"}')
    content_type = data.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        return error_response(400, "content_type must be a string")
    return jsonify(inspect.try_payload(app_state(), data["vendor"], data["body"].encode("utf-8", "surrogatepass"),
                                       content_type))


@api.get("/status")
@admin_only
def status() -> Any:
    return jsonify(inspect.status(app_state()))
