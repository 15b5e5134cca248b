"""``creps export``: any view at any size, tile by tile, resumable; optionally on a Dask cluster."""

from __future__ import annotations

import argparse
from contextlib import ExitStack, closing
from dataclasses import replace
from pathlib import Path

from creps_core.cli.common import (
    CALIBRATE_ABOVE_PIXELS,
    TerminalProgress,
    announce_estimate,
    build_latent,
    build_view,
    check_class,
    estimate_seconds,
    input_files,
    latent_sources,
    make_engine,
    note_noise_mode,
    one_seed,
    open_for_record,
    open_network,
)
from creps_core.jobs.export import ExportSpec, deepzoom, export_steps, format_of, validate
from creps_core.jobs.metadata import read_record
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.render.views import View


def _spec(args: argparse.Namespace, precision: str) -> tuple[ExportSpec, LoadedModel]:
    """The export to run and the model, from the options over a --from file's record."""
    out = Path(args.out)
    if args.from_file:
        record = read_record(args.from_file)
        model = open_for_record(args, record, args.from_file)
        extra = record.extra or {}
        base = ExportSpec(latent=record.latent, view=record.view.with_(window=None), precision=record.precision,
                          exact=record.exact, supersample=record.supersample,
                          # a TIFF's pyramid carries over to TIFFs only: other formats have none or their own
                          pyramid=int(extra.get("pyramid_levels", 0)) if (args.format or format_of(out)) == "tiff"
                          else 0, fmt=format_of(out),
                          tile_format=extra.get("tile_format", "jpg"))
    else:
        model = open_network(args)
        check_class(args, model)
        base = ExportSpec(latent=LatentSpec(), view=View(4096, 4096), fmt=format_of(out), precision=precision)
    seed = one_seed(args)
    latent = build_latent(args, seed, base.latent, latent_sources(args, model.cfg))
    spec = replace(base, latent=latent, view=build_view(args, base.view),
                   tile=args.tile, fmt=args.format or format_of(out),
                   supersample=args.supersample or base.supersample,
                   pyramid=base.pyramid if args.pyramid is None else args.pyramid,
                   compression=None if args.compression == "none" else args.compression, quality=args.quality,
                   tile_format=args.tile_format or base.tile_format)
    return spec, model


def run(args: argparse.Namespace) -> int:
    note_noise_mode(args)
    spec, model = _spec(args, args.precision or "fp32")
    engine = make_engine(model, args.device, args.precision or spec.precision)
    spec = replace(spec, precision=engine.precision)
    out = Path(args.out)
    validate(spec, out)
    h, w = spec.shape
    pixels = h * w * spec.supersample**2
    if pixels > CALIBRATE_ABOVE_PIXELS:
        side = min(spec.tile * spec.supersample, 256)
        announce_estimate(estimate_seconds(engine, spec.latent, spec.render_view(), pixels, side),
                          f"exporting {w}x{h}")
    args.interrupt_note = "finished tiles are kept: run the same command again to resume"
    with ExitStack() as stack:
        renderer = None
        if args.workers or args.scheduler:
            from creps_core.jobs.export.cluster import dask_renderer, open_client

            renderer = dask_renderer(stack.enter_context(open_client(args.workers, args.scheduler)), engine)
        progress = stack.enter_context(TerminalProgress("tile"))
        steps = stack.enter_context(closing(export_steps(engine, spec, out, renderer=renderer, force=args.force,
                                                         fresh=args.fresh, inputs=input_files(args, model))))
        for step in steps:
            progress(step)
    if step.note:  # another export finished this very file meanwhile: the note said so
        return 0
    print(f"wrote {out} ({w}x{h})")
    if spec.fmt == "dzi":
        print(f"open {deepzoom.page_path(out)} in a browser to view it (no server needed)")
    return 0
