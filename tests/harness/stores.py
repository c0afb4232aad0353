"""What the contract tests' ``make_store`` fixture is (open another handle on the store under test), and
how to break a store for real."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bridge.store import Store

StoreFactory = Callable[..., Store]


def corrupt_sqlite(path: Path) -> None:
    """Overwrite the database, its WAL and its shared-memory index with garbage, in place.

    A store that really fails, even for root (whom ``chmod`` does not stop) and even for connections
    already open (which replacing the file would not reach): every read gets "file is not a database".
    """
    for part in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if part.exists():
            with part.open("r+b") as file:
                file.write(b"garbage!" * (part.stat().st_size // 8 + 1))
