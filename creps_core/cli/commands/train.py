"""``creps train``: train (or resume) a CREPS generator on a folder of images; a thin layer over
:func:`creps_core.train.loop.train_steps` (``--objective gan``, the default) and
:func:`creps_core.train.fit.fit_steps` (``--objective fit``: seed i renders photo i), which write
snapshots and draw nothing."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from creps_core.cli.args import Subcommands, UsageError, add_threads, new_parser, positive_float, positive_int
from creps_core.vocabulary import TRAIN_CONFIGS

if TYPE_CHECKING:
    from creps_core.progress import Progress

OBJECTIVES = ("gan", "fit")
GAN_SNAP_KIMG = 10.0
FIT_SNAP_MINUTES = 5.0


def register(sub: Subcommands) -> None:
    t = new_parser(sub, "train", "train (or --resume) a CREPS generator on a folder of images",
                   "Train a CREPS generator with the StyleGAN2 objective (--objective gan), or fit one to a few\n"
                   "photographs so that seed i renders photo i (--objective fit: regression, which a CPU can do\n"
                   "in hours); snapshots open in the explorer.")
    t.add_argument("--objective", choices=OBJECTIVES, default="gan",
                   help="gan: a generator of new pictures (discriminator, many images); fit: seed i renders "
                        "photo i of --data, other seeds land between them")
    t.add_argument("--data", required=True, metavar="PATH",
                   help="folder of png/jpg (searched recursively) or an official dataset .zip; with --objective fit "
                        "also demo:photos, the photographs bundled with scikit-image/scikit-learn (required)")
    t.add_argument("--res", type=positive_int, default=None,
                   help="training resolution, a power of two >= 8 (default: required unless --resume)")
    t.add_argument("--config", choices=TRAIN_CONFIGS, default="tiny",
                   help="network sizes: tiny/small for CPUs, paper = the released CREPS config")
    t.add_argument("--kimg", type=positive_float, default=None,
                   help="train until this many thousand images were shown (fit: rendered) "
                        "(default: required, or --steps with --objective fit)")
    t.add_argument("--steps", type=positive_int, default=None,
                   help="--objective fit: fit until this many steps (minibatches) are done, counted from the start "
                        "(default: --kimg)")
    t.add_argument("--outdir", required=True, metavar="DIR",
                   help="where snapshots, states and sample grids go (required)")
    t.add_argument("--resume", default=None, metavar="SNAPSHOT",
                   help="a snapshot .safetensors (with its .state.pt) to continue exactly (default: none)")
    t.add_argument("--batch", type=positive_int, default=16,
                   help="minibatch size (fit: photos per step, at most all of them)")
    t.add_argument("--crop", type=positive_int, default=None,
                   help="--objective fit: fit a random CROP x CROP window of the pictures per step, CROP^2/res^2 of "
                        "the cost of a step (default: the whole picture)")
    t.add_argument("--gamma", type=float, default=None,
                   help="--objective gan: R1 weight (default: 0.0002 x res^2 / batch)")
    t.add_argument("--snap-every", type=positive_float, default=None, dest="snap_every", metavar="KIMG",
                   help=f"snapshot every KIMG thousand images; snapshots and sample grids are named by kimg, as "
                        f"the official ones (snapshot-000010, samples-000010.png) (default: {GAN_SNAP_KIMG:g} for gan; "
                        f"fit snapshots by --snap-minutes)")
    t.add_argument("--snap-minutes", type=positive_float, default=None, dest="snap_minutes", metavar="MIN",
                   help=f"--objective fit: snapshot every MIN minutes of wall time, so a killed run loses at most "
                        f"that (default: {FIT_SNAP_MINUTES:g})")
    t.add_argument("--seed", type=int, default=0, help="random seed of the initialisation and training")
    t.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda or cuda:N")
    add_threads(t)
    t.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import set_threads

    set_threads(args.threads)
    if args.resume is None and args.res is None:
        raise UsageError("--res is required (unless --resume)")
    if args.objective == "fit":
        return _run_fit(args)
    for name, value in (("--steps", args.steps), ("--snap-minutes", args.snap_minutes), ("--crop", args.crop)):
        if value is not None:
            raise UsageError(f"{name} belongs to --objective fit")
    if args.kimg is None:
        raise UsageError("--kimg is required")
    if args.resume is not None and _objective_of(args.resume) == "fit":
        raise UsageError(f"{args.resume} is a snapshot of a fit: resume it with --objective fit")
    return _run_gan(args)


def _objective_of(snapshot: str) -> str | None:
    """'fit' for a snapshot (or its .state.pt) that --objective fit wrote, read from the snapshot's metadata
    alone; None for anything else (the loop that resumes it says what is wrong with it)."""
    from pathlib import Path

    from safetensors import safe_open

    path = Path(snapshot)
    if path.name.endswith(".state.pt"):
        path = path.with_name(path.name.removesuffix(".state.pt") + ".safetensors")
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("objective")
    except Exception:  # noqa: BLE001 -- not a readable snapshot: train_steps reports it
        return None


def _run_gan(args: argparse.Namespace) -> int:
    from creps_core.cli.common import stop_requests
    from creps_core.cli.terminal import TrainingProgress, say
    from creps_core.progress import Cancelled, run_job
    from creps_core.train.loop import train_steps

    if args.resume:
        say("resuming: config, resolution, batch, seed and gamma come from the saved state")
    snap_kimg = args.snap_every or GAN_SNAP_KIMG
    with TrainingProgress() as bar, stop_requests() as stop:
        report = _noting_snapshots(args, bar, f"the first comes at {snap_kimg:g} kimg")
        try:
            last = run_job(train_steps(args.data, args.outdir, resolution=args.res, config=args.config,
                                       kimg=args.kimg, batch=args.batch, seed=args.seed, r1_gamma=args.gamma,
                                       snap_kimg=snap_kimg, resume=args.resume, device=args.device,
                                       cancel=stop.is_set), report)
        except Cancelled:
            raise KeyboardInterrupt from None  # exit 130 with the note naming the snapshot just written
    assert last is not None  # train_steps ends with a DONE record
    print(f"done: {last.done / 1000:g} kimg; last snapshot {last.path or '-'}")
    return 0


def _noting_snapshots(args: argparse.Namespace, bar: Callable[[Progress], None],
                      first: str) -> Callable[[Progress], None]:
    """``bar``, keeping the interrupt note up to date: it names the last snapshot written (one that
    exists), or says none was written yet and when the ``first`` comes."""
    from creps_core.progress import DONE

    args.interrupt_note = f"no snapshot was written yet ({first}); nothing to resume from"

    def report(step: Progress) -> None:
        if step.path is not None:
            args.interrupt_note = f"continue with --resume {step.path}"
        if step.stage != DONE:  # the summary after the run says it
            bar(step)

    return report


def _run_fit(args: argparse.Namespace) -> int:
    from creps_core.cli.common import stop_requests
    from creps_core.cli.terminal import TrainingProgress, say
    from creps_core.progress import Cancelled, run_job
    from creps_core.train.fit import FitOptions, fit_steps

    if args.gamma is not None:
        raise UsageError("--gamma belongs to --objective gan")
    if args.kimg is not None and args.steps is not None:
        raise UsageError("give the length of the fit as --steps or --kimg, not both")
    if args.kimg is None and args.steps is None:
        raise UsageError("--steps or --kimg is required")
    if args.resume:
        say("resuming: config, resolution, batch, crop and seed come from the saved state")
    options = None
    if args.resume is None:
        options = FitOptions(resolution=args.res, config=args.config, batch=args.batch, seed=args.seed,
                             crop=args.crop)
    with TrainingProgress() as bar, stop_requests() as stop:
        report = _noting_snapshots(args, bar, "a stop writes one once a step is done")
        try:
            last = run_job(fit_steps(args.data, args.outdir, kimg=args.kimg, steps=args.steps,
                                     snap_minutes=args.snap_minutes or FIT_SNAP_MINUTES, snap_kimg=args.snap_every,
                                     resume=args.resume, device=args.device, options=options, cancel=stop.is_set),
                           report)
        except Cancelled:
            raise KeyboardInterrupt from None  # exit 130 with the note naming the snapshot just written
    assert last is not None  # fit_steps ends with a DONE record
    print(f"done: {last.done / 1000:g} kimg; last snapshot {last.path or '-'}")
    return 0
