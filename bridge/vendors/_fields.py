"""Lenient readers for the sloppy shapes vendors send: numbers as strings, "null", zone-less times."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from itertools import accumulate
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from bridge.model import AlarmState, InvalidPayload

_ABSENT = {"", "null", "none", "undefined"}


DEFAULT_MAX_JSON_DEPTH = 32
"""Real callbacks nest 4 levels (Tencent ``alarmObjInfo.dimensions.objDetail``); 32 leaves room for
vendor additions and stays far below Python's recursion limit, which ``json.loads`` would hit."""

_STRING = r'"(?:[^"\\]++|\\.)*+"?'
"""A JSON string; an unterminated one runs to the end of the text. Possessive, and never failing once
it has started, so a scan never re-reads text: ``"\\"\\"\\"…`` without a closing quote used to cost
one full re-read per quote, quadratic time (16 KB took a second, 100 KB outlasted the worker timeout)."""
_NOT_A_BRACKET = re.compile(_STRING + r'|[^\[\]{}"]++', re.DOTALL)
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_TRAILING_COMMA = re.compile(_STRING + r"|,(?=[ \t\n\r]*[}\]])", re.DOTALL)


def json_depth(text: str, limit: int) -> int:
    """The deepest nesting of ``[``/``{`` outside strings, counting no further than ``limit + 1``.

    Linear and non-recursive, so it is safe on any input: it runs before ``json.loads``. Strings and all
    but the brackets are dropped by one regex, and the running depth is summed in C: a megabyte of
    brackets took 0.8 s of CPU token by token in Python. Brackets after an unterminated string are not
    counted (``json.loads`` stops there). An excess closer takes the sum below zero, not clamped to it:
    ``json.loads`` stops at that closer, so what follows it is never read.
    """
    brackets = _NOT_A_BRACKET.sub("", text)
    if not brackets:
        return 0
    deepest = max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)))
    return min(limit + 1, max(0, deepest))


def without_trailing_commas(text: str) -> str:
    """Drop each comma (outside strings) that comes right before a ``}`` or ``]``; one linear pass."""
    return _TRAILING_COMMA.sub(lambda m: "" if m.group() == "," else m.group(), text)


def load_json(body: bytes, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """Decode JSON nested at most ``max_depth`` deep, forgiving trailing commas (Kingsoft's sample has one)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidPayload(f"body: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return loads_bounded(text, "body", max_depth)


def loads_bounded(text: str, where: str, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses deep nesting up front instead of recursing into it."""
    if json_depth(text, max_depth) > max_depth:
        raise InvalidPayload(f"{where}: JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:  # only if max_depth was configured near the interpreter's limit
        raise InvalidPayload(f"{where}: JSON nested too deeply") from None
    except ValueError as first_error:
        try:
            return json.loads(without_trailing_commas(text))
        except (ValueError, RecursionError):
            raise InvalidPayload(f"{where}: not valid JSON ({_short(first_error)})") from None


def _short(error: ValueError) -> str:
    """json's message, without echoing a huge input back (ValueError for 5000-digit numbers does)."""
    return str(error)[:200]


JSON_TYPES = frozenset({"application/json", "text/json", "text/plain", ""})
"""Content types a JSON callback may arrive with: vendors do not all label their bodies."""


def is_json_type(content_type: str) -> bool:
    return content_type in JSON_TYPES or (content_type.startswith("application/") and content_type.endswith("+json"))


def obj(value: Any, where: str, *, required: bool = True) -> dict[str, Any]:
    """Read a JSON object; absent means empty unless required."""
    if isinstance(value, dict):
        return value
    if value is None and not required:
        return {}
    if value is None:
        raise InvalidPayload(f"{where}: missing")
    raise InvalidPayload(f"{where}: must be an object, got {type_name(value)}")


def text(value: Any) -> str:
    """A scalar as text; absent, null-like and non-scalar values are empty."""
    if type(value) is str:  # the common case first: this runs for every field of every callback
        result = value.strip()
        return "" if len(result) <= 9 and result.lower() in _ABSENT else result
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    result = str(value).strip()
    return "" if result.lower() in _ABSENT else result


def required_text(value: Any, where: str) -> str:
    result = text(value)
    if not result:
        raise InvalidPayload(f"{where}: missing or empty")
    return result


def number(value: Any) -> float | None:
    """A number given as a number or a numeric string; None when absent or not numeric."""
    raw = text(value)
    try:
        result = float(raw)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


UNPARSED_TIME = "vendor_time_unparsed"
"""Annotation holding vendor times that could not be read: the arrival time stood in for them."""

_SLOPPY_TIME = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(\.\d+)?)?)?")


