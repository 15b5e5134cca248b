"""``creps train``, ``creps demo-data`` and ``creps consistency``.

The main ``creps`` command registers these through :func:`add_commands`.  The handlers
only parse, print and wrap the core functions in tqdm: all behaviour lives in
:mod:`.loop`, :mod:`.demo_data` and :mod:`.metrics`.
"""

from __future__ import annotations

import argparse
import sys

import torch

from ..cli import parse_seeds


def _fail(command: str, message: str, code: int = 1) -> None:
    """Print a one-line error and exit; SystemExit passes through any host CLI's handlers."""
    print(f"creps {command}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register train / demo-data / consistency on the main CLI's subparsers."""
    p = subparsers.add_parser("train", help="train a CREPS generator on a folder or dataset zip",
                              description="Train (or --resume) a CREPS generator with the StyleGAN2 objective.")
    p.add_argument("--data", required=True, help="folder of png/jpg (recursive) or official dataset .zip")
    p.add_argument("--res", type=int, help="training resolution (power of two >= 8); required unless --resume")
    p.add_argument("--config", choices=["tiny", "small", "paper"], default="tiny",
                   help="network sizes: tiny/small for CPU, paper = released CREPS config (default tiny)")
    p.add_argument("--kimg", type=float, required=True, help="train until this many thousand real images")
    p.add_argument("--outdir", required=True, help="where snapshots, states and sample grids go")
    p.add_argument("--resume", help="snapshot .safetensors (with its .state.pt) or .state.pt to continue exactly")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default auto)")
    p.add_argument("--batch", type=int, default=16, help="minibatch size (default 16)")
    p.add_argument("--gamma", type=float, default=None, help="R1 weight (default 0.0002*R^2/batch)")
    p.add_argument("--snap-every", type=float, default=10.0, dest="snap_every",
                   help="snapshot + sample grid every K kimg (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed of init and training (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("demo-data", help="write the offline demo training set (needs [demo-data] extra)")
    p.add_argument("--out", required=True, help="output folder for the PNGs")
    p.add_argument("--res", type=int, default=32, help="image size (default 32)")
    p.add_argument("--theme", choices=["faces", "photos"], default="faces", help="default faces")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo_data)

    p = subparsers.add_parser("consistency", help="scale consistency: R vs 2R render (PSNR / SSIM)")
    p.add_argument("--network", required=True, help="checkpoint (.pkl or .safetensors)")
    p.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-7"), help="e.g. 0-7 or 1,5,9")
    p.add_argument("--trunc", type=float, default=1.0, help="truncation psi (default 1)")
    p.add_argument("--class", type=int, default=None, dest="class_idx", help="class for conditional models")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_consistency)


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .dataset import DatasetError
    from .loop import train

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.resume is None and args.res is None:
        _fail("train", "--res is required (unless --resume)", 2)
    if args.resume:
        print("resuming: config, resolution, batch, seed and gamma come from the saved state")
    bars: list[tqdm] = []  # created on the first step, so data errors print without a bar

    def close() -> None:
        for b in bars:
            b.close()

    def progress(p) -> None:
        if not bars:
            bars.append(tqdm(total=p.total_nimg, initial=p.cur_nimg, unit="img", unit_scale=True,
                             dynamic_ncols=True))
        bar = bars[0]
        bar.total = p.total_nimg
        bar.n = p.cur_nimg
        bar.set_postfix({k: f"{v:.3f}" for k, v in p.losses.items()} | {"s/kimg": f"{p.sec_per_kimg:.1f}"},
                        refresh=False)
        bar.refresh()
        if p.snapshot is not None:
            bar.write(f"snapshot {p.snapshot}  samples {p.samples}")

    try:
        res = train(args.data, args.outdir, resolution=args.res, config=args.config, kimg=args.kimg,
                    batch=args.batch, seed=args.seed, r1_gamma=args.gamma, snap_kimg=args.snap_every,
                    resume=args.resume, device=args.device, callback=progress)
    except (DatasetError, FileNotFoundError, ValueError) as e:
        close()
        _fail("train", str(e))
    except KeyboardInterrupt:
        close()
        _fail("train", "interrupted: continue with --resume LAST_SNAPSHOT", 130)
    close()
    print(f"done: {res.cur_nimg / 1000:g} kimg; last snapshot {res.snapshots[-1] if res.snapshots else '-'}")
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .demo_data import build_demo_data

    bar = tqdm(unit="img", dynamic_ncols=True)

    def progress(i: int, n: int) -> None:
        bar.total = n
        bar.update(i - bar.n)

    try:
        paths = build_demo_data(args.out, args.res, theme=args.theme, seed=args.seed, progress=progress)
    except RuntimeError as e:
        bar.close()
        _fail("demo-data", str(e))
    bar.close()
    print(f"wrote {len(paths)} images to {args.out}")
    return 0


def cmd_consistency(args: argparse.Namespace) -> int:
    from ..checkpoint import CheckpointError, load_checkpoint
    from .metrics import scale_consistency

    try:
        model = load_checkpoint(args.network)
    except CheckpointError as e:
        _fail("consistency", str(e))
    g = model.build(args.device)
    print(f"{args.network} ({model.cfg.img_resolution}^2, {model.num_params / 1e6:.2f} M params)")
    print(scale_consistency(g, args.seeds, psi=args.trunc, class_idx=args.class_idx, device=args.device).table())
    return 0
