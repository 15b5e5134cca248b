"""The layering contracts in pyproject.toml ([tool.importlinter]) hold: creps_core never imports
Qt, the frame plan, records and gesture maths are Qt-free (directly or not), and panels and
dialogs never drive the engine themselves."""

from __future__ import annotations

from pathlib import Path

import tomllib
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    out = capsys.readouterr().out
    assert code == 0, out
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    # every contract was checked (a renamed module breaks none silently)
    assert out.count("KEPT") == len(contracts) >= 4, out
