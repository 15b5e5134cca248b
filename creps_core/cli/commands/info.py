"""``creps info``: describe a checkpoint (config, parameters, hash), as text or JSON, and where
downloaded checkpoints are kept."""

from __future__ import annotations

import argparse
import json

from creps_core.cli.args import Subcommands, add_network, new_parser
from creps_core.io.untrusted import printable


def register(sub: Subcommands) -> None:
    i = new_parser(sub, "info", "describe a checkpoint: config, parameters, hash")
    i.add_argument("path", nargs="?", metavar="NETWORK", default=None, help="same as --network")
    add_network(i)
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import checkpoint_name, open_network
    from creps_core.io.download import cache_folder

    model = open_network(args, checkpoint_name(args, args.path))
    data = {**model.info(), "download_cache": str(cache_folder())}
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
    print(f"  downloads   {printable(data['download_cache'])} (where --network URLs are kept)")
    return 0
