"""POST alerts to one Alertmanager's ``/api/v2/alerts`` (never v1: Mimir's v1 path uploads config)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import requests

from bridge import __version__
from bridge.mapping.limits import alert_bytes
from bridge.metrics import Metrics
from bridge.model import AlarmState, Alert
from bridge.settings import AlertmanagerTarget
from bridge.store import StoredAlert

log = logging.getLogger(__name__)


class SendError(RuntimeError):
    """A POST failed. ``permanent`` errors (400, 422) are not retried: the alert itself is bad."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


ENDS_AT_RESENDS = 4
"""Firing alerts carry ``endsAt = now + 4 x the resend interval``, as Prometheus does: three re-sends may
fail before Alertmanager resolves an alert that still fires."""


def postable(alert: Alert, now: float, valid_for: float) -> dict[str, Any]:
    """The v2 body of one alert: firing alerts carry ``endsAt = now + valid_for``, as Prometheus does."""
    ends_at = alert.ends_at if alert.state is AlarmState.RESOLVED and alert.ends_at else now + valid_for
    body: dict[str, Any] = {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "startsAt": _rfc3339(alert.starts_at),
        "endsAt": _rfc3339(max(ends_at, alert.starts_at)),
    }
    if alert.generator_url:
        body["generatorURL"] = alert.generator_url
    return body


MAX_POST_BYTES = 1 << 20
"""A POST carries at most about this much of alerts' labels, annotations and URLs (at least one alert), so
that a batch of large alerts cannot make a POST Alertmanager times out on (issue 19 item 3)."""

PROBE_ANSWERING = frozenset({404, 405})
"""Probe answers that still mean a server is there and answering (a proxy or gateway that serves only the
POST path): reachable. 401/403 (wrong credentials or tenant), 5xx and no answer count as down."""


def within_post_bytes(alerts: Sequence[StoredAlert], budget: int = MAX_POST_BYTES) -> list[StoredAlert]:
    """The longest head of ``alerts`` that fits ``budget`` bytes, and never less than one alert."""
    taken = 0
    for index, stored in enumerate(alerts):
        taken += alert_bytes(stored.alert)
        if taken > budget and index:
            return list(alerts[:index])
    return list(alerts)


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertmanagerClient:
    """One target's HTTP session; its metrics carry the target's name (its URL without credentials)."""

    def __init__(self, target: AlertmanagerTarget, metrics: Metrics | None = None) -> None:
        self.target = target
        self.name = target.name
        self.metrics = metrics or Metrics(targets=[target.name])
        self.rejection_messages: dict[int, str] = {}
        """After :meth:`send`: what Alertmanager said rejecting each alert, by index in the batch."""
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": f"cloud-alarm-bridge/{__version__}",
                                     "Content-Type": "application/json", **target.headers})
        if target.username or target.password:
            self.session.auth = (target.username, target.password)
        if target.bearer_token:
            self.session.headers["Authorization"] = f"Bearer {target.bearer_token}"
        tls = target.tls
        self.session.verify = False if tls.insecure_skip_verify else (tls.ca_file or True)
        if tls.cert_file:
            self.session.cert = (tls.cert_file, tls.key_file) if tls.key_file else tls.cert_file

    def send(self, alerts: Sequence[dict[str, Any]], offset: int = 0, deadline: float | None = None) -> list[int]:
        """POST alerts, isolating rejected ones; returns the indexes of the alerts Alertmanager rejected.

        Alertmanager stores the valid alerts of a batch it answers 400, but a 422 rejects the whole
        batch, so a rejected batch is split in halves until each rejected alert stands alone.
        Raises SendError(permanent=False) for network errors and 5xx: the caller retries. ``deadline``
        (``time.monotonic()``) ends every POST of the call, the halves' too: the delivery lease fences
        them with it, and no POST starts once it has passed.
        """
        if offset == 0:  # a new batch (a half at offset 0 is split before any alert of the batch is rejected)
            self.rejection_messages = {}
        try:
            self._post(alerts, self._timeout(deadline))
        except SendError as error:
            if not error.permanent:
                raise
            if len(alerts) == 1:
                self.rejection_messages[offset] = str(error)
                self.metrics.alerts_sent.labels(self.name, "rejected").inc()
                log.warning("alertmanager rejected an alert", extra={
                    "alertmanager": self.name, "error": str(error), "labels": alerts[0].get("labels")})
                return [offset]
            middle = len(alerts) // 2
            return (self.send(alerts[:middle], offset, deadline)
                    + self.send(alerts[middle:], offset + middle, deadline))
        self.metrics.alerts_sent.labels(self.name, "success").inc(len(alerts))
        return []

    def _timeout(self, deadline: float | None) -> float:
        """The target's timeout, or less to end by ``deadline``; SendError if it has passed."""
        if deadline is None:
            return self.target.timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise SendError("delivery lease ends: POST left for later", permanent=False)
        return min(self.target.timeout, left)

    def _post(self, alerts: Sequence[dict[str, Any]], timeout: float) -> None:
        self.metrics.batch_size.labels(self.name).observe(len(alerts))
        started = time.monotonic()
        try:
            response = self.session.post(self.target.alerts_url, json=list(alerts), timeout=timeout)
        except requests.RequestException as exc:
            self.metrics.alerts_sent.labels(self.name, "error").inc(len(alerts))
            reason = "timeout" if isinstance(exc, requests.Timeout) else "connection"
            self.metrics.send_failures.labels(self.name, reason).inc()
            raise SendError(describe(exc, timeout), permanent=False) from None
        finally:
            self.metrics.send_duration.labels(self.name).observe(time.monotonic() - started)
        if response.status_code // 100 == 2:
            return
        message = f"HTTP {response.status_code}: {response.text[:500].strip()}"
        if response.status_code in (400, 422):
            self.metrics.send_failures.labels(self.name, "rejected").inc()
            raise SendError(message, permanent=True)
        self.metrics.alerts_sent.labels(self.name, "error").inc(len(alerts))
        reason = "server_error" if response.status_code >= 500 else "client_error"
        self.metrics.send_failures.labels(self.name, reason).inc()
        raise SendError(message, permanent=False)

    def probe(self) -> None:
        """Check that the Alertmanager answers, with the URL, credentials and tenant the POSTs use.

        ``GET /api/v2/status`` rather than ``/-/ready``: behind a path prefix (Mimir's /alertmanager, a
        managed service's workspace) only the API is served there, and a wrong password or tenant fails
        here as it would fail the next POST. Raises SendError as a failed POST does.
        """
        try:
            response = self.session.get(self.target.url.rstrip("/") + "/api/v2/status", timeout=self.target.timeout)
        except requests.RequestException as exc:
            raise SendError(describe(exc, self.target.timeout), permanent=False) from None
        if response.status_code // 100 != 2 and response.status_code not in PROBE_ANSWERING:
            raise SendError(f"HTTP {response.status_code} from /api/v2/status: {response.text[:200].strip()}",
                            permanent=False)

    def close(self) -> None:
        self.session.close()


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_SSL = re.compile(r"\[SSL[^\]]*\] ([^'\")(]+)")


def describe(exc: requests.RequestException, timeout: float) -> str:
    """What went wrong, in a few words: urllib3's "Max retries exceeded" prose misleads (there are no
    retries) and runs to hundreds of characters."""
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g}s"
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        found = _SSL.search(text)
        return f"TLS error: {found.group(1).strip() if found else 'handshake failed'}"
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    return type(exc).__name__
