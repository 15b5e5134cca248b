"""``creps train``: train (or resume) a CREPS generator on a folder of images; a thin layer over
:func:`creps_core.train.loop.train_steps`, which writes snapshots and draws nothing."""

from __future__ import annotations

import argparse

from creps_core.cli.args import Subcommands, UsageError, add_threads, new_parser, positive_float, positive_int
from creps_core.vocabulary import TRAIN_CONFIGS


def register(sub: Subcommands) -> None:
    t = new_parser(sub, "train", "train (or --resume) a CREPS generator on a folder of images",
                   "Train a CREPS generator with the StyleGAN2 objective; snapshots open in the explorer.")
    t.add_argument("--data", required=True, metavar="PATH",
                   help="folder of png/jpg (searched recursively) or an official dataset .zip (required)")
    t.add_argument("--res", type=positive_int, default=None,
                   help="training resolution, a power of two >= 8 (default: required unless --resume)")
    t.add_argument("--config", choices=TRAIN_CONFIGS, default="tiny",
                   help="network sizes: tiny/small for CPUs, paper = the released CREPS config")
    t.add_argument("--kimg", type=positive_float, required=True,
                   help="train until this many thousand real images were shown (required)")
    t.add_argument("--outdir", required=True, metavar="DIR",
                   help="where snapshots, states and sample grids go (required)")
    t.add_argument("--resume", default=None, metavar="SNAPSHOT",
                   help="a snapshot .safetensors (with its .state.pt) to continue exactly (default: none)")
    t.add_argument("--batch", type=positive_int, default=16, help="minibatch size")
    t.add_argument("--gamma", type=float, default=None, help="R1 weight (default: 0.0002 x res^2 / batch)")
    t.add_argument("--snap-every", type=positive_float, default=10.0, dest="snap_every", metavar="KIMG",
                   help="snapshot and sample grid every KIMG thousand images")
    t.add_argument("--seed", type=int, default=0, help="random seed of the initialisation and training")
    t.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda or cuda:N")
    add_threads(t)
    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import set_threads
    from creps_core.cli.terminal import TrainingProgress, say
    from creps_core.progress import DONE, Progress, run_job
    from creps_core.train.loop import train_steps

    set_threads(args.threads)
    if args.resume is None and args.res is None:
        raise UsageError("--res is required (unless --resume)")
    if args.resume:
        say("resuming: config, resolution, batch, seed and gamma come from the saved state")
    args.interrupt_note = "continue with --resume LAST_SNAPSHOT"
    with TrainingProgress() as bar:

        def report(step: Progress) -> None:
            if step.stage != DONE:  # the summary below says it
                bar(step)

        last = run_job(train_steps(args.data, args.outdir, resolution=args.res, config=args.config, kimg=args.kimg,
                                   batch=args.batch, seed=args.seed, r1_gamma=args.gamma, snap_kimg=args.snap_every,
                                   resume=args.resume, device=args.device), report)
    assert last is not None  # train_steps ends with a DONE record
    print(f"done: {last.done / 1000:g} kimg; last snapshot {last.path or '-'}")
    return 0
