"""``creps lines``: each synthesis block's row and column lines, features, spectra and contributions.

Per seed: one contact sheet (``seedNNNN_lines.png``: a row per block, a column per kind, the
render on top) and one PNG per block and kind (``seedNNNN_b16_rows.png`` ...), each carrying its
provenance.  Everything is computed on the view shrunk to ``--max-side`` pixels per side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from creps_core.cli.args import UsageError
from creps_core.cli.common import (
    build_latent,
    build_view,
    check_class,
    latent_sources,
    make_engine,
    note_noise_mode,
    open_network,
    seeds_or,
)
from creps_core.jobs.metadata import RenderRecord, write_png
from creps_core.jobs.structure import KINDS, analyse, block_images, bounded_view, contact_sheet
from creps_core.render.views import View


def run(args: argparse.Namespace) -> int:
    note_noise_mode(args)
    if args.max_side < 2:
        raise UsageError(f"--max-side must be at least 2, got {args.max_side}")
    model = open_network(args)
    check_class(args, model)
    res = model.cfg.img_resolution
    view = build_view(args, View(res, res))
    engine = make_engine(model, args.device, args.precision)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    shown = bounded_view(view, args.max_side)
    if (shown.width, shown.height) != (view.width, view.height):
        print(f"note: structure computed at {shown.width}x{shown.height} (the view shrunk to --max-side "
              f"{args.max_side})")
    sources = latent_sources(args, model.cfg)
    for seed in seeds_or(args, [0]):
        structure = analyse(engine, build_latent(args, seed, sources=sources), view, args.max_side)

        def record(image: str, block: str | None = None) -> RenderRecord:
            extra = {"kind": "lines", "image": image, **({"block": block} if block else {})}
            return RenderRecord(str(model.path), model.sha256, structure.latent, structure.view, engine.precision,
                                False, model.network, extra=extra)

        stem = f"seed{seed:04d}"
        sheet = write_png(outdir / f"{stem}_lines.png", contact_sheet(structure), record("sheet"))
        for block in structure.blocks:
            for kind, picture in block_images(block).items():
                write_png(outdir / f"{stem}_{block.name}_{kind}.png", picture, record(kind, block.name))
        print(f"wrote {sheet} and {len(structure.blocks)} blocks x {len(KINDS)} images ({structure.seconds:.1f} s)")
    return 0
