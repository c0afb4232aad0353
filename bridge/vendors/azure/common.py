"""What every Azure Monitor common-schema alert shares: the essentials, its target resources, times, links.

``data.essentials`` is the same for every signal type (``alertId``, ``alertRule``, ``severity`` Sev0 to Sev4,
``signalType``, ``monitorCondition``, ``monitoringService``, ``alertTargetIDs``, ``firedDateTime``…);
``data.alertContext`` varies by signal and is read in :mod:`.signals`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bridge.model import Alarm, AlarmState
from bridge.vendors import ParseContext
from bridge.vendors._fields import flat_strings, local_time, text, unparsed_details

UTC = ZoneInfo("UTC")
CONSOLE_URL = "https://portal.azure.com/#view/Microsoft_Azure_Monitoring/AzureMonitoringBrowseBlade/~/alertsV2"
"""Azure Monitor's alerts page: the ``generatorURL`` when the payload links to nothing better."""

SEVERITIES = {"sev0": "critical", "sev1": "critical", "sev2": "warning", "sev3": "info", "sev4": "info"}
"""Azure's levels are Critical, Error, Warning, Informational and Verbose. Prometheus stacks route on
critical, warning and info (kube-prometheus-stack's rules and inhibitions know no other), so Error pages
like Critical and Verbose is info; the level as sent stays in the ``azure_severity`` annotation."""

EVENT_TTL = 3600.0
"""How long a one-shot notification stays firing: an activity-log event (administrative, policy,
autoscale, security, recommendation), a stateless log search alert (API 2018-04-16, "V1"), a budget
alert, or a notification without ``monitorCondition``. Azure never sends their end."""
HEALTH_TTL = 24 * 3600.0
"""How long a service-health event, a resource-health event or a smart-detection alert stays firing
when nothing ends it: the end comes as another notification (a service-health ``stage`` Resolved, a
resource back to ``Available``, a Resolved smart detection) only if the alert rule forwards it. The
mapping allows no event a longer life (``MAX_EVENT_LIFETIME``)."""

DISPLAY_LABELS = frozenset({"resource", "resource_group", "subscription_id"})
"""Target labels that only spell out parts of ``resource_id``: labels for routes and silences, not identity
(``resource_id`` is), so that their case (Azure lower-cases ids in some payloads) cannot split an alert."""

MAX_DETAIL_LENGTH = 4096
"""Characters of one annotation taken from free-form content (service-health communications, queries)."""
MAX_CONTENT_DETAILS = 24
"""Annotations taken from one free-form object (activity-log ``properties``, custom properties)."""
MAX_DETAILS = 64
"""Annotations of one alert at most, the vendor's first: free-form objects may have any number of keys."""

_LINK = re.compile(r"(https://portal\.azure\.(?:com|cn|us))/?([/#?][A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*)")
"""A portal link of URI characters only (RFC 3986). Azure writes ``https://portal.azure.com#@tenant/…``,
which Alertmanager refuses as ``generatorURL`` (no ``/`` before the ``#``): it is given one."""
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_TAGS = re.compile(r"<[^<>]{0,2000}>")


@dataclass
class Notice:
    """One notification: its essentials read once, and what the signal readers add to every alarm."""

    essentials: dict[str, Any]
    context: dict[str, Any]
    custom: dict[str, Any]
    ctx: ParseContext
    unparsed: dict[str, str] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return text(self.essentials.get("alertRule"))

    @property
    def service(self) -> str:
        return text(self.essentials.get("monitoringService"))

    def fired_at(self) -> float | None:
        return local_time(self.essentials.get("firedDateTime"), "firedDateTime", UTC, self.unparsed)

    def resolved_at(self) -> float | None:
        return local_time(self.essentials.get("resolvedDateTime"), "resolvedDateTime", UTC, self.unparsed)

    def targets(self, *fallbacks: str) -> dict[str, str]:
        """The labels of the resources the alert is about (``alertTargetIDs``, else ``fallbacks``)."""
        raw = self.essentials.get("alertTargetIDs")
        ids = [text(item) for item in raw] if isinstance(raw, list) else [text(raw)]
        return target_labels([i for i in ids if i] or [f for f in fallbacks if f])

    def details(self) -> dict[str, str]:
        """The annotations every alarm of this notification carries."""
        items = self.essentials.get("configurationItems")
        return {
            "alert_id": text(self.essentials.get("alertId")),
            "alert_rule": self.rule,
            "azure_severity": text(self.essentials.get("severity")),
            "signal_type": text(self.essentials.get("signalType")),
            "monitoring_service": self.service,
            "rule_description": text(self.essentials.get("description"))[:MAX_DETAIL_LENGTH],
            "configuration_items": ", ".join(text(i) for i in items if text(i)) if isinstance(items, list) else "",
            "origin_alert_id": text(self.essentials.get("originAlertId")),
            **prefixed("custom", self.custom),
        }

    def alarm(self, *, name: str, state: AlarmState, labels: dict[str, str], details: dict[str, str],
              summary: str, namespace: str = "", region: str = "", policy_id: str = "", ttl: float | None = None,
              link: str = "", ended_by_fired: bool = False) -> Alarm:
        """The alarm for one object of this notification, timed by the essentials.

        A firing alarm starts at ``firedDateTime``; a Resolved one ends at ``resolvedDateTime``. One that
        a later Fired notification ends (``ended_by_fired``: service health, resource health) ends at that
        notification's ``firedDateTime``.
        Unreadable or absent times are the arrival time, and are named in ``vendor_time_unparsed``.
        """
        fired = self.fired_at()
        started = fired if fired is not None else self.ctx.now
        resolved_at = None
        event_at = started
        if state is AlarmState.RESOLVED:
            resolved_at = started if ended_by_fired else self.resolved_at() or self.ctx.now
            event_at = max(started, resolved_at)
        target = labels.get("resource") or labels.get("resource_id") or ""
        where = f" on {target}" if target else ""
        given = {**unparsed_details(self.unparsed), **self.details(), **details}
        all_details = dict(list((k, v) for k, v in given.items() if v)[:MAX_DETAILS])
        kind = labels.get("_type", "")
        labels = {k: v for k, v in labels.items() if not k.startswith("_")}
        return Alarm(
            vendor="azure",
            name=name,
            state=state,
            started_at=started,
            event_at=event_at,
            resolved_at=resolved_at,
            namespace=(namespace or text(self.essentials.get("targetResourceType")) or kind).lower(),
            region=region,
            policy_id=policy_id or self.rule,
            severity=SEVERITIES.get(text(self.essentials.get("severity")).lower(), ""),
            dimensions=labels,
            identity=frozenset(labels) - DISPLAY_LABELS,
            details=all_details,
            summary=f"{name}{where}" + (f": {summary}" if summary else ""),
            description=f"Azure Monitor alert rule {self.rule or '?'} ({self.service or 'unknown service'}): "
            f"{name}{where}",
            console_url=portal_link(text(self.essentials.get("investigationLink")), link),
            expires_at=started + ttl if ttl is not None and state is AlarmState.FIRING else None,
            raw={"essentials": self.essentials, "alertContext": self.context, "customProperties": self.custom},
        )


