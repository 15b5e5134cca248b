"""``creps convert``: an official .pkl (read safely: no code runs) to the native .safetensors format."""

from __future__ import annotations

import argparse
from pathlib import Path

from creps_core.cli.args import Subcommands, UsageError, add_network, new_parser
from creps_core.io.untrusted import printable


def register(sub: Subcommands) -> None:
    c = new_parser(sub, "convert", "convert an official .pkl to the native .safetensors format")
    c.add_argument("input", metavar="NETWORK", nargs="?", default=None,
                   help="the checkpoint to convert (or --network)")
    c.add_argument("output", metavar="OUT", help="the .safetensors file to write")
    add_network(c)
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import checkpoint_name
    from creps_core.model.checkpoint import convert_to_safetensors

    source = checkpoint_name(args, args.input)
    if source is None:
        raise UsageError("name the checkpoint to convert (NETWORK or --network)")
    dst = Path(args.output)
    if dst.suffix != ".safetensors":
        raise UsageError("the output name must end in .safetensors")
    model = convert_to_safetensors(source, dst, args.network_kind or "G_ema")
    print(f"wrote {printable(str(dst))} ({model.num_params:,} parameters, from {printable(model.network)})")
    return 0
