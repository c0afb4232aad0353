"""The ``serve`` supervisor: what it does to the machine it runs on, and when it gives up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import values

from bridge.deliver.target import TargetLoop
from bridge.run import supervisor as server
from bridge.settings import Settings


@pytest.fixture(autouse=True)
def _metrics_mode_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare_metrics_dir switches this process to multiprocess files; other tests count in memory."""
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)


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
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # recorded, so the directory set below is unset after
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    server.prepare_metrics_dir()
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.is_dir() and not any(made.iterdir())
    made.rmdir()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_serve_exits_non_zero_when_a_delivery_thread_dies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Otherwise callbacks are still acknowledged, /-/healthy answers, and nothing reaches Alertmanager."""
    real_popen = subprocess.Popen
    webs: list[subprocess.Popen] = []

    def fake_web(*_args: object, **_kwargs: object) -> subprocess.Popen:
        webs.append(real_popen([sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(60)"],
                               stdin=subprocess.PIPE))
        return webs[-1]

    def crash(_loop: object) -> None:
        raise RuntimeError("a bug that escaped the loop")

    monkeypatch.setattr(server.subprocess, "Popen", fake_web)
    monkeypatch.setattr(server.signal, "signal", lambda *_: None)  # leave pytest's handlers alone
    monkeypatch.setattr(TargetLoop, "run", crash)
    settings = Settings(store=f"sqlite:///{tmp_path}/bridge.db", listen="127.0.0.1:0", shutdown_timeout=5)
    assert server.serve(settings) == 1
    assert webs[0].poll() is not None  # the web tier was stopped too
    assert any(getattr(r, "reason", "") == "the deliver http://127.0.0.1:9093 thread died" for r in caplog.records)