def target_labels(ids: list[str]) -> dict[str, str]:
    """``/subscriptions/S/resourceGroups/RG/providers/NS/TYPE/NAME`` as labels.

    ``resource_id`` (lower-cased: Azure ids are case-insensitive, and Azure lower-cases them in some
    payloads and not in others) identifies the object; several ids are joined by commas in sorted order.
    ``subscription_id``, ``resource_group`` and ``resource`` (the name, its last segment) are display
    labels taken from the first id; ``_type`` (the resource type) feeds ``cloud_namespace``.
    """
    if not ids:
        return {}
    labels = {"resource_id": ",".join(sorted({i.lower() for i in ids}))}
    parts = [p for p in ids[0].split("/") if p]
    lowered = [p.lower() for p in parts]
    for key, label in (("subscriptions", "subscription_id"), ("resourcegroups", "resource_group")):
        if key in lowered and lowered.index(key) + 1 < len(parts):
            labels[label] = parts[lowered.index(key) + 1]
    if "providers" in lowered:
        after = parts[lowered.index("providers") + 1:]
        if len(after) >= 3:
            labels["_type"] = "/".join([after[0], *after[1:-1:2]])
            labels["resource"] = after[-1]
    return labels


def name_values(value: Any) -> dict[str, str]:
    """Dimensions given as ``[{"name": …, "value": …}]`` (any case of the keys), or as an object."""
    if isinstance(value, dict):
        return flat_strings(value)
    found: dict[str, str] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            lower = {str(k).lower(): v for k, v in item.items()}
            name, val = text(lower.get("name")), text(lower.get("value"))
            if name and val:
                found.setdefault(name, val)
    return found


def merge_dimensions(targets: dict[str, str], dimensions: dict[str, str]) -> dict[str, str]:
    """Target labels and the signal's dimensions in one set; a dimension whose name a target label has
    keeps its value under ``dimension_<name>``."""
    merged = dict(targets)
    for name, value in dimensions.items():
        merged["dimension_" + name if name in merged else name] = value
    return merged


def prefixed(prefix: str, values: Any) -> dict[str, str]:
    """Free-form content as annotations ``<prefix>_<key>``, one level flattened, long values cut."""
    if not isinstance(values, dict):
        return {}
    flat = list(flat_strings(values).items())[:MAX_CONTENT_DETAILS]
    return {f"{prefix}_{key}": value[:MAX_DETAIL_LENGTH] for key, value in flat}


def json_text(value: Any) -> str:
    """A list or object as compact JSON for an annotation; scalars as text."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))[:MAX_DETAIL_LENGTH] if value else ""
    return text(value)[:MAX_DETAIL_LENGTH]


def plain(html: Any) -> str:
    """Service-health communications are HTML: their text, tags removed, for an annotation."""
    return re.sub(r"[ \t]+", " ", _TAGS.sub(" ", text(html)).replace("&nbsp;", " "))[:MAX_DETAIL_LENGTH].strip()


def portal_link(*links: str) -> str:
    """The first link into the Azure portal that Alertmanager accepts as ``generatorURL``, else the
    alerts page. Only portal links are taken: a payload value is no place to send an operator elsewhere."""
    for link in links:
        match = _LINK.fullmatch(link) if len(link) <= 4096 else None
        if match and not _BAD_ESCAPE.search(link):
            host, rest = match.groups()
            return f"{host}/{rest.removeprefix('/')}"
    return CONSOLE_URL
