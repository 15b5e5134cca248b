"""The layering contracts in pyproject.toml ([tool.importlinter]) hold: creps_core never imports
Qt, the explorer's Qt-free modules stay so (directly or not), its model and render layers never
import Qt widgets, its Qt layer never builds an engine, and panels and dialogs never drive the
render worker themselves."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    out = capsys.readouterr().out
    assert code == 0, out
    contracts = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert out.count("KEPT") == contracts, out  # every contract was checked (a renamed module breaks none silently)
