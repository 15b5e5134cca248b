"""``creps convert``: a checkpoint (an official .pkl read safely: no code runs; or any name --network
takes: a URL, ``demo``, ``random``) to the native .safetensors format."""

from __future__ import annotations

import argparse
from pathlib import Path

from creps_core.cli.args import Subcommands, UsageError, add_network, add_outputs, new_parser
from creps_core.io.untrusted import printable


def register(sub: Subcommands) -> None:
    c = new_parser(sub, "convert", "convert an official .pkl to the native .safetensors format")
    c.add_argument("input", metavar="NETWORK", nargs="?", default=None,
                   help="the checkpoint to convert, as --network names it (a path, a URL, demo, random:SEED)")
    c.add_argument("output", metavar="OUT", help="the .safetensors file to write")
    add_network(c)
    add_outputs(c, resumable=False)
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import check_output_folder, checkpoint_name, open_network
    from creps_core.cli.terminal import say
    from creps_core.jobs.outputs import claim, holds_text, replacing_note
    from creps_core.model.checkpoint import NATIVE_FORMAT, convert_to_safetensors

    source = checkpoint_name(args, args.input)
    if source is None:
        raise UsageError("name the checkpoint to convert (NETWORK or --network)")
    dst = Path(args.output)
    if dst.suffix != ".safetensors":
        raise UsageError("the output name must end in .safetensors")
    check_output_folder(dst)
    model = open_network(args, source)
    # an earlier conversion (its metadata names this format) is replaced; the input or another file is kept
    note = replacing_note(claim([(dst, holds_text(NATIVE_FORMAT))], [model.path], args.force), args.force)
    convert_to_safetensors(model, dst)
    print(f"wrote {printable(str(dst))} ({model.num_params:,} parameters, from {printable(model.network)})")
    if note:
        say(f"note: {note}")
    return 0
