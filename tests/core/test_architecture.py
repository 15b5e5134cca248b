"""The layering contracts in pyproject.toml ([tool.importlinter]) hold: creps_core never imports
Qt, the explorer's Qt-free modules stay so (directly or not), its model and render layers never
import Qt widgets, its Qt layer never builds an engine, and panels and dialogs never drive the
render worker themselves."""

from __future__ import annotations

import ast
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    out = capsys.readouterr().out
    assert code == 0, out
    contracts = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    # every contract was checked (a renamed module breaks none silently)
    assert out.count("KEPT") == contracts >= 6, out


def _type_only_lines(module: str) -> set[int]:
    """Lines of ``module`` inside ``if TYPE_CHECKING:`` blocks: imports for annotations, not run."""
    path = ROOT.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    lines: set[int] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def test_no_module_imports_itself_through_others():
    """No import circle anywhere in the packages (a circle makes the layers meaningless and the
    import order fragile). Imports made only for type annotations do not run, so they don't count."""
    import grimp

    graph = grimp.build_graph("creps_core", "creps_viewer", cache_dir=None)
    imports: dict[str, set[str]] = {}
    for module in graph.modules:
        type_only = _type_only_lines(module)
        imports[module] = {target for target in graph.find_modules_directly_imported_by(module)
                           if any(d["line_number"] not in type_only
                                  for d in graph.get_import_details(importer=module, imported=target))}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(imports.get(module, ())):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph.modules):
        if module not in state:
            visit(module, [module])
    assert not circles, circles
