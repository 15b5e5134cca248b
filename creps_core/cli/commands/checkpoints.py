"""``creps info`` and ``creps convert``: describe a checkpoint; official .pkl -> .safetensors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from creps_core.cli.args import UsageError
from creps_core.cli.common import open_network
from creps_core.io.untrusted import printable
from creps_core.model.checkpoint import convert_to_safetensors


def _source(args: argparse.Namespace, positional: str | None) -> str | None:
    if positional and args.network and positional != args.network:
        raise UsageError("name the checkpoint once: as an argument or with --network, not both")
    return positional or args.network


def run(args: argparse.Namespace) -> int:
    return info(args) if args.action == "info" else convert(args)


def info(args: argparse.Namespace) -> int:
    model = open_network(args, _source(args, args.path))
    data = model.info()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    c = model.cfg
    # the path, and the network name a safetensors file names itself, are shown, never obeyed by the terminal
    print(f"{printable(data['path'])}\n  format      {data['format']} ({printable(data['network'])})\n"
          f"  sha256      {data['sha256']}")
    print(f"  resolution  {c.img_resolution}  num_ws {c.num_ws}  z/w dims {c.z_dim}/{c.w_dim}")
    print(f"  parameters  {data['parameters']:,}")
    print(f"  conditional {'yes, ' + str(c.c_dim) + ' classes' if c.c_dim else 'no'}")
    print(f"  channels    base {c.channel_base} max {c.channel_max} biline {c.biline_channels} rank {c.rank}")
    return 0


def convert(args: argparse.Namespace) -> int:
    source = _source(args, args.input)
    if source is None:
        raise UsageError("name the checkpoint to convert (NETWORK or --network)")
    dst = Path(args.output)
    if dst.suffix != ".safetensors":
        raise UsageError("the output name must end in .safetensors")
    model = convert_to_safetensors(source, dst, args.network_kind or "G_ema")
    print(f"wrote {printable(str(dst))} ({model.num_params:,} parameters, from {printable(model.network)})")
    return 0
