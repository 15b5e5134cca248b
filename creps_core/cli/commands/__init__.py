"""One module per ``creps`` subcommand, each a :class:`Command`.

A module's top level imports argparse, the shared option groups and the vocabulary only: every
module is imported to build the parser, so anything heavier (torch, the engine, the jobs) is
imported inside ``run``, when that command is the one that runs.
"""

from __future__ import annotations

import argparse
from typing import Protocol

from creps_core.cli.args import Subcommands


class Command(Protocol):
    """What :mod:`creps_core.cli.main` needs of a subcommand's module."""

    def register(self, sub: Subcommands) -> None:
        """Add the subcommand's parser to ``sub``, with ``run`` as its ``run`` default."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the work; the exit status (errors are raised: main maps them to 1, 2 or 130)."""
