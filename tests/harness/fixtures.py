"""The vendors' sample callbacks in tests/fixtures/<vendor>/ (each folder's SOURCES.md says where they came from)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures"
PAYLOAD_SUFFIXES = frozenset({".json", ".form"})
"""What a sample is: JSON bodies and form bodies. Anything else (SOURCES.md) is about the samples."""


def fixture_bytes(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


def sample_paths(vendor: str = "*") -> list[Path]:
    """Every stored sample body (of one vendor, or of all), in a stable order."""
    return sorted(path for path in FIXTURES.glob(f"{vendor}/*") if path.suffix in PAYLOAD_SUFFIXES)


def content_type(path: Path | str) -> str:
    """The content type a sample is posted with: forms as CloudMonitor posts them, everything else JSON."""
    return "application/x-www-form-urlencoded" if str(path).endswith(".form") else "application/json"
