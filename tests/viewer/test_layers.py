"""The explorer's model and render layers use Qt only for QtCore's signals.

import-linter sees an external package only as a whole (PySide6, not PySide6.QtWidgets), so the
contract in pyproject.toml lets the state, the render worker and the jobs import PySide6; this
checks, module by module, that every PySide6 import there is QtCore's."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = [p for layer in ("model", "render") for p in sorted((ROOT / "creps_viewer" / layer).rglob("*.py"))]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "PySide6":  # from PySide6 import QtWidgets
                names.update(f"PySide6.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", LAYERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_model_and_render_layers_import_only_qtcore(path):
    qt = {name for name in imported_modules(path) if name.split(".")[0] in ("PySide6", "pyqtgraph")}
    assert qt <= {"PySide6", "PySide6.QtCore"}, f"{path.name} imports {sorted(qt)}"