def epoch(value: Any, where: str, unparsed: dict[str, str]) -> float | None:
    """Unix time in seconds or milliseconds (13 digits); None when absent or zero.

    A time only orders an alarm's changes, so an unreadable one is None too (the caller uses the
    arrival time) and is kept in ``unparsed`` under ``where``: refusing it would leave a recovery
    undelivered and its alert firing for ever.
    """
    result = number(value)
    if result is None:
        if text(value):
            unparsed[where] = text(value)[:128]
        return None
    if result <= 0:
        return None
    return result / 1000.0 if result >= 1e12 else result


def local_time(value: Any, where: str, zone: ZoneInfo, unparsed: dict[str, str]) -> float | None:
    """A vendor datetime like "2017-03-09 07:00:00" (or "2017-3-9 7:00:00") in the vendor's zone.

    "0" or absent is None; so is an unreadable value, kept in ``unparsed`` as :func:`epoch` does.
    """
    raw = text(value)
    if raw in ("", "0"):
        return None
    if re.fullmatch(r"\d{9,13}(\.\d+)?", raw):
        return epoch(raw, where, unparsed)
    parsed = _datetime(raw)
    if parsed is None:
        unparsed[where] = raw[:128]
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.timestamp()


def _datetime(raw: str) -> datetime | None:
    """ISO 8601, or the unpadded form some senders use (single-digit month, day and hour)."""
    try:
        return datetime.fromisoformat(raw.replace("/", "-"))
    except ValueError:
        pass
    match = _SLOPPY_TIME.fullmatch(raw)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        int(float(fraction or 0) * 1e6))
    except ValueError:  # no such date, e.g. month 13
        return None


def unparsed_details(unparsed: dict[str, str]) -> dict[str, str]:
    """The annotation that shows which vendor times were unreadable, e.g. ``recoverTime=2021-13-45``."""
    if not unparsed:
        return {}
    return {UNPARSED_TIME: "; ".join(f"{where}={raw}" for where, raw in unparsed.items())}


class AlarmTimes(TypedDict):
    started_at: float
    event_at: float
    resolved_at: float | None


def dated_once(at: float, state: AlarmState) -> AlarmTimes:
    """The times of a vendor that dates each notification once: that time starts the alarm, orders its
    notifications and, on a recovery, ends it."""
    return {"started_at": at, "event_at": at, "resolved_at": at if state is AlarmState.RESOLVED else None}


def given_details(details: dict[str, str], unparsed: dict[str, str]) -> dict[str, str]:
    """The details a vendor filled in, and which of its times were unreadable."""
    return {**{k: v for k, v in details.items() if v}, **unparsed_details(unparsed)}


def flat_strings(values: dict[str, Any]) -> dict[str, str]:
    """Flatten one level of nested objects into string values, dropping empties.

    A nested key that would overwrite an outer one keeps the outer one and is stored as
    ``<outer key>_<key>`` instead.
    """
    result: dict[str, str] = {}
    nested: list[tuple[str, str, Any]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            nested.extend((str(key), str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            result[str(key)] = encoded if value else ""
        else:
            result[str(key)] = text(value)
    for parent, key, value in nested:
        name = key if key not in result else f"{parent}_{key}"
        result.setdefault(name, text(value) if not isinstance(value, dict | list) else json.dumps(value))
    return {k: v for k, v in result.items() if v}


def type_name(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")
