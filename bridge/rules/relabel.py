"""Prometheus relabeling of alert labels (``alert_relabel_configs``).

Relabeling follows Prometheus' ``model/relabel/relabel.go``: the same actions, defaults (separator ``;``,
regex ``(.*)``, replacement ``$1``, action ``replace``), fully anchored regexes, Go's ``$1``/``${name}``
expansion with ``$$`` for a dollar, "an empty value deletes the label", and invalid resulting label names
skipped. Regexes are Python's ``re`` with ASCII classes (``\\d``, ``\\w``, ``\\s`` as in Go's RE2) and, as
in Prometheus 3, ``.`` matching newlines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
"""Alertmanager 0.25's rule for label and annotation names (``model.LabelName.IsValid``, legacy mode)."""
_RELABEL_TARGET = re.compile(r"(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+", re.ASCII)
RESERVED_PREFIX = "__"
"""Labels with this prefix are scratch space for rules (``__tmp_x``) and removed after relabeling."""


class Action(StrEnum):
    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"


DEFAULT_REGEX = "(.*)"
_LEADING_FLAGS = re.compile(r"((?:\(\?[imsx]+\))*)(.*)", re.DOTALL)
DEFAULT_SEPARATOR = ";"
DEFAULT_REPLACEMENT = "$1"


def compile_regex(text: str) -> re.Pattern[str]:
    """Compile as Prometheus 3 does, ``^(?s:regex)$``: anchored at both ends (we use ``fullmatch``), and
    ``.`` matching a newline too (``NewRegexp`` in model/relabel/relabel.go); raise ValueError naming
    the problem."""
    leading = _LEADING_FLAGS.match(text)
    assert leading is not None  # the pattern matches any text
    flags, body = leading.groups()
    try:
        re.compile(text, re.ASCII)  # alone first: errors point at the user's text, and "a)|(b" is refused
        # Python wants global flags such as (?i) first: keep them in front of the anchoring group.
        return re.compile(f"{flags}(?s:{body})", re.ASCII)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {text!r}: {exc}") from None


@dataclass(frozen=True)
class RelabelConfig:
    """One ``alert_relabel_configs`` entry; validated on construction like Prometheus' ``Config.Validate``."""

    source_labels: tuple[str, ...] = ()
    separator: str = DEFAULT_SEPARATOR
    regex: str = DEFAULT_REGEX
    modulus: int = 0
    target_label: str = ""
    replacement: str = DEFAULT_REPLACEMENT
    action: Action = Action.REPLACE
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "pattern", compile_regex(self.regex))
        except ValueError as exc:
            raise ValueError(f"regex: {exc}") from None
        self._validate()

    def _validate(self) -> None:
        """Raise ValueError ``field: problem`` for what Prometheus would refuse (and invalid names)."""
        action, target = self.action, self.target_label
        for name in self.source_labels:
            if not LABEL_NAME.fullmatch(name):
                raise ValueError(f"source_labels: {name!r} is not a valid label name")
        if action is Action.HASHMOD and self.modulus == 0:
            raise ValueError("modulus: hashmod requires a non-zero modulus")
        needs_target = (Action.REPLACE, Action.HASHMOD, Action.LOWERCASE, Action.UPPERCASE, Action.KEEPEQUAL,
                        Action.DROPEQUAL)
        if action in needs_target and not target:
            raise ValueError(f"target_label: required for action {action}")
        elif action in needs_target:
            templated = action is Action.REPLACE and "$" in target
            if not (_RELABEL_TARGET if templated else LABEL_NAME).fullmatch(target):
                raise ValueError(f"target_label: {target!r} is invalid for action {action}")
        if action in (Action.LOWERCASE, Action.UPPERCASE, Action.KEEPEQUAL, Action.DROPEQUAL) and (
                self.replacement != DEFAULT_REPLACEMENT):
            raise ValueError(f"replacement: cannot be set for action {action}")
        if action is Action.LABELMAP and not _RELABEL_TARGET.fullmatch(self.replacement):
            raise ValueError(f"replacement: {self.replacement!r} is invalid for action {action}")
        if action in (Action.KEEPEQUAL, Action.DROPEQUAL) and (
                self.regex != DEFAULT_REGEX or self.modulus or self.separator != DEFAULT_SEPARATOR):
            raise ValueError(f"action: {action} takes only source_labels and target_label")
        if action in (Action.LABELDROP, Action.LABELKEEP) and (
                self.source_labels or target or self.modulus or self.separator != DEFAULT_SEPARATOR
                or self.replacement != DEFAULT_REPLACEMENT):
            raise ValueError(f"action: {action} takes only regex")


