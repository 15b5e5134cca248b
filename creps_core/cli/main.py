"""The ``creps`` command: its parser, assembled from one module per subcommand, and how it exits.

Each module in :data:`COMMANDS` has ``register(subparsers)``, which adds its parser (options from
the shared groups of :mod:`creps_core.cli.args`) and names its ``run`` as the handler, and
``run(args) -> int``, which does the work.  The modules import torch and the engine only inside
``run``, so ``creps --help`` answers without importing them.  Adding a subcommand is adding a
module to the list.

Exit status: 0 done, 1 an error (one line on stderr; ``--debug`` shows the traceback),
2 a usage error, 130 interrupted (Ctrl-C or SIGTERM; partial files are cleaned up or kept
for a resume, as the command says).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from types import FrameType

from creps_core import __version__
from creps_core.cli.args import HelpFormatter, UsageError
from creps_core.cli.commands import (
    Command,
    bench,
    consistency,
    convert,
    demo_data,
    directions,
    export,
    info,
    lines,
    project,
    render,
    train,
    video,
)
from creps_core.io.untrusted import printable

COMMANDS: tuple[Command, ...] = (render, export, video, project, directions, lines, bench, info, convert, train,
                                 demo_data, consistency)
"""The subcommands, in the order ``creps --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="creps", formatter_class=HelpFormatter,
                                description="CREPS Explorer command line: render, export and film CREPS "
                                            "generators at any scale, zoom, rotation or warp.")
    p.add_argument("--version", action="version", version=f"creps-explorer {__version__}")
    p.add_argument("--debug", action="store_true", default=False, help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return p


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM behaves like Ctrl-C, so every cleanup on the way out runs."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    """Signal handlers can only be set from the main thread; main may be called from any."""
    return threading.current_thread() is threading.main_thread()


def _run(args: argparse.Namespace) -> int:
    name = f"creps {args.command}"
    try:
        return int(args.run(args) or 0)
    except UsageError as e:
        print(f"{name}: error: {printable(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        note = getattr(args, "interrupt_note", "")
        print(f"{name}: interrupted" + (f"; {note}" if note else ""), file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug:
            raise
        print(f"{name}: error: {_describe(e)}", file=sys.stderr)
        return 1


def _describe(e: BaseException) -> str:
    """One line a user can act on; names from files in it are printed, never obeyed by the terminal."""
    if isinstance(e, OSError) and e.strerror:
        where = f": {e.filename}" if e.filename else ""
        return printable(f"{e.strerror}{where}")
    if isinstance(e, MemoryError):
        return "out of memory: choose a smaller size (creps export renders any size in tiles)"
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(str(e).split())) or type(e).__name__  # no addresses
    text = printable(text)
    known = ("CheckpointError", "ValueError", "LatentFileError", "DatasetError", "DiskFullError", "FileNotFoundError",
             "UnsafePickleError", "RuntimeError", "ConnectionError", "DownloadError")
    return text if type(e).__name__ in known else f"{type(e).__name__}: {text} (run with --debug for details)"

