"""The vendors' sample callbacks in tests/fixtures/<vendor>/."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures"


SOURCES = "SOURCES.md"
"""Each vendor directory's note of where its samples came from: not a sample."""


def sample_paths() -> list[Path]:
    """Every stored vendor sample, by path (``<vendor>/<name>``), in a stable order."""
    return sorted(path for path in FIXTURES.glob("*/*") if path.is_file() and path.name != SOURCES)


def fixture_bytes(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()
