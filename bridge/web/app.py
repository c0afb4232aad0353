"""The web tier: ``create_app`` builds the Flask app that receives callbacks and serves the ops endpoints.

The request path only authenticates, parses, maps and commits to the store; delivery to Alertmanager
happens in the delivery loop. A callback is acknowledged only after its commit.
"""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from bridge.metrics import Metrics
from bridge.reload import ReloadCoordinator, RulesInForce
from bridge.rules import Rules
from bridge.rules.loading import rules_for
from bridge.settings import Settings, discovered
from bridge.store import Store
from bridge.vendors import VENDORS
from bridge.web.admin import inspector_headers
from bridge.web.api import api
from bridge.web.errors import answer_http_error, answer_unexpected
from bridge.web.ingest import callbacks
from bridge.web.ops import ops
from bridge.web.page import page
from bridge.web.state import AppState


def create_app(settings: Settings | None = None, store: Store | None = None, rules: Rules | None = None,
               coordinator: ReloadCoordinator | None = None, rules_generation: int | None = None,
               metrics: Metrics | None = None) -> Flask:
    """Build the web app. ``rules`` default to those of the settings' config file; without a
    ``coordinator``, ``POST /-/reload`` swaps the rules of this process only. ``rules_generation`` is
    the reload generation ``rules`` belong to (default: the coordinator's current one)."""
    settings = settings or Settings()
    metrics = metrics or Metrics(vendors=VENDORS, targets=[t.name for t in settings.alertmanagers
                                                           if not discovered(t.url)])
    rules = rules if rules is not None else rules_for(settings)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # OPTIONS gets 405 JSON with Allow, not an empty HTML 200
    # no redirects at all: Werkzeug would answer //x with a Location built from the Host header, query
    # (token) included, before any authentication
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.extensions["bridge"] = AppState(settings, store, RulesInForce(settings, rules, coordinator, metrics,
                                                                      rules_generation), metrics)
    app.register_blueprint(callbacks)
    app.register_blueprint(ops)
    app.register_blueprint(api)
    app.register_blueprint(page)
    app.register_error_handler(HTTPException, answer_http_error)
    app.register_error_handler(Exception, answer_unexpected)
    app.after_request(_security_headers)
    app.after_request(inspector_headers)  # one CSP for every answer: the page's, /api/v1/'s and the rest
    return app


def _security_headers(response: Response) -> Response:
    """Every answer is data, never a page: no sniffing it into HTML, no caching it."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response
