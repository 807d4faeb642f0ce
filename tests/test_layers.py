"""The package's layers (docs/code-layout.md): each imports only layers before it, so there is no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "autoq"
# the order of docs/code-layout.md's table
LAYERS = [
    "errors",
    "utils",
    "config",
    "quant",
    "data",
    "models",
    "hardware",
    "engine",
    "runs",
    "train",
    "agents",
    "search",
    "tasks",
    "export",
    "report",
    "cli",
]


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0].removesuffix(".py")


def _imported_layers(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        found |= {name.split(".")[1] for name in names if name.startswith("autoq.")}
    return found


def test_every_layer_is_listed():
    top = {_layer(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert top == set(LAYERS)


def test_no_module_imports_a_later_layer():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer in ("__init__", "__main__"):
            continue
        upward += [f"{path.relative_to(PACKAGE)} imports autoq.{q}" for q in _imported_layers(path) if rank[q] > rank[layer]]
    assert not upward, "\n".join(upward)
