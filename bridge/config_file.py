"""The configuration file as text and YAML: read, parsed, and its errors told without quoting it.

Split from :mod:`bridge.settings` so that what may leak a secret (a typo makes a password part of the
YAML parser's message) sits in one small place. Settings and the rules loader both read files through it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bridge.options import OPTIONS, file_key


class ConfigError(ValueError):
    """The configuration is invalid; the message lists every problem."""


RULE_KEYS = ("external_labels", "alert_relabel_configs", "vendors", "annotation_templates", "severity")
"""Top-level keys of the configuration file that hold mapping rules (read by bridge.rules.loading)."""


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def parse_text(text: str, path: str) -> dict[str, Any]:
    """The option mapping of a configuration file's text; ``path`` names it in errors."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of option names")
    if "token" in data and "tokens" not in data:  # one token or a list, under either name
        data["tokens"] = data.pop("token")
    allowed = {file_key(o.name) for o in OPTIONS} | {"alertmanagers"} | set(RULE_KEYS)
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return data


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" r'|"(?:[^"\\]|\\.)*"')
_HARMLESS_QUOTE = re.compile(r"""'<[a-z ]+>'|'\\[a-z0-9]+'|'[^\w\s'\\]'""")
"""Quoted text that cannot be a secret's: a token's name ('<scalar>'), an escaped character ('\\t'),
one punctuation character (':')."""


def yaml_problem(error: yaml.YAMLError) -> str:
    """What is wrong and where, without the text around it: PyYAML quotes the offending line, and a typo
    such as an unclosed quote makes that line a password or a token (SECURITY.md, item 5). Its messages
    also quote file text (an alias, a tag, an anchor: ``password: *AM-PASSWORD-123``): such quotes are
    replaced, keeping only token names and single characters."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return type(error).__name__
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    started = error.context_mark if error.context and error.context_mark is not mark else None
    context = f"{error.context} (from line {started.line + 1}, column {started.column + 1})" if started \
        else error.context
    return where + "; ".join(_unquoted(part) for part in (context, error.problem) if part)


def _unquoted(message: str) -> str:
    return _QUOTED.sub(lambda m: m[0] if _HARMLESS_QUOTE.fullmatch(m[0]) else "(text omitted)", message)


def yaml_text(value: Any) -> str:
    """A YAML scalar as Go's YAML would read it into a string (``true``, not ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
