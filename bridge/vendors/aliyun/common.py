"""What the Alibaba shapes share: levels, ARNs, event lifecycles, and JSON that arrives as a string."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.model import Alarm, AlarmState, InvalidPayload
from bridge.vendors import ParseContext
from bridge.vendors._fields import flat_strings, loads_bounded, text, type_name

CONSOLE_URL = "https://cms.console.aliyun.com/"

SEVERITIES = {"CRITICAL": "critical", "WARN": "warning", "WARNING": "warning", "INFO": "info"}
"""CloudMonitor's levels (threshold ``triggerLevel``, event ``level``, push and 2.0 ``severity``)."""

EVENT_TTL = 3600.0
"""How long an event alarm that has no end (``Normal`` state changes, pre-emption notices, agent
heartbeats) stays firing: CloudMonitor never sends anything that ends it, so it resolves itself."""
EVENT_IN_PROGRESS_TTL = 7 * 24 * 3600.0
"""How long an event in progress (``Scheduled``, ``Executing``, ``Inquiring``) stays firing at most: its
``Executed``, ``Avoided`` or ``Canceled`` notification resolves it, this bounds it when none arrives
(a rule that forwards only some of an event's states)."""

EVENT_ENDED = frozenset({"executed", "avoided", "canceled", "cancelled"})
"""Event states that end the event (ECS system events: the reboot, redeployment or disk isolation is
done, bypassed or called off); they resolve the event's alert."""
EVENT_IN_PROGRESS = frozenset({"scheduled", "executing", "inquiring"})
"""Event states after which one of :data:`EVENT_ENDED` follows."""
_LIFECYCLE = EVENT_ENDED | EVENT_IN_PROGRESS | {"failed"}

MAX_DETAIL_LENGTH = 4096
"""Characters of one annotation taken from free-form vendor content (event content, raw JSON)."""
MAX_CONTENT_DETAILS = 32
"""Annotations taken from one free-form object; the rest of it stays in the payload for templates."""


@dataclass(frozen=True)
class Shape:
    """One kind of body Alibaba posts: how to recognise it and how to read it."""

    name: str
    required: tuple[str, ...]
    """The fields that tell this shape apart; the first one missing is named in the 400 when no shape matches."""
    parse: Callable[[dict[str, Any], ParseContext], list[Alarm]]

    def lacking(self, fields: dict[str, Any]) -> str:
        """The first of :attr:`required` that ``fields`` lack (absent, null-like or empty); empty if none."""
        return next((name for name in self.required if not present(fields.get(name))), "")


def present(value: Any) -> bool:
    """A field counts as given when it is a non-empty object or list, or a scalar that is not null-like."""
    return bool(value) if isinstance(value, dict | list) else bool(text(value))


def severity(*levels: Any) -> str:
    """The first level that names a known severity, as a label value; empty (the default) otherwise."""
    for level in levels:
        found = SEVERITIES.get(text(level).upper())
        if found:
            return found
    return ""


def nested(value: Any, where: str, max_depth: int) -> dict[str, Any]:
    """An object that a form field (or a JSON string inside JSON) carries as JSON text; absent is empty."""
    if isinstance(value, dict):
        return value
    raw = text(value)
    if not raw:
        return {}
    if not raw.startswith("{"):
        raise InvalidPayload(f"{where}: must be a JSON object, got {raw[:32]!r}")
    decoded = loads_bounded(raw, where, max_depth)
    if not isinstance(decoded, dict):
        raise InvalidPayload(f"{where}: must be a JSON object, got {type_name(decoded)}")
    return decoded


def lenient_nested(value: Any, where: str, max_depth: int) -> dict[str, Any]:
    """Like :func:`nested` for free-form content (``eventRawContent``): what is not an object is empty.

    It only fills annotations, so content a product shapes its own way must not cost the alarm.
    """
    try:
        return nested(value, where, max_depth)
    except InvalidPayload:
        return {}


EVENT_IDENTITY = frozenset({"instanceId", "arn"})
"""An event alarm's object is its resource; names, IPs and the event's content are annotations."""


def resource_labels(arn: str, *ids: str) -> tuple[dict[str, str], str]:
    """The object labels of an event, and the region its ARN names.

    ``instanceId`` is the first id the event's content gives, else the ARN's resource
    (``acs:ecs:cn-hangzhou:1234:instance/i-bp1`` → ``i-bp1``; a placeholder such as ``<resource-id>``, seen
    in published captures, is no id); threshold alarms label the same object ``instanceId``, so one
    inhibition or silence can cover both. ``arn`` is the ARN itself; a resource id that is no ARN is
    only the ``instanceId``.
    """
    parts = arn.split(":", 4)
    is_arn = len(parts) == 5 and parts[0] == "acs"
    region, resource = (parts[2], parts[4].rpartition("/")[2]) if is_arn else ("", arn)
    instance = next((i for i in ids if i), "") or ("" if resource.startswith("<") else resource)
    labels = {"instanceId": instance, "arn": arn if is_arn else ""}
    return {k: v for k, v in labels.items() if v}, region


def event_name_and_state(name: str, status: str) -> tuple[str, str]:
    """The event's name without a lifecycle suffix, and its state as sent (``Executing``, ``Normal``…).

    ECS names events ``<resource>:<event>:<state>`` (``Instance:SystemFailure.Reboot:Executing``), older
    rules send the state in ``status``. Both become alertname ``Instance:SystemFailure.Reboot`` so that the
    ``Executed`` notification resolves the alert the ``Executing`` one fired.
    """
    base, sep, last = name.rpartition(":")
    if sep and base and last.lower() in _LIFECYCLE:
        return base, last
    return name, status


def event_state(state: str, at: float) -> tuple[AlarmState, float | None]:
    """Firing or resolved, and when a firing event resolves itself."""
    if state.lower() in EVENT_ENDED:
        return AlarmState.RESOLVED, None
    return AlarmState.FIRING, at + (EVENT_IN_PROGRESS_TTL if state.lower() in EVENT_IN_PROGRESS else EVENT_TTL)


def prefixed(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """Free-form vendor content as annotations ``<prefix>_<key>``, one level flattened, long values cut,
    at most :data:`MAX_CONTENT_DETAILS` of them."""
    flat = list(flat_strings(values).items())[:MAX_CONTENT_DETAILS]
    return {f"{prefix}_{key}": value[:MAX_DETAIL_LENGTH] for key, value in flat}


def json_text(value: Any) -> str:
    """A list or object as compact JSON for an annotation; scalars as text; empty ones empty."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))[:MAX_DETAIL_LENGTH] if value else ""
    return text(value)
