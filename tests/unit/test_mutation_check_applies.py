"""Every mutation of tests/mutation_check.py still applies: its text occurs exactly once in its module.

The check itself takes minutes and runs on demand; this runs in the fast layer, so that a refactor which
moves the mutated line makes a test fail here instead of the mutation silently testing nothing."""

from __future__ import annotations

import pytest

from tests.mutation_check import MUTATIONS, ROOT, Mutation


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_mutation_applies_to_exactly_one_place(mutation: Mutation) -> None:
    occurrences = (ROOT / mutation.path).read_text().count(mutation.old)
    assert occurrences == 1, f"{mutation.name}: {mutation.path} has its text {occurrences} times, not once"


def test_mutation_names_are_unique() -> None:
    names = [m.name for m in MUTATIONS]
    assert len(names) == len(set(names))
