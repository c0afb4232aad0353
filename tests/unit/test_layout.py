"""The package's shape: the pipeline's stages import only downward, and nothing imports in a cycle.

A newcomer finds a stage by its folder (receive: web/, parse: vendors/, map: mapping/ rules/ pipeline.py,
store: store/, deliver: deliver/); this keeps a change from quietly tying a lower stage to a higher one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "bridge"

LAYERS = (
    ("bridge", "bridge.model", "bridge.logs"),
    ("bridge.vendors",),
    ("bridge.verify",),
    ("bridge.options", "bridge.config_file", "bridge.settings", "bridge.discovery"),
    ("bridge.mapping",),
    ("bridge.rules",),
    ("bridge.pipeline", "bridge.store"),
    ("bridge.metrics",),
    ("bridge.deliver", "bridge.reload"),
    ("bridge.web",),
    ("bridge.run",),
    ("bridge.cli",),
)
"""Lowest first: a module may import its own layer and those below it, never one above."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The bridge modules a file imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("bridge"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bridge"):
            found.update(f"{node.module}.{alias.name}" if (PACKAGE.parent / node.module.replace(".", "/") /
                                                           f"{alias.name}.py").exists() else node.module
                         for alias in node.names)
    return found


GRAPH = {module_name(path): imports(path) for path in PACKAGE.rglob("*.py")}


def layer(module: str) -> int:
    for index, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names if name != "bridge"):
            return index
    if module in LAYERS[0]:
        return 0
    raise AssertionError(f"{module} is in no layer of tests/unit/test_layout.py: place it")


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_it_imports_only_its_own_layer_and_those_below(module: str) -> None:
    above = sorted(name for name in GRAPH[module] if layer(name) > layer(module))
    assert not above, f"{module} imports a higher stage: {above}"


def test_no_module_imports_itself_through_others() -> None:
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(GRAPH.get(module, ())):
            target = name if name in GRAPH else name.rpartition(".")[0]
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " → ".join([*path, module, target]))
            if target in GRAPH and target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
