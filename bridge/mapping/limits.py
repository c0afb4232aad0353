"""How big one alert, and one callback, may get: the last step of the mapping.

Too many alarms, dimensions or labels is a 400 (cutting identity would merge distinct objects); a label
value that is too long is cut and marked, and kept whole in an annotation. Annotations are cut to the
byte budgets of the alert and of the callback, rather than refused: a real alarm with a long policy
name must still fire, and only its text is shortened (SECURITY.md, item 3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.mapping.default import clean_value, label_name
from bridge.model import Alarm, Alert, InvalidPayload
from bridge.settings import Settings

CUT_MARK = "…"
"""Ends a label value that was cut to the length limit; the whole value is in ``<label>_full``."""
FULL_SUFFIX = "_full"


class LimitExceeded(InvalidPayload):
    """An alarm has more dimensions or labels than configured (answered 400, like any bad payload)."""


@dataclass(frozen=True)
class Limits:
    """How big one alert may get; see docs/security.md for why each default."""

    max_dimensions: int = 32
    """Dimensions are the object's identity: cutting some would merge distinct objects, so more is a 400."""
    max_labels: int = 40
    """Labels of one alert: the 7 core labels plus ``max_dimensions``, with one to spare."""
    max_label_value_length: int = 1024
    """Characters; a longer value is cut and marked, and kept whole in an annotation."""
    max_alerts_per_callback: int = 100
    """Alarms in one callback; more is a 400, so a single request cannot flood the store."""
    max_alert_bytes: int = 16 << 10
    """UTF-8 bytes of one alert's label and annotation names and values and its URL; annotations are cut
    to fit, labels (identity) over it are a 400. Real alerts take 0.5 to 3 KB."""
    max_callback_bytes: int = 256 << 10
    """The same for all alerts of one callback together, shared out fairly: 100 real Kingsoft conditions
    take about 150 KB, so this binds only on the abuse of issue 19 (1 MB policy name x 100 conditions)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(max_dimensions=settings.max_dimensions, max_labels=settings.max_labels,
                   max_label_value_length=settings.max_label_value_length,
                   max_alerts_per_callback=settings.max_alerts_per_callback,
                   max_alert_bytes=settings.max_alert_bytes, max_callback_bytes=settings.max_callback_bytes)


def check_alarms(alarms: list[Alarm], limits: Limits) -> list[Alarm]:
    """The alarms with texts no alert could keep whole already cut; raise LimitExceeded when a callback
    carries more alarms, or an alarm more dimensions, than allowed."""
    if len(alarms) > limits.max_alerts_per_callback:
        raise LimitExceeded(f"body: {len(alarms)} alarms in one callback, at most {limits.max_alerts_per_callback} "
                            "accepted")
    for alarm in alarms:
        check_dimensions(alarm, limits)
    return [_precut(alarm, limits.max_alert_bytes) for alarm in alarms]


def _precut(alarm: Alarm, limit: int) -> Alarm:
    """Cut every text longer than ``limit`` characters (a character takes a byte at least, so no alert
    could keep it whole) before the mapping copies it around: a 1 MB policy name in 100 alarms must cost
    the work of 100 x ``limit``, not of 100 MB, before the budgets cut it to its share."""
    def cut(value: str) -> str:
        return value if len(value) <= limit else value[: max(0, limit - len(CUT_MARK))] + CUT_MARK

    def cut_all(values: dict[str, str]) -> dict[str, str]:
        return {k: cut(v) for k, v in values.items()} if any(len(v) > limit for v in values.values()) else values

    texts = (alarm.summary, alarm.description, alarm.console_url)
    if max(map(len, texts)) <= limit and cut_all(alarm.details) is alarm.details \
            and cut_all(alarm.dimensions) is alarm.dimensions:
        return alarm
    return replace(alarm, summary=cut(alarm.summary), description=cut(alarm.description),
                   console_url=cut(alarm.console_url), details=cut_all(alarm.details),
                   dimensions=cut_all(alarm.dimensions))


def check_dimensions(alarm: Alarm, limits: Limits) -> None:
    """Raise LimitExceeded when the alarm names its object with more dimensions than allowed."""
    if len(alarm.dimensions) > limits.max_dimensions:
        raise LimitExceeded(f"dimensions: {len(alarm.dimensions)} given, at most {limits.max_dimensions} accepted")


def within_limits(alert: Alert, limits: Limits) -> Alert:
    """The final alert (after any rules) with values made safe to show and long label values cut;
    LimitExceeded for too many labels."""
    labels, annotations = _cleaned(alert.labels, multiline=False), _cleaned(alert.annotations, multiline=True)
    url = clean_value(alert.generator_url)
    if labels is not alert.labels or annotations is not alert.annotations or url != alert.generator_url:
        alert = replace(alert, labels=labels, annotations=annotations, generator_url=url)
    if len(alert.labels) > limits.max_labels:
        raise LimitExceeded(f"labels: the alarm maps to {len(alert.labels)} labels, "
                            f"at most {limits.max_labels} accepted")
    labels, full_values = cut_long_values(alert.labels, limits.max_label_value_length)
    if full_values:  # a `_full` annotation replaces any vendor detail of the same name
        alert = replace(alert, labels=labels, annotations={**alert.annotations, **full_values})
    return within_bytes(alert, limits.max_alert_bytes, "max_alert_bytes")


def within_budget(alerts: list[Alert], limits: Limits) -> list[Alert]:
    """The alerts of one callback cut to ``max_callback_bytes`` together: the annotation values of each get
    a fair share of what the labels leave (what they need, or an equal part of what the smaller ones leave),
    so one huge alert cannot starve the rest; labels over the whole budget are a 400."""
    if sum(map(alert_bytes, alerts)) <= limits.max_callback_bytes:
        return alerts
    fixed = [alert_bytes(alert) - _text_bytes(alert) for alert in alerts]
    if sum(fixed) > limits.max_callback_bytes:
        raise LimitExceeded(f"labels: the callback's alarms map to labels of {sum(fixed)} bytes, at most "
                            f"{limits.max_callback_bytes} accepted (max_callback_bytes)")
    shares = fair_shares([_text_bytes(alert) for alert in alerts], limits.max_callback_bytes - sum(fixed))
    return [within_bytes(alert, size + share, "max_callback_bytes")
            for alert, size, share in zip(alerts, fixed, shares, strict=True)]


def _text_bytes(alert: Alert) -> int:
    """The bytes of the annotation values: what the budgets may cut."""
    return utf8_len("".join(alert.annotations.values()))


MAX_URL_BYTES = 2048
"""A longer generator URL is dropped rather than cut: a cut URL leads nowhere."""


def within_bytes(alert: Alert, budget: int, limit_name: str) -> Alert:
    """The alert with its annotation values cut (fairly, longest first) so that it takes ``budget`` bytes."""
    if alert_bytes(alert) <= budget:
        return alert
    if utf8_len(alert.generator_url) > MAX_URL_BYTES:
        alert = replace(alert, generator_url="")
    fixed = _size(alert.labels) + utf8_len(alert.generator_url) + utf8_len("".join(alert.annotations))
    if fixed > budget:
        raise LimitExceeded(f"labels: the alarm maps to labels of {fixed} bytes, at most {budget} accepted "
                            f"({limit_name})")
    values = [len(v.encode()) for v in alert.annotations.values()]
    shares = fair_shares(values, budget - fixed)
    annotations = {name: cut for (name, value), share in zip(alert.annotations.items(), shares, strict=True)
                   if (cut := cut_bytes(value, share))}
    return replace(alert, annotations=annotations)


def alert_bytes(alert: Alert) -> int:
    """What the budgets count: UTF-8 bytes of label and annotation names and values, and the URL."""
    return _size(alert.labels) + _size(alert.annotations) + utf8_len(alert.generator_url)


def _size(values: dict[str, str]) -> int:
    """UTF-8 bytes of the names and values: of their concatenation, counted in C (twice per alert on every
    callback; a sum over the items cost more than the rest of the limits)."""
    return utf8_len("".join(values)) + utf8_len("".join(values.values()))


def utf8_len(text: str) -> int:
    """``len(text.encode())``, without encoding ASCII (every real label): one byte per character. Raises
    UnicodeEncodeError on a lone surrogate as the encoding would."""
    return len(text) if text.isascii() else len(text.encode())


def fair_shares(sizes: list[int], budget: int) -> list[int]:
    """Max-min fair shares of ``budget``: small items get what they need, the rest split what remains."""
    shares = [0] * len(sizes)
    left, remaining = budget, len(sizes)
    for index in sorted(range(len(sizes)), key=sizes.__getitem__):
        shares[index] = min(sizes[index], max(0, left) // remaining)
        left -= shares[index]
        remaining -= 1
    return shares


def cut_bytes(value: str, limit: int) -> str:
    """``value`` in at most ``limit`` UTF-8 bytes, whole characters, marked with CUT_MARK when cut ("" if
    not even the mark fits)."""
    encoded = value.encode()
    if len(encoded) <= limit:
        return value
    room = limit - len(CUT_MARK.encode())
    if room < 0:
        return ""
    return encoded[:room].decode("utf-8", "ignore") + CUT_MARK


def _cleaned(values: dict[str, str], *, multiline: bool) -> dict[str, str]:
    """Every value made safe to show (bridge.mapping.default.clean_value); a value left empty is dropped.
    ``values`` itself when that changes nothing (the mapping cleaned them already, unless rules set some),
    so that the alert need not be copied."""
    cleaned = {name: text for name, value in values.items() if (text := clean_value(value, multiline=multiline))}
    return values if cleaned == values else cleaned


def cut_long_values(labels: dict[str, str], limit: int) -> tuple[dict[str, str], dict[str, str]]:
    """Cut values longer than ``limit`` characters and mark them; also return the whole values.

    Cutting whole characters (never bytes) keeps the value valid UTF-8. Two values that differ only
    after the cut become one alert, which is why the limit is far above any real vendor value.
    """
    cut: dict[str, str] = {}
    full: dict[str, str] = {}
    for name, value in labels.items():
        if len(value) > limit:
            cut[name] = value[: max(0, limit - len(CUT_MARK))] + CUT_MARK
            full[label_name(name + FULL_SUFFIX)] = value
        else:
            cut[name] = value
    return cut, full
