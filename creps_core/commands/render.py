"""``creps render``: one PNG per seed, any view; the official gen_images.py options work unchanged."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..engine import to_uint8
from ..metadata import RenderRecord, read_record, write_png
from ..options import UsageError
from ..progress import RENDERING
from ..safe_files import atomic_write
from ..views import View
from .common import (CALIBRATE_ABOVE_PIXELS, RENDER_BAR_DELAY_S, TerminalProgress, announce_estimate, build_latent,
                     build_view, check_class, check_in_memory, estimate_seconds, fraction_to_progress, make_engine,
                     note_noise_mode, open_for_record, open_network, seeds_or)


def _official_view(args: argparse.Namespace, resolution: int) -> View:
    given = [name for name in ("size", "center", "zoom", "rotate", "warp")
             if getattr(args, name) not in (None, 0, 0.0)]
    if given:
        raise UsageError(f"--scale is the official square grid; it cannot be combined with --{given[0]}")
    try:
        return View.official(resolution, args.scale)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _jobs(args: argparse.Namespace):
    """(model, [(latent, view)], precision, exact) for a fresh render or a --from re-render."""
    if args.from_file:
        rec = read_record(args.from_file)
        if (rec.extra or {}).get("kind") == "export" or rec.supersample != 1:
            raise UsageError(f"{args.from_file} is a tiled export; re-render it with "
                             f"`creps export OUT --from {args.from_file}`")
        model = open_for_record(args, rec, args.from_file)
        seeds = args.seeds or [None]
        jobs = [(build_latent(args, seed, rec.latent), build_view(args, rec.view)) for seed in seeds]
        return model, jobs, rec.precision, rec.exact
    model = open_network(args)
    check_class(args, model)
    res = model.cfg.img_resolution
    view = _official_view(args, res) if args.scale is not None else build_view(args, View(res, res))
    jobs = [(build_latent(args, seed), view) for seed in seeds_or(args, [0])]
    return model, jobs, args.precision, args.exact


def run(args: argparse.Namespace) -> int:
    note_noise_mode(args)
    model, jobs, precision, exact = _jobs(args)
    for _, view in jobs:
        check_in_memory(view)
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(model, args.device, precision)
    pixels = sum(view.width * view.height for _, view in jobs)
    if pixels > CALIBRATE_ABOVE_PIXELS:
        spec, view = jobs[0]
        announce_estimate(estimate_seconds(engine, spec, view, pixels, side=min(256, view.width, view.height)),
                          f"rendering {len(jobs)} image(s), {pixels / 1e6:.0f} Mpx")
    for spec, view in jobs:
        with TerminalProgress("%", delay=RENDER_BAR_DELAY_S) as bar:
            img = engine.render(spec, view, exact=exact, progress=fraction_to_progress(bar, RENDERING))
        record = RenderRecord(str(model.path), model.sha256, spec, view, engine.precision, exact, model.network)
        out = write_png(outdir / f"seed{spec.seed:04d}.png", to_uint8(img), record)
        if args.save_raw:
            raw = img.numpy().astype(np.float32)
            atomic_write(outdir / f"seed{spec.seed:04d}.npy", lambda f: np.save(f, raw))
        print(f"wrote {out} ({view.width}x{view.height})")
    return 0
