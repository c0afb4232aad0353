"""Azure Monitor action-group webhooks in the common alert schema (``schemaId: azureMonitorCommonAlertSchema``).

``data.essentials.monitorCondition`` is Fired or Resolved; a Resolved notification repeats the essentials
and context of the alert it ends, so it resolves exactly the alerts that fired. Activity-log, service-
and resource-health alerts never send Resolved (service health ends through ``properties.stage``, resource
health through an ``Available`` status); the readers in :mod:`.signals` decide how each ends. Times are
ISO 8601 in UTC with seven fractional digits. The legacy (non-common) schemas, which the action group
sends unless its webhook action enables the common schema, get a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.model import AlarmState, InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import is_json_type, load_json, obj, text
from bridge.vendors.azure.common import Notice
from bridge.vendors.azure.signals import reader_for

__all__ = ["COMMON_SCHEMA", "ENABLE_COMMON_SCHEMA", "VENDOR", "Azure"]

COMMON_SCHEMA = "azureMonitorCommonAlertSchema"
ENABLE_COMMON_SCHEMA = ("enable the common alert schema on the action group's webhook action (Azure portal: "
                        "Monitor → Alerts → Action groups → the group → Actions → Webhook → "
                        "\"Enable the common alert schema\": Yes)")
LEGACY_SCHEMAS = {"azuremonitormetricalert": "metric alert", "microsoft.insights/activitylogs": "activity log alert",
                  "microsoft.insights/logalert": "log search alert", "aip budget notification": "budget alert"}
"""``schemaId`` values of the older, per-signal webhook payloads (and the budget notification)."""
_LEGACY_LOG_FIELDS = ("AlertRuleName", "WorkspaceId", "SearchQuery")
"""Fields at the top of a legacy log search alert, which has no ``schemaId``."""

_STATES = {"fired": AlarmState.FIRING, "resolved": AlarmState.RESOLVED, "": AlarmState.FIRING}


class Azure:
    name = "azure"

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        if not is_json_type(content_type):
            raise UnsupportedMediaType(f"azure sends application/json, not {content_type}")
        payload = obj(load_json(body, ctx.max_json_depth), "body")
        _require_common_schema(payload)
        data = obj(payload.get("data"), "data")
        essentials = obj(data.get("essentials"), "data.essentials")
        condition = text(essentials.get("monitorCondition"))
        if condition.lower() not in _STATES:
            raise InvalidPayload(f"data.essentials.monitorCondition: must be Fired or Resolved, got {condition[:32]!r}")
        context = data.get("alertContext")
        custom = data.get("customProperties")
        notice = Notice(essentials=essentials, context=context if isinstance(context, dict) else {},
                        custom=custom if isinstance(custom, dict) else {}, ctx=ctx)
        if not notice.rule and not notice.service:
            raise InvalidPayload("data.essentials: alertRule and monitoringService both missing or empty, "
                                 "so the alert has no name")
        alarms = reader_for(notice)(notice, _STATES[condition.lower()])
        return Callback(alarms=alarms, reply={"status": "ok"})

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok"}


def _require_common_schema(payload: dict[str, Any]) -> None:
    """Refuse a body in a legacy schema with a 400 that says how to switch the action group over."""
    schema = text(payload.get("schemaId"))
    if schema.lower() == COMMON_SCHEMA.lower():
        return
    if schema:
        kind = LEGACY_SCHEMAS.get(schema.lower(), "")
        what = f"Azure Monitor's legacy {kind} schema" if kind else "not the common alert schema"
        raise InvalidPayload(f"schemaId: {schema[:64]!r} is {what}; the bridge reads only "
                             f"{COMMON_SCHEMA!r}: {ENABLE_COMMON_SCHEMA}")
    data = payload.get("data")
    if isinstance(data, dict) and isinstance(data.get("essentials"), dict):
        return  # the common schema without its schemaId (hand-made tests): read it
    if any(key in payload for key in _LEGACY_LOG_FIELDS) or (isinstance(data, dict) and "context" in data) \
            or "context" in payload:
        raise InvalidPayload(f"body: a legacy (non-common) Azure Monitor alert schema; {ENABLE_COMMON_SCHEMA}")
    raise InvalidPayload(f"schemaId: missing; Azure Monitor action groups send {COMMON_SCHEMA!r} when you "
                         f"{ENABLE_COMMON_SCHEMA}")


VENDOR = Azure()
