"""What the web tier answers when it does not take a callback: typed errors, one handler.

A refusal carries its status, the outcome counted in ``cloud_alarm_bridge_callbacks_total`` and any
header the client needs. The stages below raise their own errors (InvalidPayload, StoreFull...);
:func:`refusal_for` says once what each means to a client, so no view builds an error response by
hand, and :func:`bridge.web.ingest.count_outcome` counts every outcome in one place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Response, current_app, g, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from bridge.model import InvalidPayload, UnsupportedMediaType
from bridge.store import StoreDiskFull, StoreError, StoreFull
from bridge.vendors import VENDORS
from bridge.verify import Rejected, Unavailable

log = logging.getLogger(__name__)

RETRY_AFTER = {"Retry-After": "5"}
"""Vendors retry a 503; tell them when."""
UNAUTHORIZED = {"WWW-Authenticate": 'Basic realm="cloud-alarm-bridge"'}

STAGE_ERRORS = (InvalidPayload, UnsupportedMediaType, StoreError, RequestEntityTooLarge, BadRequest, Rejected,
                Unavailable)
"""The errors of the stages below that a callback's client caused or must retry."""


class Refusal(Exception):
    """A callback the bridge does not take; ``str()`` is the message the client gets."""

    def __init__(self, status: int, outcome: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.outcome, self.headers = status, outcome, dict(headers or {})


def refusal_for(error: Exception) -> Refusal:
    """What an error of a stage below the web tier means to the client, logged as the operator needs it."""
    vendor = g.get("vendor")
    if isinstance(error, Refusal):
        return error
    if isinstance(error, InvalidPayload):
        log.info("rejected an invalid callback", extra={"vendor": vendor, "error": str(error)})
        return Refusal(400, "invalid", str(error))
    if isinstance(error, Rejected):  # logged without the body: it is not the vendor's
        log.warning("refused a signed push that failed its check", extra={"vendor": vendor, "error": str(error)})
        return Refusal(403, "unverified", str(error))
    if isinstance(error, Unavailable):
        log.warning("cannot check a signed push now", extra={"vendor": vendor, "error": str(error)})
        return Refusal(503, "verification_unavailable", f"{error}; retry later", RETRY_AFTER)
    if isinstance(error, UnsupportedMediaType):
        return Refusal(415, "unsupported_media_type", str(error))
    if isinstance(error, StoreFull):
        log.error("store full: refusing callbacks until it drains", extra={"vendor": vendor})
        return Refusal(503, "store_full", f"{error}; retry later", RETRY_AFTER)
    if isinstance(error, StoreDiskFull):
        log.error("store disk full: refusing callbacks until space is freed", extra={"vendor": vendor,
                                                                                     "error": str(error)})
        return Refusal(503, "store_disk_full", "the store's disk is full; retry later", RETRY_AFTER)
    if isinstance(error, StoreError):
        log.error("store unavailable: refusing callback", extra={"vendor": vendor, "error": str(error)})
        return Refusal(503, "store_unavailable", "the store is unavailable; retry later", RETRY_AFTER)
    if isinstance(error, RequestEntityTooLarge):
        return Refusal(413, "too_large", too_large_message())
    if isinstance(error, BadRequest):
        return Refusal(400, "invalid", error.description or error.name)
    raise TypeError(f"no refusal for {type(error).__name__}") from error


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """Every error is JSON: ``{"error": message}``."""
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def answer_refusal(error: Exception) -> Response:
    """The one handler of refusals: note the outcome for counting, answer JSON."""
    refusal = refusal_for(error)
    g.outcome = refusal.outcome
    return error_response(refusal.status, str(refusal), refusal.headers)


def undecodable_query() -> None:
    """Refuse a query string that is not UTF-8 (raw bytes a client put in the request line) before anything
    reads it: Werkzeug would raise UnicodeDecodeError, a 500."""
    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not UTF-8; percent-encode its bytes") from None


def too_large_message() -> str:
    return f"the body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes (--max-body-bytes)"


def not_found_message() -> str:
    return (f"no such endpoint; callbacks go to POST /callbacks/<vendor>, vendors: {', '.join(VENDORS)}; "
            "operators: the inspector at /, /api/v1/, /metrics, /-/healthy, /-/ready, POST /-/reload")


def answer_http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (404, 405...), as JSON naming what to do rather than its HTML prose."""
    headers = {}
    message = error.description or error.name
    valid_methods = getattr(error, "valid_methods", None)
    if error.code == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
        message = f"method {request.method} not allowed here; allowed: {headers['Allow']}"
    elif error.code == 404:
        message = not_found_message()
    return error_response(error.code or 500, message, headers)


def answer_unexpected(error: Exception) -> Response:
    log.exception("unexpected error handling a request", extra={"path": request.path})
    return error_response(500, "internal error")
