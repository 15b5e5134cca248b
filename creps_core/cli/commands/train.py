"""``creps train``, ``creps demo-data`` and ``creps consistency``: thin layers over creps_core.train."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from creps_core.cli.args import UsageError
from creps_core.cli.common import TerminalProgress, check_class, open_network, say, seeds_or, set_threads
from creps_core.progress import DONE, Progress, run_job


def run(args: argparse.Namespace) -> int:
    return {"train": train, "demo-data": demo_data, "consistency": consistency}[args.action](args)


def train(args: argparse.Namespace) -> int:
    from creps_core.train.loop import train_steps

    set_threads(args.threads)
    if args.resume is None and args.res is None:
        raise UsageError("--res is required (unless --resume)")
    if args.resume:
        say("resuming: config, resolution, batch, seed and gamma come from the saved state")
    args.interrupt_note = "continue with --resume LAST_SNAPSHOT"
    bars: list[tqdm] = []  # created on the first step, so data errors print without a bar

    def progress(p: Progress) -> None:
        if p.stage == DONE:  # the summary below says it
            return
        if not bars:
            bars.append(tqdm(total=p.total, initial=p.done, desc=p.stage, unit="img", unit_scale=True,
                             dynamic_ncols=True))
        bar = bars[0]
        bar.total, bar.n = p.total, p.done
        bar.set_postfix({k: f"{v:.3g}" for k, v in p.figures}, refresh=False)
        bar.refresh()
        if p.note:
            bar.write(p.note)

    try:
        last = run_job(train_steps(args.data, args.outdir, resolution=args.res, config=args.config, kimg=args.kimg,
                                   batch=args.batch, seed=args.seed, r1_gamma=args.gamma, snap_kimg=args.snap_every,
                                   resume=args.resume, device=args.device), progress)
    finally:
        for bar in bars:
            bar.close()
    assert last is not None  # train_steps ends with a DONE record
    print(f"done: {last.done / 1000:g} kimg; last snapshot {last.path or '-'}")
    return 0


def demo_data(args: argparse.Namespace) -> int:
    from creps_core.train.demo_data import demo_data_steps

    with TerminalProgress("img") as bar:
        last = run_job(demo_data_steps(args.outdir, args.res, theme=args.theme, count=args.count, seed=args.seed),
                       bar)
    assert last is not None  # demo_data_steps ends with a DONE record
    print(f"wrote {last.done} images to {args.outdir}")
    return 0


def consistency(args: argparse.Namespace) -> int:
    from creps_core.train.metrics import scale_consistency

    model = open_network(args)
    check_class(args, model)
    g = model.build(args.device)
    print(f"{model.path} ({model.cfg.img_resolution}^2, {model.num_params / 1e6:.2f} M params)")
    psi = 1.0 if args.trunc is None else args.trunc
    print(scale_consistency(g, seeds_or(args, list(range(8))), psi=psi, class_idx=args.class_idx,
                            device=args.device).table())
    return 0
