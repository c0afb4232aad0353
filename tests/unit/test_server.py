"""The ``serve`` supervisor: what it does to the machine it runs on, and when it gives up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge import server


def test_an_operators_metrics_directory_loses_only_the_previous_runs_metrics(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PROMETHEUS_MULTIPROC_DIR=/tmp (or ./data) must not wipe what else lives there."""
    for name in ("counter_41.db", "histogram_41.db", "gauge_livesum_41.db", "bridge.db", "notes.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server.prepare_metrics_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bridge.db", "notes.txt", "sub"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)


def test_without_a_metrics_directory_a_fresh_one_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    server.prepare_metrics_dir()
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.is_dir() and not any(made.iterdir())
    made.rmdir()
