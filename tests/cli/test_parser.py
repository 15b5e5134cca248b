"""The `creps` parser: the shared vocabulary of every subcommand, usage errors, help without torch."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from creps_core.cli.args import HelpFormatter, UsageError, parse_seeds, parse_warp
from creps_core.cli.main import build_parser, main

from .helpers import SUBCOMMANDS


def test_seed_lists_and_warps():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    w = parse_warp("wave:0.05:0.8:3")
    assert (w.name, w.strength, w.radius, w.frequency) == ("wave", 0.05, 0.8, 3.0)
    assert parse_warp("swirl").strength == 1.0
    f = parse_warp("formula:y + 0.1*sin(8*x); x")
    assert f.formula == ("y + 0.1*sin(8*x)", "x") and f.to_warp().kind == "formula"
    for bad in ("formula:y", "formula:;x", "formula"):
        with pytest.raises(UsageError, match="formula:ROW;COL"):
            parse_warp(bad)


@pytest.mark.parametrize("args,message", [
    (["--size", "0x10"], "bad size"),
    (["--size", "abc"], "bad size"),
    (["--seeds", "5-2"], "bad seed list"),
    (["--warp", "twirl:1"], "unknown warp"),
    (["--warp", "swirl:1:0"], "radius"),
    (["--center", "0.5"], "bad pair"),
    (["--zoom", "-1"], "positive"),
    (["--precision", "fp64"], "invalid choice"),
    (["--warp-quality", "best"], "invalid choice: 'best'"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, ckpt, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--network", str(ckpt), "--outdir", str(tmp_path / "o"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["render", "export", "video", "lines", "bench"])
def test_warp_quality_is_one_option_and_exact_its_older_spelling(command):
    out = ["out.tif"] if command == "export" else []
    parse = build_parser().parse_args
    assert parse([command, *out, "--warp-quality", "draft"]).warp_quality == "draft"
    assert parse([command, *out, "--exact"]).warp_quality == "exact"


# ----- one vocabulary ---------------------------------------------------------------------------
def _options(command: str) -> dict[str, object]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    parser = sub.choices[command]
    return {s: a for a in parser._actions for s in a.option_strings}


SHARED = {  # option -> (value format shown to the user, or None for a choice list)
    "--network": "PATH", "--seeds": "SEEDS", "--trunc": "PSI", "--trunc-cutoff": "N", "--class": "N",
    "--size": "WxH", "--center": "U,V", "--zoom": "Z", "--rotate": "DEG", "--warp": "NAME[:S[:R[:F]]]",
    "--precision": None, "--device": "DEVICE", "--noise-mode": None, "--translate": "X,Y",
    "--direction": "FILE:INDEX:AMOUNT[:LAYERS]", "--mix": "SEED:LAYERS", "--ws": "FILE.npz", "--grid": "CxR",
    "--warp-quality": None, "--exact": None,
}


LATENT_FILES = {"--direction", "--mix", "--ws"}


USES = {  # which shared options each subcommand takes
    "render": set(SHARED),
    "export": set(SHARED) - {"--grid"},
    "video": set(SHARED),
    "directions": {"--network"},
    "lines": set(SHARED) - {"--grid"},  # one picture per seed and block: no grid
    "bench": set(SHARED) - LATENT_FILES - {"--grid"},
    "info": {"--network"},
    "convert": {"--network"},
    "consistency": {"--network", "--seeds", "--trunc", "--trunc-cutoff", "--class", "--device"},
    "train": {"--device"},
    "demo-data": set(),
    "project": {"--network", "--class", "--device", "--size"},
}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_speaks_the_same_vocabulary(command, capsys):
    options = _options(command)
    reference = _options("render")
    for name in USES[command]:
        assert name in options, f"creps {command} lacks {name}"
        mine, ref = options[name], reference[name]
        assert mine.metavar == ref.metavar == SHARED[name] and mine.type is ref.type and mine.choices == ref.choices
        assert mine.dest == ref.dest
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: creps {command}")
    shown = HelpFormatter(f"creps {command}")
    for action in set(options.values()):
        assert action.help, f"{command} {action.option_strings} has no help"
        if action.nargs == 0:  # switches (--help, --json, --loop ...) are off unless given
            continue
        assert "default" in shown._get_help_string(action) or action.required, \
            f"{command} {action.option_strings} shows no default"


def test_help_and_version_answer_without_importing_torch():
    code = ("import sys\nfrom creps_core.cli.main import main\n"
            "for argv in (['--help'], ['render', '--help'], ['video', '--help'], ['--version']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0, argv\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import on --help'\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "creps-explorer " in run.stdout


# ----- one module per subcommand ------------------------------------------------------------------
def test_each_subcommand_is_one_module_that_registers_its_parser_and_runs_it():
    import argparse

    from creps_core.cli.main import COMMANDS

    names = []
    for module in COMMANDS:
        sub = argparse.ArgumentParser().add_subparsers()
        module.register(sub)
        (name, parser), = sub.choices.items()  # exactly one subcommand per module
        assert parser.get_default("run") is module.run, name
        assert module.__name__ == f"creps_core.cli.commands.{name.replace('-', '_')}"
        names.append(name)
    assert tuple(names) == SUBCOMMANDS  # in the order `creps --help` lists them


def test_every_subcommand_parses_without_importing_torch():
    code = ("import sys\nfrom creps_core.cli.main import main\n"
            f"for name in {SUBCOMMANDS!r}:\n"
            "    try:\n        main([name, '--help'])\n    except SystemExit as e:\n        assert e.code == 0, name\n"
            "heavy = {'torch', 'numpy', 'creps_core.render.engine'} & set(sys.modules)\n"
            "assert not heavy, heavy\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_python_m_creps_core_cli_and_the_console_script_are_the_same_command():
    run = subprocess.run([sys.executable, "-m", "creps_core.cli", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("creps-explorer "), run.stderr
    run = subprocess.run([sys.executable, "-m", "creps_core.cli", "render", "--zoom", "-1"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "positive" in run.stderr
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    module, _, function = pyproject["project"]["scripts"]["creps"].partition(":")
    assert getattr(importlib.import_module(module), function) is main
