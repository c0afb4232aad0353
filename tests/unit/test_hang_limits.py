"""A test that hangs must fail within its limit, not hold CI until the job's (issue 22 item 5, review item 5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness.processes import in_child

ROOT = Path(__file__).resolve().parents[2]

HANGING_PROPERTY = '''
import time
from hypothesis import given, strategies as st

@given(st.integers())
def test_hangs(n):
    time.sleep(3600)
'''


def test_a_hanging_hypothesis_test_is_stopped_by_the_configured_timeout(tmp_path: Path) -> None:
    """With pytest-timeout's signal method Hypothesis catches the timeout and replays the example, which
    hangs again with no timer left: the run never ends. The project's settings must stop it."""
    (tmp_path / "test_hangs.py").write_text(HANGING_PROPERTY)
    started = time.monotonic()
    try:
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path), "-o", "timeout=1",
                              str(tmp_path / "test_hangs.py")], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a hanging Hypothesis test ran on past its 1 s timeout (killed after 30 s)")
    assert run.returncode != 0
    assert "Timeout" in run.stdout + run.stderr
    assert time.monotonic() - started < 30


def test_a_child_that_dies_says_so_at_once_with_its_exit_code() -> None:
    """Not a wait for the whole timeout, then a misleading "still running"."""
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"died without answering \(exit code 3\)"):
        in_child(lambda: os._exit(3), timeout=20)
    assert time.monotonic() - started < 10
