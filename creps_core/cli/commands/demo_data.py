"""``creps demo-data``: write the offline demo training set (LFW face crops or photo crops)."""

from __future__ import annotations

import argparse

from creps_core.cli.args import Subcommands, new_parser, positive_int
from creps_core.vocabulary import DEMO_THEMES


def register(sub: Subcommands) -> None:
    d = new_parser(sub, "demo-data", "write the offline demo training set (needs the [demo-data] extra)")
    d.add_argument("--outdir", "--out", dest="outdir", required=True, metavar="DIR",
                   help="output folder for the PNGs (required)")
    d.add_argument("--res", type=positive_int, default=32, help="image size in pixels")
    d.add_argument("--theme", choices=DEMO_THEMES, default="faces",
                   help="faces: LFW crops; photos: multi-scale crops of colour photographs")
    d.add_argument("--count", type=positive_int, default=2000, help="number of crops for --theme photos")
    d.add_argument("--seed", type=int, default=0, help="random seed of the crops")
    d.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.terminal import TerminalProgress
    from creps_core.progress import run_job
    from creps_core.train.demo_data import demo_data_steps

    with TerminalProgress("img") as bar:
        last = run_job(demo_data_steps(args.outdir, args.res, theme=args.theme, count=args.count, seed=args.seed),
                       bar)
    assert last is not None  # demo_data_steps ends with a DONE record
    print(f"wrote {last.done} images to {args.outdir}")
    return 0
