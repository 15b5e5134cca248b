"""``creps export``: any view at any size, tile by tile, resumable; optionally on a Dask cluster."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from creps_core.cli.args import (
    Subcommands,
    add_cluster,
    add_latent,
    add_latent_sources,
    add_network,
    add_outputs,
    add_seeds,
    add_view,
    add_warp_quality,
    new_parser,
    positive_int,
)
from creps_core.vocabulary import EXPORT_FORMATS, PRECISION_CHOICES, TIFF_COMPRESSIONS, TILE_FORMATS

if TYPE_CHECKING:
    from creps_core.jobs.export import ExportSpec
    from creps_core.model.checkpoint import LoadedModel


def register(sub: Subcommands) -> None:
    e = new_parser(sub, "export", "render a view at any size, tile by tile (TIFF, PNG, JPEG, Deep Zoom)",
                   "Render any view at any size (e.g. 20000x14000) tile by tile in bounded memory. "
                   "Interrupted exports resume when the same command is run again.")
    e.add_argument("out", metavar="OUT", help="output file: .tif (tiled BigTIFF), .png, .jpg, or .dzi (a Deep Zoom "
                                              "pyramid with an HTML viewer page beside it)")
    add_network(e, from_file=True)
    e.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                   help="re-render an exported file from its metadata; other options change it (default: none)")
    add_seeds(e, "0, or the --from file's", several=False)
    add_latent(e, from_file=True)
    add_latent_sources(e)
    add_view(e, default_size="4096x4096")
    e.add_argument("--tile", type=positive_int, default=512, help="tile size in pixels, a multiple of 16")
    e.add_argument("--supersample", "-k", type=positive_int, default=None, metavar="K",
                   help="K x K samples per pixel, for anti-aliasing (default: 1, or the --from file's)")
    e.add_argument("--pyramid", type=int, default=None, metavar="LEVELS",
                   help="half-size levels for deep-zoom viewers, TIFF only; -1: down to one tile (default: 0)")
    e.add_argument("--format", choices=EXPORT_FORMATS, default=None,
                   help="file format (default: from the extension)")
    e.add_argument("--compression", choices=TIFF_COMPRESSIONS, default="zlib", help="TIFF tile compression")
    e.add_argument("--quality", type=int, default=95, help="JPEG (and jpg/webp Deep Zoom tile) quality, 1-100")
    e.add_argument("--tile-format", choices=TILE_FORMATS, default=None,
                   help="Deep Zoom tile images; png is lossless (default: jpg, or the --from file's)")
    add_cluster(e, "tiles")
    e.add_argument("--precision", choices=PRECISION_CHOICES, default=None,
                   help="fp32 is the reference; auto picks what this machine does in hardware and keeps it "
                        "only where a calibration render stays within 40 dB of fp32 (default: auto, or the "
                        "--from file's)")
    e.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    add_warp_quality(e, default=None)
    add_outputs(e, resumable=True)
    e.set_defaults(run=run)


def _spec(args: argparse.Namespace, precision: str) -> tuple[ExportSpec, LoadedModel]:
    """The export to run and the model, from the options over a --from file's record."""
    from dataclasses import replace

    from creps_core.cli.common import (
        build_latent,
        build_view,
        check_class,
        latent_sources,
        one_seed,
        open_for_record,
        open_network,
    )
    from creps_core.jobs.export import ExportSpec, format_of, spec_from_record
    from creps_core.jobs.metadata import read_record
    from creps_core.latent.latents import LatentSpec
    from creps_core.render.views import View

    record = read_record(args.from_file) if args.from_file else None
    if record is not None:
        model = open_for_record(args, record, args.from_file)
    else:
        model = open_network(args)
        check_class(args, model)
    named = format_of(Path(args.out))  # even with --format: the name itself must say a format
    fmt = args.format or named
    if record is not None:
        view = record.view.with_(window=None)
        try:
            base = spec_from_record(record, view=view, fmt=fmt)
        except (TypeError, ValueError):
            raise ValueError(f"{args.from_file}: its export record is damaged (tile or pyramid_levels)") from None
        # a TIFF's pyramid carries over to TIFFs only: other formats have none or their own
        base = replace(base, pyramid=base.pyramid if fmt == "tiff" else 0)
    else:
        base = ExportSpec(latent=LatentSpec(), view=View(4096, 4096), fmt=fmt, precision=precision)
    latent = build_latent(args, one_seed(args), base.latent, latent_sources(args, model.cfg))
    spec = replace(base, latent=latent, view=build_view(args, base.view), tile=args.tile, fmt=fmt,
                   supersample=args.supersample or base.supersample,
                   pyramid=base.pyramid if args.pyramid is None else args.pyramid,
                   compression=None if args.compression == "none" else args.compression, quality=args.quality,
                   tile_format=args.tile_format or base.tile_format,
                   warp_quality=args.warp_quality or base.warp_quality)
    return spec, model


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from creps_core.cli.common import (
        CALIBRATE_ABOVE_PIXELS,
        check_output_folder,
        closing_job,
        estimate_seconds,
        input_files,
        make_engine,
        note_noise_mode,
    )
    from creps_core.cli.terminal import TerminalProgress, announce_estimate
    from creps_core.jobs.export import deepzoom, export_line_coords, export_steps, plan_tiles, validate
    from creps_core.progress import RENDERING_TILES, Progress, run_job

    note_noise_mode(args)
    check_output_folder(args.out)
    if args.workers or args.scheduler:
        from creps_core.jobs.cluster import require_dask

        require_dask()  # before the model loads
    spec, model = _spec(args, args.precision or "auto")
    engine = make_engine(model, args.device, args.precision or spec.precision)
    spec = replace(spec, precision=engine.precision)
    out = Path(args.out)
    validate(spec, out)
    h, w = spec.shape
    pixels = h * w * spec.supersample**2
    estimate = None  # seconds for the whole image; said once the job has counted the tiles left
    if pixels > CALIBRATE_ABOVE_PIXELS:
        side = min(spec.tile * spec.supersample, 256)
        lines = export_line_coords(engine, spec, plan_tiles(spec.shape, spec.tile))
        estimate = estimate_seconds(engine, spec.latent, spec.render_view(), pixels, side,
                                    warp_quality=spec.warp_quality, line_coords=lines)

    def report(step: Progress) -> None:
        nonlocal estimate
        if estimate is not None and step.stage == RENDERING_TILES and step.total:
            left = step.total - step.done
            announce_estimate(estimate * left / step.total,
                              f"exporting {w}x{h}" + (f", {left} of {step.total} tiles left" if step.done else ""))
            estimate = None
        bar(step)

    args.interrupt_note = "finished tiles are kept: run the same command again to resume"
    with ExitStack() as stack:
        renderer = None
        if args.workers or args.scheduler:
            from creps_core.jobs.cluster import open_client
            from creps_core.jobs.export.cluster import dask_renderer

            renderer = dask_renderer(stack.enter_context(open_client(args.workers, args.scheduler)), engine)
        bar = stack.enter_context(TerminalProgress("tile"))
        steps = stack.enter_context(closing_job(export_steps(engine, spec, out, renderer=renderer, force=args.force,
                                                             fresh=args.fresh, inputs=input_files(args, model))))
        last = run_job(steps, report=report)
    if last is not None and last.note:  # another export finished this very file meanwhile: the note said so
        return 0
    print(f"wrote {out} ({w}x{h})")
    if spec.fmt == "dzi":
        print(f"open {deepzoom.page_path(out)} in a browser to view it (no server needed)")
    return 0
