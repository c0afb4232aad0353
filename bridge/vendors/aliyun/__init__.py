"""Alibaba Cloud CloudMonitor callbacks, in every shape CloudMonitor posts to one URL.

One endpoint receives them all, so each body is matched against the shapes in turn (by the fields that
tell them apart) and read by the first that fits: the threshold alarm callback (:mod:`.threshold`), the
notification-policy / event-subscription push (:mod:`.push`), the CloudMonitor 2.0 webhook
(:mod:`.cms2`) and the event-rule callback (:mod:`.events`). A body that fits none gets a 400 naming
each shape and the field it lacked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from bridge.model import InvalidPayload, UnsupportedMediaType
from bridge.vendors import Callback, ParseContext
from bridge.vendors._fields import is_json_type, load_json, obj
from bridge.vendors.aliyun import cms2, events, push, threshold
from bridge.vendors.aliyun.threshold import parse_dimensions

__all__ = ["SHAPES", "VENDOR", "Aliyun", "parse_dimensions"]

FORM_TYPE = "application/x-www-form-urlencoded"
SHAPES = (threshold.SHAPE, push.SHAPE, cms2.SHAPE, events.SHAPE)
"""Tried in this order; the fields each requires are disjoint in every known body."""
_SECRET_FIELDS = frozenset({"signature"})


class Aliyun:
    name = "aliyun"

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        fields = _decode(body, content_type, ctx.max_json_depth)
        for shape in SHAPES:
            if not shape.lacking(fields):
                return Callback(alarms=shape.parse(fields, ctx), reply={"status": "ok"})
        tried = "; ".join(f"{shape.name} ({shape.lacking(fields)}: missing or empty)" for shape in SHAPES)
        raise InvalidPayload(f"body: no Alibaba CloudMonitor callback shape matches; tried {tried}")

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"status": "ok"}


def _decode(body: bytes, content_type: str, max_depth: int) -> dict[str, Any]:
    if content_type == FORM_TYPE:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                              max_num_fields=1000)
        except UnicodeDecodeError:
            raise InvalidPayload("body: form data is not valid UTF-8") from None
        except ValueError as exc:
            raise InvalidPayload(f"body: {exc}") from None
        fields: dict[str, Any] = dict(pairs)
    elif is_json_type(content_type):
        fields = obj(load_json(body, max_depth), "body")
    else:
        raise UnsupportedMediaType(f"aliyun sends {FORM_TYPE} or application/json, not {content_type}")
    for secret in _SECRET_FIELDS:
        fields.pop(secret, None)
    return fields


VENDOR = Aliyun()
