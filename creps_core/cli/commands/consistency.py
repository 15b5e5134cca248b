"""``creps consistency``: how alike a model's renders at R and 2R are (PSNR, SSIM), per seed.

A CREPS generator is a function of the coordinate, so a render at twice the resolution should
be the same picture, finer; the table shows how far a model (a training snapshot) is from that."""

from __future__ import annotations

import argparse

from creps_core.cli.args import Subcommands, add_latent, add_network, add_seeds, new_parser


def register(sub: Subcommands) -> None:
    c = new_parser(sub, "consistency", "scale consistency: R vs 2R renders (PSNR, SSIM)")
    add_network(c)
    add_seeds(c, "0-7")
    add_latent(c)
    c.add_argument("--device", default="cpu", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import check_class, open_network, seeds_or
    from creps_core.cli.terminal import TerminalProgress
    from creps_core.train.metrics import scale_consistency

    model = open_network(args)
    check_class(args, model)
    g = model.build(args.device)
    print(f"{model.path} ({model.cfg.img_resolution}^2, {model.num_params / 1e6:.2f} M params)")
    psi = 1.0 if args.trunc is None else args.trunc
    with TerminalProgress("seed") as bar:
        result = scale_consistency(g, seeds_or(args, list(range(8))), psi=psi, class_idx=args.class_idx,
                                   device=args.device, report=bar)
    print(result.table())
    return 0
