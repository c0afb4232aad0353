"""Mapping rules from a configuration mapping, checked as the configuration file's would be."""

from __future__ import annotations

from typing import Any

import yaml

from bridge.rules import Rules
from bridge.rules.loading import rules_for
from bridge.settings import Settings


def rules(data: dict[str, Any]) -> Rules:
    """The rules of a file holding ``data``; ConfigError names each problem as ``test.yml: place: problem``."""
    return rules_for(Settings(config_file="test.yml"), yaml.safe_dump(data), check_options=False)
