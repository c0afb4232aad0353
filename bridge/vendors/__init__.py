"""Vendor adapters: bytes of a callback in, vendor-neutral :class:`~bridge.model.Alarm` s out.

Every module in this package that defines ``VENDOR`` is registered under ``VENDOR.name``, so a new
vendor is one new file (plus its tests). Adapters import nothing from Flask and fetch nothing. A vendor
whose callbacks are signed pushes (AWS SNS, Huawei SMN) says so with an attribute ``signed_by`` naming
its scheme in :mod:`bridge.verify`; serve checks every body's signature before ``parse`` sees it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bridge.model import Alarm


@dataclass(frozen=True)
class ParseContext:
    """What parsing needs besides the body: the clock, the vendor's time zone and the JSON depth limit."""

    now: float
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    max_json_depth: int = 32


@dataclass(frozen=True)
class Callback:
    """A parsed callback: the alarms it carries and the body to answer the vendor with."""

    alarms: list[Alarm]
    reply: dict[str, Any]
    ignored: str = ""
    """Why a well-formed callback carries no alarm (an SNS message that is not a CloudWatch alarm): it is
    answered 2xx with ``reply``, logged and counted as ``ignored``, and nothing is stored."""


class Vendor(Protocol):
    name: str

    def parse(self, body: bytes, content_type: str, ctx: ParseContext) -> Callback:
        """Parse one callback body; raise InvalidPayload or UnsupportedMediaType."""
        ...

    def empty_reply(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The answer to a URL check (GET, HEAD, or an empty POST)."""
        ...


def _discover() -> dict[str, Vendor]:
    found: dict[str, Vendor] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        vendor = getattr(module, "VENDOR", None)
        if vendor is not None:
            found[vendor.name] = vendor
    return dict(sorted(found.items()))


VENDORS: dict[str, Vendor] = _discover()
