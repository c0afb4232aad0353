"""What the contract tests' ``make_store`` fixture is: open another handle on the store under test."""

from __future__ import annotations

from collections.abc import Callable

from bridge.store import Store

StoreFactory = Callable[..., Store]
