"""The mapping rules of a configuration file: the one check for start, reload, check-config and translate.

Two entry points, one check (:func:`_check_file`), so a file a reload accepts is never one the next start
refuses: :func:`load_settings` for what ``serve``, ``check-config`` and ``translate`` start with (the
settings, the file's rules checked with them), and :func:`rules_for` for the rules of a file again (a
reload, a worker taking the text its master checked). Each problem names its place in the file.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from bridge.config_file import ConfigError, parse_text, read_text, yaml_text
from bridge.rules import Rules
from bridge.rules.relabel import LABEL_NAME, RESERVED_PREFIX, Action, RelabelConfig
from bridge.rules.templates import AnnotationTemplate
from bridge.settings import Settings, check_file_options, load
from bridge.vendors import VENDORS

_RELABEL_KEYS = ("source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action")


def load_settings(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """The settings ``serve`` starts with, the file's rules checked with them: every problem at once."""
    return load(args, env, check_file=_check_file)


def load_with_rules(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None, *,
                    only: frozenset[str] | None = None) -> tuple[Settings, Rules]:
    """The settings and the rules they were checked with, from one reading of the file (``check-config``,
    ``translate``); ``only`` as for :func:`bridge.settings.load`."""
    checked: list[Rules] = []

    def check_file(data: Mapping[str, Any], path: str, default_severity: str | None, severity_from: str,
                   problems: list[str]) -> Rules:
        checked.append(_check_file(data, path, default_severity, severity_from, problems))
        return checked[-1]

    settings = load(args, env, check_file=check_file, only=only)
    return settings, checked[0] if checked else Rules(default_severity=settings.default_severity)


def rules_for(settings: Settings, text: str | None = None, *, check_options: bool = True) -> Rules:
    """The rules of the settings' configuration file (the defaults without one); raise ConfigError
    listing every problem.

    ``text`` is the file's text when the caller has read it already (what was checked is exactly what
    applies). ``check_options=False`` skips the other options, for a text already accepted: they may
    name secret files, and whether those are readable now must not change the rules.
    """
    if not settings.config_file:
        return Rules(default_severity=settings.default_severity)
    path = settings.config_file
    data = parse_text(read_text(path) if text is None else text, path)
    problems: list[str] = []
    if check_options:
        check_file_options(data, path, problems)
    rules = _check_file(data, path, settings.default_severity, settings.default_severity_from, problems)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(dict.fromkeys(problems)))
    return rules


def _check_file(data: Mapping[str, Any], path: str, default_severity: str | None, severity_from: str,
               problems: list[str]) -> Rules:
    """Check the rules of a parsed file, appending ``FILE: place: problem`` for each problem.

    ``default_severity`` (the resolved option; None: the file's ``default_severity``) applies when the
    file sets no ``severity.default``; ``severity_from`` names the flag or variable that set it, if one did.
    """
    _severity_conflict(data, path, severity_from, problems)
    return _rules_from(data, path, _fallback_severity(data, default_severity), problems)


def _severity_conflict(data: Mapping[str, Any], path: str, severity_from: str, problems: list[str]) -> None:
    """Two settings for one thing: refuse rather than let one of them be silently ignored."""
    severity = data.get("severity")
    if not isinstance(severity, dict) or severity.get("default") is None:
        return
    source = severity_from or (f"{path}: default_severity" if data.get("default_severity") else "")
    if source:
        problems.append(f"{path}: severity.default: conflicts with {source}; set only one")


def _fallback_severity(data: Mapping[str, Any], default_severity: str | None) -> str:
    return default_severity or yaml_text(data.get("default_severity")) or Settings.default_severity


