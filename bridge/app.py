"""The web tier: ``create_app`` builds the Flask app that receives callbacks and serves /metrics.

The request path only authenticates, parses, maps and commits to the store; delivery to
Alertmanager happens in the delivery loop. A callback is acknowledged only after its commit.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from bridge import metrics
from bridge.auth import Guard, presented_token, token_matches
from bridge.config import ConfigError, Settings, rules_for, rules_in
from bridge.mapping import Limits, check_dimensions, within_limits
from bridge.model import Alarm, Alert
from bridge.rules import Rules
from bridge.store import Store, StoreError, StoreFull, open_store
from bridge.vendors import VENDORS, InvalidPayload, ParseContext, UnsupportedMediaType

log = logging.getLogger("bridge.ingest")
reload_log = logging.getLogger("bridge.reload")

callbacks = Blueprint("callbacks", __name__)
ops = Blueprint("ops", __name__)


class ReloadCoordinator(Protocol):
    """How the processes of one server agree on reloads (``bridge.web.SharedReload`` under gunicorn)."""

    def generation(self) -> int:
        """A number that changes whenever a reload has been accepted."""
        ...

    def request(self) -> bool:
        """Ask for a reload and wait for it; True if it was accepted."""
        ...

    def config_text(self, generation: int) -> str:
        """The configuration text accepted as ``generation``: checked once, the same for every process."""
        ...


class Bridge:
    """What the request handlers share: settings, rules, the store (opened lazily, after gunicorn forks)."""

    def __init__(self, settings: Settings, store: Store | None, rules: Rules,
                 coordinator: ReloadCoordinator | None, rules_generation: int | None = None) -> None:
        self.settings = settings
        self.guard = Guard.from_settings(settings)
        self.limits = Limits(max_dimensions=settings.max_dimensions, max_labels=settings.max_labels,
                             max_label_value_length=settings.max_label_value_length)
        self._rules = rules
        self.coordinator = coordinator
        self._generation = 0 if coordinator is None else (
            coordinator.generation() if rules_generation is None else rules_generation)
        self._rules_lock = threading.Lock()
        self._store = store
        self._lock = threading.Lock()
        self.collector = metrics.StoreCollector(self.store, [t.name for t in settings.alertmanagers],
                                                settings.store_max_alerts)

    def rules(self) -> Rules:
        """The rules in force, after picking up a reload accepted since the last call."""
        if self.coordinator is not None and self.coordinator.generation() != self._generation:
            self._refresh()
        return self._rules

    def _refresh(self) -> bool:
        """Take the rules of the newest accepted generation from the text the master checked, never
        from the file, which may have been edited since; False if they could not be applied."""
        assert self.coordinator is not None
        with self._rules_lock:
            generation = self.coordinator.generation()
            if generation == self._generation:
                return True
            try:
                text = self.coordinator.config_text(generation)
                self._rules = rules_in(text, self.settings.config_file, self.settings.default_severity)
            except (OSError, ConfigError) as exc:  # not expected: the master wrote and checked it
                reload_log.error("cannot apply the accepted configuration; keeping the current rules",
                                 extra={"generation": generation, "error": str(exc)})
                return False  # tried again at the next request
            self._generation = generation
            return True

    def reload(self) -> str | None:
        """Check the configuration file and apply its rules; the problem if it cannot be applied."""
        try:
            rules = rules_for(self.settings)
        except ConfigError as exc:
            metrics.record_reload(False)
            reload_log.error("configuration reload refused; keeping the current rules", extra={"error": str(exc)})
            return str(exc)
        if self.coordinator is None:
            self._rules = rules
            metrics.record_reload(True)
            reload_log.info("configuration reloaded", extra={"config_file": self.settings.config_file})
            return None
        if not self.coordinator.request():
            return "the server refused the reload or did not answer in time; see its log"
        if not self._refresh():
            return "the reload was accepted, but this worker could not apply it; see its log"
        return None

    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self.settings.store, max_alerts=self.settings.store_max_alerts)
        return self._store


def create_app(settings: Settings | None = None, store: Store | None = None, rules: Rules | None = None,
               coordinator: ReloadCoordinator | None = None, rules_generation: int | None = None) -> Flask:
    """Build the web app. ``rules`` default to those of the settings' config file; without a
    ``coordinator``, ``POST /-/reload`` swaps the rules of this process only. ``rules_generation`` is
    the reload generation ``rules`` belong to (default: the coordinator's current one)."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    rules = rules if rules is not None else rules_for(settings)
    app.extensions["bridge"] = Bridge(settings, store, rules, coordinator, rules_generation)
    app.register_blueprint(callbacks)
    app.register_blueprint(ops)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.after_request(_security_headers)
    metrics.init_labels(list(VENDORS), [t.name for t in settings.alertmanagers])
    return app


def _bridge() -> Bridge:
    return current_app.extensions["bridge"]


def _error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _http_error(error: HTTPException) -> Response:
    response = _error(error.code or 500, error.description or error.name)
    if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    _count(error.code)
    return response


def _security_headers(response: Response) -> Response:
    """Every answer is data, never a page: no sniffing it into HTML, no caching it."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _unexpected_error(error: Exception) -> Response:
    log.exception("unexpected error handling a request", extra={"path": request.path})
    return _error(500, "internal error")


def _count(status: int | None) -> None:
    vendor = g.get("vendor")
    outcome = {400: "invalid", 401: "unauthorized", 403: "forbidden", 408: "timeout", 413: "too_large",
               415: "unsupported_media_type", 503: "store_full"}.get(status or 0)
    if vendor and outcome:
        metrics.CALLBACKS.labels(vendor, outcome).inc()


@callbacks.route("/callbacks/<vendor_name>", methods=["GET", "HEAD", "POST"])
def receive(vendor_name: str) -> Response:
    vendor = VENDORS.get(vendor_name)
    if vendor is None:
        return _error(404, f"unknown vendor {vendor_name!r}; known: {', '.join(VENDORS)}")
    g.vendor = vendor_name
    started = time.monotonic()
    bridge = _bridge()
    refusal = _refuse(bridge.guard, vendor_name)
    if refusal is not None:
        return refusal
    try:
        body = request.get_data(cache=False) if request.method == "POST" else b""
    except (TimeoutError, ClientDisconnected):  # --request-timeout hit mid-body (werkzeug reports it as a
        metrics.CALLBACKS.labels(vendor_name, "timeout").inc()  # disconnect): a slow or stalled sender
        return _error(408, "the request body did not arrive in time")
    if not body.strip():
        return jsonify(vendor.empty_reply(request.args))  # the console's URL check
    response = _ingest(bridge, vendor_name, body)
    metrics.CALLBACK_DURATION.labels(vendor_name).observe(time.monotonic() - started)
    return response


def _refuse(guard: Guard, vendor_name: str) -> Response | None:
    """403 for a source outside the allowlist, 401 for a missing or wrong token; None to go on.

    Runs on the request line and headers only: a refused body is never read.
    """
    if not guard.source_ok(vendor_name, request.remote_addr or "", request.headers.get("X-Forwarded-For", "")):
        metrics.CALLBACKS.labels(vendor_name, "forbidden").inc()
        log.info("refused a callback from outside the allowed networks",
                 extra={"vendor": vendor_name, "remote": request.remote_addr})
        return _error(403, "source address not allowed")
    if not guard.token_ok(vendor_name, presented_token(request.args, request.headers)):
        metrics.CALLBACKS.labels(vendor_name, "unauthorized").inc()
        return _unauthorized()
    return None


def _authorized(bridge: Bridge) -> bool:
    """For /-/reload: a global token (never a vendor's); closed when only vendor tokens exist."""
    guard = bridge.guard
    return not guard.requires_token or token_matches(presented_token(request.args, request.headers), guard.tokens)


def _unauthorized() -> Response:
    response = _error(401, "missing or wrong token")
    response.headers["WWW-Authenticate"] = 'Basic realm="cloud-alarm-bridge"'
    return response


def _ingest(bridge: Bridge, vendor_name: str, body: bytes) -> Response:
    vendor = VENDORS[vendor_name]
    settings = bridge.settings
    now = time.time()
    try:
        parsed = vendor.parse(body, request.mimetype, ParseContext(now=now, timezone=settings.timezone,
                                                                   max_json_depth=settings.max_json_depth))
        alerts = alerts_for(parsed.alarms, bridge.rules(), bridge.limits, settings.max_alerts_per_callback, now)
    except UnsupportedMediaType as exc:
        metrics.CALLBACKS.labels(vendor_name, "unsupported_media_type").inc()
        return _error(415, str(exc))
    except InvalidPayload as exc:
        metrics.CALLBACKS.labels(vendor_name, "invalid").inc()
        log.info("rejected an invalid callback", extra={"vendor": vendor_name, "error": str(exc)})
        return _error(400, str(exc))
    try:
        outcomes = bridge.store().apply(alerts, now)
    except StoreFull as exc:
        metrics.CALLBACKS.labels(vendor_name, "store_full").inc()
        log.error("store full: refusing callbacks until it drains", extra={"vendor": vendor_name})
        return _retry_later(str(exc))
    except StoreError as exc:
        metrics.CALLBACKS.labels(vendor_name, "store_unavailable").inc()
        log.error("store unavailable: refusing callback", extra={"vendor": vendor_name, "error": str(exc)})
        return _retry_later("the store is unavailable")
    metrics.CALLBACKS.labels(vendor_name, "accepted").inc()
    dropped = sum(alert.resolve_only for alert in alerts)
    if dropped:
        metrics.DROPPED.labels(vendor_name).inc(dropped)
    for outcome in outcomes:
        metrics.ALARMS.labels(vendor_name, outcome.value).inc()
    log.debug("accepted a callback", extra={"vendor": vendor_name, "alerts": len(alerts),
                                            "outcomes": [o.value for o in outcomes]})
    return jsonify(parsed.reply)


def alerts_for(alarms: list[Alarm], rules: Rules, limits: Limits, max_alerts: int, now: float) -> list[Alert]:
    """Map alarms through the rules, within the limits; raise InvalidPayload (LimitExceeded) beyond them."""
    if len(alarms) > max_alerts:
        raise InvalidPayload(f"body: {len(alarms)} alarms in one callback, at most {max_alerts} accepted")
    for alarm in alarms:
        check_dimensions(alarm, limits)
    return [within_limits(rules.apply(alarm, now), limits) for alarm in alarms]


def _retry_later(message: str) -> Response:
    response = _error(503, message + "; retry later")
    response.headers["Retry-After"] = "5"
    return response


@ops.get("/metrics")
def metrics_endpoint() -> Response:
    return Response(metrics.exposition(_bridge().collector), mimetype="text/plain",
                    headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


@ops.route("/-/reload", methods=["POST", "PUT"])
def reload() -> Any:
    """Check the configuration file and apply it, as Prometheus' endpoint does: 200 once applied."""
    bridge = _bridge()
    if not _authorized(bridge):
        return _unauthorized()
    problem = bridge.reload()
    if problem:
        return f"failed to reload config: {problem}\n", 500, {"Content-Type": "text/plain; charset=utf-8"}
    return "OK\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@ops.route("/-/healthy", methods=["GET", "HEAD"])
def healthy() -> Any:
    return "OK\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@ops.route("/-/ready", methods=["GET", "HEAD"])
def ready() -> Any:
    try:
        _bridge().store().ping()
    except (StoreError, ValueError) as exc:
        return f"not ready: {exc}\n", 503, {"Content-Type": "text/plain; charset=utf-8"}
    return "OK\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
