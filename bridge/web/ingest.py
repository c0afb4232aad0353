"""Receive: ``POST /callbacks/<vendor>``, the first stage of the pipeline.

Who may call is checked on the request line and headers, before the body is read; then the body goes
through the pipeline (parse, map) and into the store, and the vendor gets its reply only after the
commit. Refusals are raised (bridge.web.errors) and answered by one handler; each callback's outcome is
counted once, in :func:`count_outcome`.
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Request, Response, g, jsonify, request
from flask.ctx import _AppCtxGlobals
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from bridge import pipeline
from bridge.logs import ACCESS_FIELDS, CLIENT_ADDRESS
from bridge.vendors import VENDORS
from bridge.verify import Kind
from bridge.web.auth import Guard, client_address, presented_token
from bridge.web.errors import (
    STAGE_ERRORS,
    UNAUTHORIZED,
    Refusal,
    answer_refusal,
    error_response,
    undecodable_query,
)
from bridge.web.journal import callback_record
from bridge.web.state import app_state

log = logging.getLogger(__name__)

callbacks = Blueprint("callbacks", __name__)
for _error in (Refusal, *STAGE_ERRORS):  # a callback's refusals; anything else on any route is a 500
    callbacks.register_error_handler(_error, answer_refusal)


@callbacks.before_request
def check_request_line() -> None:
    """Name the vendor first, so that a refusal of the request line is counted under it too."""
    vendor_name = (request.view_args or {}).get("vendor_name")
    if vendor_name in VENDORS:
        g.vendor = vendor_name
    undecodable_query()


def current() -> tuple[Request, _AppCtxGlobals]:
    """The request and ``g`` themselves, not their proxies (``flask.request``, ``flask.g``): each lookup
    through a proxy costs about a microsecond, and a callback made some 30 of them. Bound to the same names
    (``req, g = current()``), so that ``g.outcome = ...`` reads as everywhere else."""
    return request._get_current_object(), g._get_current_object()  # type: ignore[attr-defined]


@callbacks.route("/callbacks/<vendor_name>", methods=["GET", "HEAD", "POST"])
def receive(vendor_name: str) -> Response:
    vendor = VENDORS.get(vendor_name)
    req, g = current()
    if vendor is None:
        g.journal_vendor, g.journal_outcome = vendor_name[:64], "unknown_vendor"  # a wrong URL in a console
        return error_response(404, f"unknown vendor {vendor_name!r}; known: {', '.join(VENDORS)}")
    g.vendor = vendor_name
    started = time.monotonic()
    state = app_state()
    check_caller(state.guard, vendor_name, req)
    try:
        body = read_body(req) if req.method == "POST" else b""
    except (TimeoutError, ClientDisconnected):  # --request-timeout hit mid-body (werkzeug reports it as a
        # disconnect): a slow or stalled sender
        raise Refusal(408, "timeout", "the request body did not arrive in time") from None
    if not body.strip():
        g.journal_outcome = "url_check"  # the journal shows that the console's check got through
        return jsonify(vendor.empty_reply(req.args))  # the console's URL check
    g.ingest_started = started
    g.body = body  # recorded in the journal whatever becomes of it, a refused signature too
    gate = state.gates.get(vendor_name)
    if gate is not None:  # a signed push: nothing is done with it before its signature is checked
        envelope = gate.admit(body)
        if envelope.kind is not Kind.NOTIFICATION:
            g.outcome = envelope.kind.value
            return jsonify({envelope.kind.value: envelope.topic})
    now = time.time()
    parsed = pipeline.parse(vendor, body, req.mimetype, state.settings, now)
    if parsed.ignored:
        log.warning("ignored a callback that carries no alarm", extra={"vendor": vendor_name, "reason": parsed.ignored})
        g.outcome = "ignored"
        return jsonify(parsed.reply)
    alerts = pipeline.to_alerts(parsed.alarms, state.rules.current(), state.limits, now,
                                state.metrics.count_template_error)
    record = callback_record(vendor_name, "accepted", 200, "", body, alerts, now, state.secrets, req)
    outcomes = state.store().apply(alerts, now, record)
    g.outcome = "accepted"
    dropped = sum(alert.resolve_only for alert in alerts)
    if dropped:
        state.metrics.alerts_dropped.labels(vendor_name).inc(dropped)
    for outcome in outcomes:
        state.metrics.alarm_changes.labels(vendor_name, outcome.value).inc()
    req.environ[ACCESS_FIELDS] = {  # the access log's line for this callback says what it did
        "vendor": vendor_name, "alarms": [alarm.name for alarm in parsed.alarms][:10], "alerts": len(alerts),
        **{o.value: sum(1 for x in outcomes if x is o) for o in dict.fromkeys(outcomes)},
        **({"dropped": dropped} if dropped else {})}
    return jsonify(parsed.reply)


def read_body(req: Request) -> bytes:
    """The body, refused with 413 over --max-body-bytes however it was sent.

    Werkzeug stops reading a chunked body (no Content-Length) at the limit and returns what it read as
    if it were all; one byte more from the server's stream tells whether there was more.
    """
    body = req.get_data(cache=False)
    if req.content_length is None and (limit := req.max_content_length) is not None and len(body) >= limit:
        stream = req.environ["wsgi.input"]
        if req.environ.get("wsgi.input_terminated") and stream.read(1):
            raise RequestEntityTooLarge()
    return body


def check_caller(guard: Guard, vendor_name: str, req: Request) -> None:
    """Raise a 403 Refusal for a source outside the allowlist, a 401 for a missing or wrong token.

    Runs on the request line and headers only: a refused body is never read. The client address checked
    (behind a trusted proxy, from X-Forwarded-For) is the one the logs name.
    """
    forwarded_for = req.headers.get("X-Forwarded-For", "")
    client = client_address(req.remote_addr or "", forwarded_for, guard.trusted_proxies)
    req.environ[CLIENT_ADDRESS] = str(client) if client is not None else "unknown"
    if not guard.source_ok(vendor_name, req.remote_addr or "", forwarded_for):
        log.info("refused a callback from outside the allowed networks",
                 extra={"vendor": vendor_name, "remote": req.environ[CLIENT_ADDRESS], "peer": req.remote_addr})
        raise Refusal(403, "forbidden", "source address not allowed")
    if not guard.token_ok(vendor_name, presented_token(req.args, req.headers)):
        raise Refusal(401, "unauthorized", "missing or wrong token", UNAUTHORIZED)


@callbacks.after_request
def count_outcome(response: Response) -> Response:
    """Count each callback's outcome, whether it was taken or refused, and time those that were ingested."""
    req, g = current()
    vendor, outcome = g.get("vendor"), g.get("outcome")
    state = app_state()
    journal_vendor, journal_outcome = vendor or g.get("journal_vendor"), outcome or g.get("journal_outcome")
    if journal_vendor and journal_outcome and journal_outcome != "accepted":  # an accepted one is recorded with
        state.journal.add(callback_record(journal_vendor, journal_outcome,  # its alerts, in their transaction
                                          response.status_code, _error_of(response), g.get("body", b""), (),
                                          time.time(), state.secrets, req))
    if vendor and outcome:
        state.metrics.callbacks.labels(vendor, outcome).inc()
        req.environ.setdefault(ACCESS_FIELDS, {"vendor": vendor})["outcome"] = outcome
    started = g.get("ingest_started")
    if started is not None and outcome:  # an unexpected error (a 500) is logged, not timed
        state.metrics.callback_duration.labels(vendor).observe(time.monotonic() - started)
    return response


def _error_of(response: Response) -> str:
    """The message a refusal answered with (``{"error": ...}``)."""
    body = response.get_json(silent=True) if response.is_json else None
    return str(body.get("error", "")) if isinstance(body, dict) else ""
