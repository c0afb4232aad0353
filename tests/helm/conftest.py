"""Fixtures for the chart tests: the chart, rendered with Helm's own engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import helm_python as helm
import pytest

from tests.helm.helmkit import CHART_DIR, NAMESPACE, RELEASE, Rendered


@pytest.fixture(scope="session")
def chart():
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def render(chart) -> Callable[..., Rendered]:
    """Render the chart as `helm install` would; raises helm.HelmError when refused."""

    def _render(values: dict[str, Any] | None = None) -> Rendered:
        return Rendered(chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True))

    return _render
