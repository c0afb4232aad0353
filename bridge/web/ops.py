"""The endpoints an operator and Prometheus use: /metrics, /-/healthy, /-/ready, /-/reload."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request

from bridge.logs import CLIENT_ADDRESS
from bridge.store import StoreError
from bridge.web.auth import client_address, presented_token, token_matches
from bridge.web.errors import UNAUTHORIZED, error_response, undecodable_query
from bridge.web.state import AppState, app_state

log = logging.getLogger(__name__)
ops = Blueprint("ops", __name__)
ops.before_request(undecodable_query)
_TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@ops.get("/metrics")
def metrics_endpoint() -> Response:
    state = app_state()
    return Response(state.metrics.exposition(state.collector), mimetype="text/plain",
                    headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


@ops.route("/-/reload", methods=["POST", "PUT"])
def reload() -> Any:
    """Check the configuration file and apply it, as Prometheus' endpoint does: 200 once applied."""
    state = app_state()
    forwarded_for = request.headers.get("X-Forwarded-For", "")
    client = client_address(request.remote_addr or "", forwarded_for, state.guard.trusted_proxies)
    request.environ[CLIENT_ADDRESS] = str(client) if client is not None else "unknown"  # the access log's too
    if not state.guard.source_ok(None, request.remote_addr or "", forwarded_for):
        # the address that was checked (behind a trusted proxy, the client's), not the proxy's (issue 20 item 7)
        log.info("refused a reload from outside the allowed networks",
                 extra={"remote": request.environ[CLIENT_ADDRESS], "peer": request.remote_addr})
        return error_response(403, "source address not allowed")
    if not _authorized(state):
        return error_response(401, "missing or wrong token", UNAUTHORIZED)
    if not state.settings.config_file:
        return "nothing to reload: serve was started without --config\n", 400, _TEXT
    problem = state.rules.reload()
    if problem:  # JSON like every error; the problem names no directory and quotes no secret
        return error_response(500, f"failed to reload config: {problem}")
    if state.rules.restart_needed:  # the rules are applied; these are not until a restart
        return (f"OK: rules reloaded; restart to apply {', '.join(state.rules.restart_needed)}\n", 200, _TEXT)
    return "OK\n", 200, _TEXT


def _authorized(state: AppState) -> bool:
    """For /-/reload: a global token (never a vendor's); closed when only vendor tokens exist."""
    guard = state.guard
    return not guard.requires_token or token_matches(presented_token(request.args, request.headers), guard.tokens)


@ops.route("/-/healthy", methods=["GET", "HEAD"])
def healthy() -> Any:
    return "OK\n", 200, _TEXT


@ops.route("/-/ready", methods=["GET", "HEAD"])
def ready() -> Any:
    try:
        app_state().store().ping()
    except (StoreError, ValueError) as exc:  # the cause names hosts and paths: for the log, not the caller
        log.warning("not ready: the store is unavailable", extra={"error": str(exc)})
        return "not ready: the store is unavailable\n", 503, _TEXT
    return "OK\n", 200, _TEXT
