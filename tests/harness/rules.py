"""Mapping rules from a configuration mapping, checked as the configuration file's would be."""

from __future__ import annotations

from bridge.rules import Rules
from bridge.rules.loading import rules_from
from bridge.settings import ConfigError


def rules(data: dict) -> Rules:
    problems: list[str] = []
    result = rules_from(data, "test.yml", "warning", problems)
    if problems:
        raise ConfigError("\n".join(problems))
    return result
