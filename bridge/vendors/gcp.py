"""Google Cloud Monitoring webhook notifications (notification channel type "Webhook", schema 1.2).

One incident per body. ``incident_id`` is the same in the open and the close notification, and it is all
they are sure to share: Google's documented close carries no metric labels, and in payloads without
``condition`` (so without the policy's id) and without ``metric`` (uptime checks, log-match conditions) the
alert is named after the policy, which may be renamed while the incident is open. So the incident is the
object (:attr:`Alarm.occurrence_id`), and ``incident_id`` is a label too: GCP opens one incident per time
series, and a later incident on the same series is another alert, which a late close of the earlier one
cannot resolve. Without ``incident_id`` the object is the policy, the condition and the resource and
metric labels. Fields vary by era: ``condition`` (with the policy's id),
``observed_value``, ``scoping_project_*`` and ``severity`` are not always sent; uptime checks and
log-match conditions carry no ``metric``. The console's "Send test notification" posts ``version``
"test", ``state`` "OPEN" in upper case, zero times and ``documentation`` as a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import epoch, flat_strings, given_details, is_json_type, load_json, obj, text

CONSOLE_URL = "https://console.cloud.google.com/monitoring/alerting"
TEST_NOTIFICATION_TTL = 300.0
"""How long the console's test notification fires: Google never closes it, and it must show up in
Alertmanager (that is what the user is testing) without paging anyone for long."""

SEVERITIES = {"CRITICAL": "critical", "ERROR": "critical", "WARNING": "warning", "INFO": "info"}
"""The policy's severity (``incident.severity``, or a ``severity`` policy user label as many teams set
before Google added the field) as one of the levels Prometheus stacks route on, as Azure's Error is:
a route for ``critical`` must not miss an Error policy. The level as sent is the annotation
``gcp_severity``. "No severity" and anything else take the configured default."""

_STATES = {"open": AlarmState.FIRING, "acknowledged": AlarmState.FIRING, "closed": AlarmState.RESOLVED}
_POLICY_NAME = re.compile(r"projects/[^/]+/alertPolicies/([^/]+)(?:/conditions/([^/]+))?")
_CONSOLE_LINK = re.compile(r"https://[A-Za-z0-9.-]+(?:[/?#][\x21-\x7e]*)?")
MAX_DOCUMENTATION = 4096
"""Characters of the policy's documentation kept as an annotation."""


class Gcp:
    name = "gcp"

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        if not is_json_type(content_type):
            raise UnsupportedMediaType(f"gcp sends application/json, not {content_type}")
        payload = obj(load_json(body, ctx.max_json_depth), "body")
        incident = obj(payload.get("incident"), "incident")
        return Callback(alarms=[self._alarm(payload, incident, ctx)], reply={"status": "ok"})

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok"}

    def _alarm(self, payload: dict[str, Any], incident: dict[str, Any], ctx: ParseContext) -> Alarm:
        raw_state = text(incident.get("state"))
        state = _STATES.get(raw_state.lower())
        if state is None:
            raise InvalidPayload(f"incident.state: must be open, acknowledged or closed, got {raw_state[:32]!r}"
                                 if raw_state else "incident.state: missing")
        resource = obj(incident.get("resource"), "incident.resource", required=False)
        metric = obj(incident.get("metric"), "incident.metric", required=False)
        policy_name = text(incident.get("policy_name"))
        name = text(metric.get("type")) or policy_name
        if not name:
            raise InvalidPayload("incident.metric.type and incident.policy_name: both missing, so no alert name")
        condition = obj(incident.get("condition"), "incident.condition", required=False)
        policy_id, condition_id = _ids(text(condition.get("name")), policy_name)
        condition_name = text(incident.get("condition_name")) or text(condition.get("displayName"))
        incident_id = text(incident.get("incident_id"))
        dimensions, identity = _dimensions(resource, metric, incident, condition_id, condition_name, incident_id)

        unparsed: dict[str, str] = {}
        started = epoch(incident.get("started_at"), "started_at", unparsed) or ctx.now
        ended = epoch(incident.get("ended_at"), "ended_at", unparsed)
        resolved_at = (ended or ctx.now) if state is AlarmState.RESOLVED else None
        is_test = text(payload.get("version")).lower() == "test"
        summary = text(incident.get("summary"))
        shown = text(metric.get("displayName")) or name
        where = text(incident.get("resource_display_name")) or text(incident.get("resource_name"))
        return Alarm(
            vendor=self.name,
            name=name,
            state=state,
            started_at=started,
            event_at=max(started, resolved_at or started),
            resolved_at=resolved_at,
            namespace=text(resource.get("type")),
            region=_region(dimensions),
            policy_id=policy_id or policy_name,
            severity=_severity(incident),
            dimensions=dimensions,
            identity=identity,
            occurrence_id=incident_id,
            details=given_details(_details(incident, metric, condition_name), unparsed),
            summary=summary or f"{shown}" + (f" on {where}" if where else ""),
            description=("Google Cloud Monitoring test notification: " if is_test else
                         f"Google Cloud Monitoring policy {policy_name or '?'}: ") + (condition_name or shown),
            console_url=_console_link(text(incident.get("url"))),
            expires_at=ctx.now + TEST_NOTIFICATION_TTL if is_test else None,
            raw=payload,
        )