def process(labels: Mapping[str, str], configs: Sequence[RelabelConfig]) -> dict[str, str] | None:
    """Prometheus' ``relabel.Process``: apply the configs in order; None if one of them drops the labels."""
    result = dict(labels)
    for config in configs:
        if not _relabel_one(config, result):
            return None
    return result


def relabel(labels: Mapping[str, str], configs: Sequence[RelabelConfig]) -> dict[str, str] | None:
    """:func:`process`, then remove the ``__`` scratch labels (as Prometheus does after target relabeling)."""
    result = process(labels, configs)
    if result is None:
        return None
    return {name: value for name, value in result.items() if not name.startswith(RESERVED_PREFIX)}


def _set(labels: dict[str, str], name: str, value: str) -> None:
    """Set a label; an empty value deletes it (Prometheus' ``labels.Builder.Set``)."""
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)


def _relabel_one(config: RelabelConfig, labels: dict[str, str]) -> bool:
    value = config.separator.join(labels.get(name, "") for name in config.source_labels)
    action, pattern = config.action, config.pattern
    if action is Action.DROP:
        return not pattern.fullmatch(value)
    if action is Action.KEEP:
        return bool(pattern.fullmatch(value))
    if action is Action.DROPEQUAL:
        return labels.get(config.target_label, "") != value
    if action is Action.KEEPEQUAL:
        return labels.get(config.target_label, "") == value
    if action is Action.REPLACE:
        match = pattern.fullmatch(value)
        if match:
            target = expand(config.target_label, match)
            if LABEL_NAME.fullmatch(target):
                _set(labels, target, expand(config.replacement, match))
    elif action is Action.LOWERCASE:
        _set(labels, config.target_label, value.lower())
    elif action is Action.UPPERCASE:
        _set(labels, config.target_label, value.upper())
    elif action is Action.HASHMOD:
        digest = hashlib.md5(value.encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()
        _set(labels, config.target_label, str(int.from_bytes(digest[8:], "big") % config.modulus))
    elif action is Action.LABELMAP:
        for name, label_value in list(labels.items()):
            match = pattern.fullmatch(name)
            if match:
                target = expand(config.replacement, match)
                if LABEL_NAME.fullmatch(target):
                    _set(labels, target, label_value)
    elif action in (Action.LABELDROP, Action.LABELKEEP):
        keep_matching = action is Action.LABELKEEP
        for name in list(labels):
            if bool(pattern.fullmatch(name)) is not keep_matching:
                del labels[name]
    return True


def expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``${name}``; ``$$`` is a ``$``.

    A reference to a missing or unmatched group is empty; a malformed ``$`` stays as it is.
    """
    out: list[str] = []
    rest = template
    while True:
        before, dollar, rest = rest.partition("$")
        out.append(before)
        if not dollar:
            return "".join(out)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        parsed = _extract(rest)
        if parsed is None:
            out.append("$")
            continue
        name, rest = parsed
        out.append(_group(match, name))


def _extract(text: str) -> tuple[str, str] | None:
    """Read a group reference after ``$``: the name and the text after it, or None if malformed."""
    brace = text.startswith("{")
    body = text[1:] if brace else text
    end = 0
    while end < len(body) and (body[end].isalpha() or body[end].isdecimal() or body[end] == "_"):
        end += 1
    if end == 0:
        return None
    if brace:
        if end >= len(body) or body[end] != "}":
            return None
        return body[:end], body[end + 1:]
    return body[:end], body[end:]


def _group(match: re.Match[str], name: str) -> str:
    if name.isascii() and name.isdigit() and not (name.startswith("0") and len(name) > 1) and len(name) <= 8:
        index = int(name)
        return (match.group(index) or "") if index <= match.re.groups else ""
    return (match.group(name) or "") if name in match.re.groupindex else ""