def _rules_from(data: Mapping[str, Any], path: str, default_severity: str, problems: list[str]) -> Rules:
    """Build the rules from a parsed file, appending ``FILE: place: problem`` for each problem."""
    def problem(place: str, message: str) -> None:
        problems.append(f"{path}: {place}: {message}")

    severity = _mapping(data.get("severity"), "severity", problem)
    for key in sorted(set(severity) - {"default", "vendors"}):
        problem(f"severity.{key}", "unknown key; known: default, vendors")
    by_vendor = {vendor: yaml_text(value) for vendor, value in _mapping(
        severity.get("vendors"), "severity.vendors", problem).items()}
    vendor_rules: dict[str, tuple[RelabelConfig, ...]] = {}
    for vendor, raw in _mapping(data.get("vendors"), "vendors", problem).items():
        entry = _mapping(raw, f"vendors.{vendor}", problem)
        for key in sorted(set(entry) - {"alert_relabel_configs"}):
            problem(f"vendors.{vendor}.{key}", "unknown key; known: alert_relabel_configs")
        vendor_rules[vendor] = _relabel_configs(entry.get("alert_relabel_configs"),
                                                f"vendors.{vendor}.alert_relabel_configs", problem)
    for vendor in sorted((set(by_vendor) | set(vendor_rules)) - set(VENDORS)):
        where = "severity.vendors" if vendor in by_vendor else "vendors"
        problem(f"{where}.{vendor}", f"unknown vendor; known: {', '.join(VENDORS)}")
    for vendor, value in by_vendor.items():
        if not value:
            problem(f"severity.vendors.{vendor}", "must be a non-empty string")
    default = severity.get("default")
    if default is not None and not yaml_text(default):
        problem("severity.default", "must be a non-empty string")
    return Rules(
        default_severity=yaml_text(default) or default_severity,
        severity_by_vendor=by_vendor,
        external_labels=_external_labels(data.get("external_labels"), problem),
        relabel_configs=_relabel_configs(data.get("alert_relabel_configs"), "alert_relabel_configs", problem),
        vendor_relabel_configs=vendor_rules,
        annotation_templates=_templates(data.get("annotation_templates"), problem),
    )


def _mapping(value: Any, place: str, problem: Callable[[str, str], None]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem(place, f"must be a mapping, got {type(value).__name__}")
        return {}
    return {str(k): v for k, v in value.items()}


def _external_labels(value: Any, problem: Callable[[str, str], None]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for name, raw in _mapping(value, "external_labels", problem).items():
        if not LABEL_NAME.fullmatch(name) or name.startswith(RESERVED_PREFIX):
            problem(f"external_labels.{name}", "not a valid label name (use [a-zA-Z_][a-zA-Z0-9_]*, not __*)")
        elif isinstance(raw, dict | list) or not yaml_text(raw):
            problem(f"external_labels.{name}", "the value must be a non-empty string")
        else:
            labels[name] = yaml_text(raw)
    return labels


def _templates(value: Any, problem: Callable[[str, str], None]) -> tuple[AnnotationTemplate, ...]:
    templates = []
    for name, source in _mapping(value, "annotation_templates", problem).items():
        if not isinstance(source, str):
            problem(f"annotation_templates.{name}", "must be a string (a Jinja2 template)")
            continue
        try:
            templates.append(AnnotationTemplate(name, source))
        except ValueError as exc:
            problem(f"annotation_templates.{name}", str(exc))
    return tuple(templates)


def _relabel_configs(value: Any, place: str, problem: Callable[[str, str], None]) -> tuple[RelabelConfig, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problem(place, "must be a list of relabel configs")
        return ()
    configs = []
    for index, raw in enumerate(value):
        where = f"{place}[{index}]"
        try:
            configs.append(_relabel_config(raw))
        except ValueError as exc:
            field_name, sep, message = str(exc).partition(": ")
            if sep and field_name in _RELABEL_KEYS:
                problem(f"{where}.{field_name}", message)
            else:
                problem(where, str(exc))
    return tuple(configs)


def _relabel_config(raw: Any) -> RelabelConfig:
    """One relabel config from YAML; raise ValueError ``field: problem``."""
    if not isinstance(raw, dict):
        raise ValueError("each relabel config must be a mapping")
    unknown = sorted(set(map(str, raw)) - set(_RELABEL_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(_RELABEL_KEYS)}")
    given = {key: value for key, value in raw.items() if value is not None}
    kwargs: dict[str, Any] = {}
    if "source_labels" in given:
        labels = given["source_labels"]
        if not isinstance(labels, list) or any(isinstance(x, dict | list) for x in labels):
            raise ValueError("source_labels: must be a list of label names")
        kwargs["source_labels"] = tuple(yaml_text(x) for x in labels)
    for key in ("separator", "regex", "target_label", "replacement"):
        if key in given:
            if isinstance(given[key], dict | list):
                raise ValueError(f"{key}: must be a string")
            kwargs[key] = yaml_text(given[key])
    if "modulus" in given:
        modulus = given["modulus"]
        if isinstance(modulus, bool) or not isinstance(modulus, int) or modulus < 0:
            raise ValueError("modulus: must be a non-negative integer")
        kwargs["modulus"] = modulus
    if "action" in given:
        action = yaml_text(given["action"]).lower()
        if not action:
            raise ValueError("action: cannot be empty")
        if action not in set(Action):
            raise ValueError(f"action: unknown relabel action {given['action']!r}; known: {', '.join(Action)}")
        kwargs["action"] = Action(action)
    return RelabelConfig(**kwargs)