def _ids(condition_name: str, policy_name: str) -> tuple[str, str]:
    """The policy's and the condition's ids, from ``projects/P/alertPolicies/ID/conditions/CID`` (in
    ``condition.name``, which older payloads lack, and as ``policy_name`` in the test notification)."""
    for candidate in (condition_name, policy_name):
        match = _POLICY_NAME.fullmatch(candidate)
        if match:
            return match.group(1), match.group(2) or ""
    return "", ""


def _dimensions(resource: dict[str, Any], metric: dict[str, Any], incident: dict[str, Any], condition_id: str,
                condition_name: str, incident_id: str) -> tuple[dict[str, str], frozenset[str]]:
    """Resource and metric labels (the object when there is no ``incident_id``), the condition, the incident,
    and the metadata and policy user labels (display: a user may edit them while the incident is open). A
    name taken by an earlier group gets the group's prefix (``metric_zone``, ``gcp_incident_id``)."""
    merged: dict[str, str] = {}
    identity: set[str] = set()
    groups = (
        ("", obj(resource.get("labels"), "incident.resource.labels", required=False), True),
        ("metric_", obj(metric.get("labels"), "incident.metric.labels", required=False), True),
        ("", {"condition_id": condition_id}, True),
        ("", {"condition": condition_name}, not condition_id),
        ("gcp_", {"incident_id": incident_id}, True),
        ("user_", _metadata(incident, "user_labels"), False),
        ("system_", _metadata(incident, "system_labels"), False),
        ("policy_", obj(incident.get("policy_user_labels"), "incident.policy_user_labels", required=False), False),
    )
    for prefix, labels, identifies in groups:
        for key, value in flat_strings(labels).items():
            name = key if key not in merged else prefix + key
            if name in merged:
                continue
            merged[name] = value
            if identifies:
                identity.add(name)
    return merged, frozenset(identity)


def _metadata(incident: dict[str, Any], key: str) -> dict[str, Any]:
    metadata = obj(incident.get("metadata"), "incident.metadata", required=False)
    return obj(metadata.get(key), f"incident.metadata.{key}", required=False)


def _region(labels: dict[str, str]) -> str:
    """The resource's region: its ``region`` or ``location`` label, else the region of its ``zone``
    (``us-central1-c`` → ``us-central1``), so routes and silences can match every resource type by region."""
    region = labels.get("region") or labels.get("location")
    if region:
        return region
    zone = labels.get("zone", "")
    match = re.fullmatch(r"([a-z]+-[a-z]+\d+)-[a-z]", zone)
    return match.group(1) if match else ""


def _severity(incident: dict[str, Any]) -> str:
    policy_labels = incident.get("policy_user_labels")
    fallback = policy_labels.get("severity") if isinstance(policy_labels, dict) else None
    return SEVERITIES.get(text(incident.get("severity")).upper()) or SEVERITIES.get(text(fallback).upper(), "")


def _details(incident: dict[str, Any], metric: dict[str, Any], condition_name: str) -> dict[str, str]:
    documentation = incident.get("documentation")
    if isinstance(documentation, dict):  # the test notification sends a plain string
        documentation = documentation.get("content")
    return {
        "incident_id": text(incident.get("incident_id")),
        "gcp_severity": text(incident.get("severity")),
        "policy_name": text(incident.get("policy_name")),
        "condition_name": condition_name,
        "metric_display_name": text(metric.get("displayName")),
        "observed_value": text(incident.get("observed_value")),
        "threshold_value": text(incident.get("threshold_value")),
        "resource_name": text(incident.get("resource_display_name")) or text(incident.get("resource_name")),
        "resource_type_display_name": text(incident.get("resource_type_display_name")),
        "scoping_project_id": text(incident.get("scoping_project_id")),
        "scoping_project_number": text(incident.get("scoping_project_number")),
        "documentation": text(documentation)[:MAX_DOCUMENTATION],
        "incident_url": text(incident.get("url"))[:2048],
    }


def _console_link(url: str) -> str:
    """The incident's console page as ``generatorURL`` when it is a plain https URL, else the alerting page:
    Alertmanager refuses a batch whose generatorURL it cannot parse."""
    return url if len(url) <= 2048 and _CONSOLE_LINK.fullmatch(url) else CONSOLE_URL


VENDOR = Gcp()
