"""Recording callbacks in the recent-callbacks journal (bridge.store.journal), secrets redacted.

An accepted callback's record rides in the store transaction that commits its alerts (no second commit).
A refused one is queued here and written by a background thread of the worker, in batches: the refusal is
never delayed or failed by the journal, and when refusals arrive faster than the store takes them, the
queue is full and the surplus is not recorded (counted in ``dropped``), so a flood of garbage costs the
store a bounded amount of work. The journal's own caps give refused records a budget of their own.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from flask import Request

from bridge.logs import CLIENT_ADDRESS, redact_query
from bridge.model import Alert
from bridge.store import CallbackRecord, Store, StoreError

log = logging.getLogger(__name__)

BODY_CAP = 32 << 10
"""Bytes of a body kept in its record; a longer body is cut (``body_truncated``)."""
ALERTS_CAP = 64 << 10
"""Bytes of labels and annotations kept per record; further alerts are counted in ``alerts_omitted``."""
REDACTED = "<redacted>"
_SECRET_WORDS = ("token", "secret", "passw", "signature", "credential", "apikey", "api_key", "authorization")
_SECRET_EXACT = frozenset({"sign", "sig"})
_NOT_SECRET = frozenset({"signatureversion", "signature_version", "signaturemethod", "signature_method"})
"""Which scheme signed a message (SNS ``SignatureVersion``): what an operator needs to see when a check fails."""
_JSON_PAIR = re.compile(r'"([\w.-]{1,100})"(\s*:\s*)(?:"(?:[^"\\]|\\.)*(?:"|$)|[^,}\]\s"]+)')
_FORM_PAIR = re.compile(r"(^|[&?;\s]|\\u0026)([\w.%-]{1,100})=([^&\s\"\\]*(?:\\/[^&\s\"\\]*)*)")
"""A form field or query parameter after its separator, also in a URL inside a JSON string: the value ends at
``&``, whitespace, ``"`` or a JSON escape (an escaped ``/`` excepted), so that the JSON around it stays whole;
``\\u0026`` is an ``&`` as Go's encoding/json writes it."""
_URL_CREDENTIALS = re.compile(r"(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,30}://)[^/@\s:\"']{1,256}:[^/@\s\"']{0,256}@",
                              re.IGNORECASE)  # bounded: a long run of letters must not cost quadratic time
_AUTH_HEADER = re.compile(r"(authorization[\"']?\s{0,9}[:=]\s{0,9}[\"']?(?:basic|bearer|token)\s{1,9})"
                          r"[A-Za-z0-9+/=._~-]+", re.IGNORECASE)
"""An ``Authorization`` header written out in a body (``Basic dXNlcjpwYXNz``); "basic monitoring" is no secret."""


def secret_name(name: str) -> bool:
    """Whether a JSON key or form field holds a secret: token-, secret-, password-, signature-like names."""
    lowered = name.lower()
    return lowered in _SECRET_EXACT or (any(word in lowered for word in _SECRET_WORDS) and lowered not in _NOT_SECRET)


def _json_pair(match: re.Match[str]) -> str:
    return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"' if secret_name(match.group(1)) else match.group(0)


def _form_pair(match: re.Match[str]) -> str:
    return f"{match.group(1)}{match.group(2)}={REDACTED}" if secret_name(match.group(2)) else match.group(0)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with secrets replaced: values of token/signature/password-like keys in JSON, forms and query
    strings, credentials in URLs, Basic and Bearer credentials, and any of ``secrets`` (the bridge's own
    tokens) wherever they appear.

    On the request path of every callback: each pattern runs only if a cheap look finds what it needs, and
    none can take more than linear time on hostile input.
    """
    for secret in secrets:
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, REDACTED)
    lowered = text.lower()
    if any(word in lowered for word in (*_SECRET_WORDS, "sig")):
        if '"' in text:
            text = _JSON_PAIR.sub(_json_pair, text)
        if "=" in text:
            text = _FORM_PAIR.sub(_form_pair, text)
    if "://" in text and "@" in text:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def capped_body(body: bytes, secrets: Iterable[str] = ()) -> tuple[str, bool]:
    """The body as text, redacted and cut to BODY_CAP bytes; whether it was cut.

    Redacted before the cut, on a little more than is kept, so that a secret cut by the cap is still
    recognised by its key.
    """
    text = redact(body[:BODY_CAP + 1024].decode("utf-8", "replace"), secrets)
    encoded = text.encode("utf-8")
    if len(encoded) <= BODY_CAP and len(body) <= BODY_CAP + 1024:
        return text, False
    return encoded[:BODY_CAP].decode("utf-8", "ignore"), True


def alert_entries(alerts: Sequence[Alert]) -> tuple[tuple[dict, ...], int]:
    """What the record keeps of each alert, within ALERTS_CAP bytes; and how many were left out. (Not the
    fingerprint: hashing the labels again would cost every callback more than the rest of its record.)"""
    kept: list[dict] = []
    budget = ALERTS_CAP
    for alert in alerts:
        size = sum(len(k) + len(v) for part in (alert.labels, alert.annotations) for k, v in part.items())
        if size > budget and kept:
            break
        budget -= size
        kept.append({"labels": dict(alert.labels), "annotations": dict(alert.annotations),
                     "state": "dropped" if alert.resolve_only else alert.state.value})
    return tuple(kept), len(alerts) - len(kept)


class RefusedWriter:
    """Writes refused callbacks' records from a queue, in a thread of this process, best effort."""

    QUEUE = 256
    BATCH = 64

    def __init__(self, store: Callable[[], Store]) -> None:
        self._store = store
        self._queue: deque[CallbackRecord] = deque()
        self._wake = threading.Condition()
        self._pid = 0
        self.dropped = 0
        """Refused callbacks not recorded because the queue was full (or the store failed)."""

    def add(self, record: CallbackRecord) -> None:
        """Queue a record; never blocks, never raises."""
        with self._wake:
            if len(self._queue) >= self.QUEUE:
                self.dropped += 1
                return
            self._queue.append(record)
            if self._pid != os.getpid():  # the first in this process (gunicorn forks after the app is built)
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="journal refused callbacks", daemon=True).start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                batch = [self._queue.popleft() for _ in range(min(self.BATCH, len(self._queue)))]
            try:
                self._store().record_callbacks(batch)
            except (StoreError, ValueError) as exc:
                self.dropped += len(batch)
                log.debug("could not record refused callbacks", extra={"error": str(exc)})
            except Exception:  # a bug must not end the thread
                self.dropped += len(batch)
                log.exception("unexpected error recording refused callbacks")


def callback_record(vendor: str, outcome: str, status: int, error: str, body: bytes, alerts: Sequence[Alert],
                    received_at: float, secrets: Iterable[str], req: Request) -> CallbackRecord:
    """The record of the callback ``req`` being handled."""
    text, truncated = capped_body(body, secrets)
    entries, omitted = alert_entries(alerts)
    return CallbackRecord(
        received_at=received_at, vendor=vendor, source=req.environ.get(CLIENT_ADDRESS) or req.remote_addr
        or "unknown", outcome=outcome, status=status, error=error, content_type=req.content_type or "",
        query=redact(redact_query(req.query_string.decode("utf-8", "replace")), secrets)[:2048], body=text,
        body_bytes=len(body) if body else (req.content_length or 0), body_truncated=truncated, alerts=entries,
        alerts_omitted=omitted)
