"""Why an SQLite store cannot be opened, in the operator's words (the CLI tests provoke what root can)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from bridge.store import StoreError
from bridge.store.sqlite import SqliteStore
from bridge.store.sqlite_paths import unusable_directory


@pytest.mark.parametrize(("errno_", "cause"), [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied")])
def test_the_causes_root_cannot_provoke_are_named_too(errno_: int, cause: str) -> None:
    """Tests run as root in CI, where neither a read-only nor a forbidden directory stops a mkdir."""
    assert cause in unusable_directory(OSError(errno_, "x", "data"))


def test_a_store_path_that_is_a_directory_says_so(tmp_path: Path) -> None:
    (tmp_path / "bridge.db").mkdir()
    with pytest.raises(StoreError, match=r"unable to open database file \(.*bridge.db is a directory\)"):
        SqliteStore(tmp_path / "bridge.db")
