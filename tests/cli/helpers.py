"""Helpers of the `creps` command-line tests."""

from __future__ import annotations

from creps_core.cli.main import main

SUBCOMMANDS = ("render", "export", "video", "project", "directions", "lines", "bench", "info", "convert", "train",
               "demo-data", "consistency")


def exit_code(argv: list[str]) -> int:
    """What the shell would see: main's return value, or argparse's exit status."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code
