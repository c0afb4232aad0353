"""The one way a callback becomes alerts, for ``serve`` and ``translate`` alike.

Vendor parse (bytes → Alarms), then for each alarm the default mapping, the configuration's rules and
the limits (Alarm → Alert). Calling these two functions, and nothing else, is what makes ``translate``
print exactly what ``serve`` stores.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.mapping.default import to_alert
from bridge.mapping.limits import Limits, check_alarms, within_budget, within_limits
from bridge.model import Alarm, Alert, UnsupportedMediaType
from bridge.rules import Rules
from bridge.settings import Settings
from bridge.vendors import Callback, ParseContext, Vendor


def parse(vendor: Vendor, body: bytes, content_type: str, settings: Settings, now: float) -> Callback:
    """The alarms of one callback body; raise InvalidPayload or UnsupportedMediaType."""
    return vendor.parse(body, content_type, ParseContext(now=now, timezone=settings.timezone,
                                                         max_json_depth=settings.max_json_depth))


FORM = "application/x-www-form-urlencoded"


def parse_pasted(vendor: Vendor, body: bytes, content_type: str | None, settings: Settings, now: float) -> Callback:
    """Parse a saved or pasted payload as ``serve`` would (``translate``, the inspector's "try"). Without a
    content type, a body that is not JSON is tried as a form and, if the vendor takes no forms, as JSON, so
    the error is about the payload, not a type nobody gave."""
    if content_type:  # as serve reads the header (request.mimetype): parameters dropped, lower case
        return parse(vendor, body, content_type.partition(";")[0].strip().lower(), settings, now)
    looks_like_json = body.lstrip()[:1] in (b"{", b"[")
    try:
        return parse(vendor, body, "application/json" if looks_like_json else FORM, settings, now)
    except UnsupportedMediaType:
        return parse(vendor, body, "application/json", settings, now)


def to_alerts(alarms: list[Alarm], rules: Rules, limits: Limits, now: float,
              on_template_error: Callable[[str], None] | None = None) -> list[Alert]:
    """Map alarms through the rules, within the limits; raise InvalidPayload (LimitExceeded) beyond them."""
    alarms = check_alarms(alarms, limits)
    return within_budget([within_limits(rules.apply(to_alert(alarm, rules.mapping, now), alarm, now,
                                                    on_template_error), limits)
                          for alarm in alarms], limits)
