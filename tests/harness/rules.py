"""Mapping rules from a configuration mapping, checked as the configuration file's would be."""

from __future__ import annotations

from bridge.config import ConfigError, rules_from
from bridge.rules import Rules


def rules(data: dict) -> Rules:
    problems: list[str] = []
    result = rules_from(data, "test.yml", "warning", problems)
    if problems:
        raise ConfigError("\n".join(problems))
    return result
