"""``creps lines``: each synthesis block's row and column lines, features, spectra and contributions.

Per seed: one contact sheet (``seedNNNN_lines.png``: a row per block, a column per kind, the
render on top) and one PNG per block and kind (``seedNNNN_b16_rows.png`` ...), each carrying its
provenance.  Everything is computed on the view shrunk to ``--max-side`` pixels per side.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from creps_core.cli.args import (
    Subcommands,
    UsageError,
    add_compute,
    add_latent,
    add_latent_sources,
    add_network,
    add_seeds,
    add_view,
    add_warp_quality,
    new_parser,
    positive_int,
)
from creps_core.vocabulary import DEFAULT_WARP_QUALITY

if TYPE_CHECKING:
    from creps_core.jobs.metadata import RenderRecord
    from creps_core.jobs.structure import Structure
    from creps_core.model.checkpoint import LoadedModel
    from creps_core.render.engine import Engine


def register(sub: Subcommands) -> None:
    s = new_parser(sub, "lines", "show each block's row and column lines, features, spectra and contributions",
                   "Write, per seed, what every synthesis block computes for a view: its row and column "
                   "line embeddings (coordinate x channel), its composed feature map, the feature map's "
                   "spectrum, and its contribution to the image (the image minus the image with the block "
                   "switched off). One contact sheet per seed (SEED_lines.png) and one PNG per block and kind.")
    add_network(s)
    add_seeds(s, "0")
    add_latent(s)
    add_latent_sources(s)
    add_view(s, default_size="the model's resolution")
    s.add_argument("--max-side", type=positive_int, default=256, metavar="N",
                   help="compute on the view shrunk to at most N pixels per side (bounded cost)")
    add_compute(s, precision="auto")
    add_warp_quality(s, default=DEFAULT_WARP_QUALITY)
    s.add_argument("--outdir", default="lines", metavar="DIR", help="where the PNGs go")
    s.set_defaults(run=run)


def _record(model: LoadedModel, structure: Structure, precision: str, warp_quality: str, image: str,
            block: str | None = None) -> RenderRecord:
    """The provenance of one picture of ``structure``: enough for `creps lines` to make it again."""
    from creps_core.jobs.metadata import RenderRecord

    extra = {"kind": "lines", "image": image, **({"block": block} if block else {})}
    return RenderRecord(str(model.path), model.sha256, structure.latent, structure.view, precision, warp_quality,
                        model.network, extra=extra)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import (
        build_latent,
        build_view,
        check_class,
        check_output_folder,
        latent_sources,
        make_engine,
        note_noise_mode,
        open_network,
        seeds_or,
    )
    from creps_core.cli.terminal import ItemsProgress, TerminalProgress, say
    from creps_core.jobs.structure import analyse, bounded_view
    from creps_core.render.views import View

    note_noise_mode(args)
    if args.max_side < 2:
        raise UsageError(f"--max-side must be at least 2, got {args.max_side}")
    outdir = Path(args.outdir)
    check_output_folder(outdir, folder=True)
    model = open_network(args)
    check_class(args, model)
    res = model.cfg.img_resolution
    view = build_view(args, View(res, res))
    engine = make_engine(model, args.device, args.precision)
    outdir.mkdir(parents=True, exist_ok=True)
    sources = latent_sources(args, model.cfg)
    shown = bounded_view(view, args.max_side)
    if (shown.width, shown.height) != (view.width, view.height):
        say(f"note: structure computed at {shown.width}x{shown.height} (the view shrunk to --max-side "
            f"{args.max_side})")
    seeds = seeds_or(args, [0])
    if len(seeds) == 1:  # one seed: a bar over its blocks
        with TerminalProgress("block") as bar:
            structure = analyse(engine, build_latent(args, seeds[0], sources=sources), view, args.max_side,
                                report=bar, warp_quality=args.warp_quality)
        print(_write(model, engine, structure, outdir, seeds[0], args.warp_quality))
        return 0
    with ItemsProgress("analysing seeds", len(seeds), "seed") as seeds_bar:  # several: one k/n bar over the seeds
        for seed in seeds:
            seeds_bar.start(f"seed {seed}")
            structure = analyse(engine, build_latent(args, seed, sources=sources), view, args.max_side,
                                warp_quality=args.warp_quality)
            seeds_bar.write(_write(model, engine, structure, outdir, seed, args.warp_quality))
            seeds_bar.done()
    return 0


def _write(model: LoadedModel, engine: Engine, structure: Structure, outdir: Path, seed: int,
           warp_quality: str) -> str:
    """The contact sheet and every block's pictures of one seed (rendered at ``warp_quality``); the
    line that says so."""
    from creps_core.jobs.metadata import write_png
    from creps_core.jobs.structure import KINDS, block_images, contact_sheet

    record = partial(_record, model, structure, engine.precision, warp_quality)
    stem = f"seed{seed:04d}"
    sheet = write_png(outdir / f"{stem}_lines.png", contact_sheet(structure), record("sheet"))
    for block in structure.blocks:
        for kind, picture in block_images(block).items():
            write_png(outdir / f"{stem}_{block.name}_{kind}.png", picture, record(kind, block.name))
    return f"wrote {sheet} and {len(structure.blocks)} blocks x {len(KINDS)} images ({structure.seconds:.1f} s)"
