"""``creps render``: one PNG per seed, any view; the official gen_images.py options work unchanged.

``--sweep`` renders each seed once per value of one parameter (numbered PNGs); ``--grid`` puts
every image of the command into one grid.png whose record says how to make it again (the
base latent, the seeds and the sweep, not every cell, so it stays small).

Before anything is rendered, every file the command would write is checked: an earlier render's
PNG (known by its record) is replaced, as gen_images.py replaces its own; an input of the command
or a file this tool did not write is kept unless --force.  The .npy and .npz written beside an
image carry no record: they count as earlier output while the PNG written with them does."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from creps_core.cli.args import MAX_SEEDS, SweepArg, UsageError, parse_sweep
from creps_core.cli.common import (
    CALIBRATE_ABOVE_PIXELS,
    MAX_IN_MEMORY_PIXELS,
    RENDER_BAR_DELAY_S,
    TerminalProgress,
    announce_estimate,
    build_latent,
    build_view,
    check_class,
    check_in_memory,
    estimate_seconds,
    fraction_to_progress,
    input_files,
    latent_sources,
    make_engine,
    note_noise_mode,
    open_for_record,
    open_network,
    seeds_or,
)
from creps_core.io.safe_files import atomic_write
from creps_core.jobs.grids import check_grid, layout, swept
from creps_core.jobs.metadata import RenderRecord, read_record, write_png
from creps_core.jobs.outputs import Owned, carries_record, claim
from creps_core.latent.files import save_ws
from creps_core.latent.latents import LatentSpec
from creps_core.progress import RENDERING
from creps_core.render.engine import to_uint8
from creps_core.render.views import View

GRID_NAME = "grid"


@dataclass
class Plan:
    """What one `creps render` makes: named base latents, each swept or not, in files or one grid."""

    bases: list[tuple[str, LatentSpec, View]]
    sweep: SweepArg | None
    grid: tuple[int, int] | None
    precision: str
    exact: bool

    def images(self) -> list[tuple[str, LatentSpec, View]]:
        if self.sweep is None:
            return self.bases
        if len(self.bases) * self.sweep.steps > MAX_SEEDS:
            raise UsageError(f"{len(self.bases)} seeds x {self.sweep.steps} sweep steps is more than "
                             f"{MAX_SEEDS:,} images")
        out = []
        for name, latent, view in self.bases:
            try:
                cells = swept(latent, view, self.sweep)
            except ValueError as e:
                raise UsageError(str(e)) from None
            out += [(f"{name}-{self.sweep.parameter}{i:03d}", lat, v) for i, (lat, v) in enumerate(cells)]
        return out

    def grid_extra(self) -> dict:
        """What a grid's record needs besides its first base latent and view."""
        sweep = self.sweep
        return {"kind": "grid", "grid": list(self.grid), "seeds": [lat.seed for _, lat, _ in self.bases],
                "sweep": None if sweep is None else f"{sweep.parameter}={sweep.start!r}:{sweep.stop!r}:{sweep.steps}"}


def _official_view(args: argparse.Namespace, resolution: int) -> View:
    given = [name for name in ("size", "center", "zoom", "rotate", "warp")
             if getattr(args, name) not in (None, 0, 0.0)]
    if given:
        raise UsageError(f"--scale is the official square grid; it cannot be combined with --{given[0]}")
    try:
        return View.official(resolution, args.scale)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _name(latent: LatentSpec, ws_file: str | None) -> str:
    """seedNNNN, or the stem of the ws file the latent came from."""
    return f"seed{latent.seed:04d}" if latent.ws is None else Path(ws_file or "ws").stem


def _plan(args: argparse.Namespace):
    """(model, Plan) for a fresh render or a --from re-render (options given change the record's)."""
    if args.ws and args.seeds is not None and len(args.seeds) > 1:
        raise UsageError("--ws gives one latent; it takes no list of --seeds")
    if args.from_file:
        rec = read_record(args.from_file)
        extra = rec.extra or {}
        if extra.get("kind") == "lines":
            raise UsageError(f"{args.from_file} is a structure picture of `creps lines`, not a render; "
                             "its record names the seed, latent and view to pass to `creps lines`")
        if extra.get("kind") == "export" or rec.supersample != 1:
            raise UsageError(f"{args.from_file} is a tiled export; re-render it with "
                             f"`creps export OUT --from {args.from_file}`")
        if extra.get("kind") == "video":
            raise UsageError(f"{args.from_file} records a whole video; make it again with "
                             "`creps video --keyframes` and the spec in its record")
        model = open_for_record(args, rec, args.from_file)
        sources = latent_sources(args, model.cfg)
        grid, sweep, seeds = None, None, [None]
        if extra.get("kind") == "grid":
            grid, sweep, seeds = _grid_of(extra, args.from_file, rec.latent.ws is None)
        view = build_view(args, rec.view)
        ws_name = args.ws or args.from_file
        bases = [(_name(lat, ws_name), lat, view) for lat in
                 (build_latent(args, seed, rec.latent, sources) for seed in args.seeds or seeds)]
        return model, Plan(bases, args.sweep or sweep, args.grid or grid, rec.precision, rec.exact)
    model = open_network(args)
    check_class(args, model)
    sources = latent_sources(args, model.cfg)
    res = model.cfg.img_resolution
    view = _official_view(args, res) if args.scale is not None else build_view(args, View(res, res))
    bases = [(_name(lat, args.ws), lat, view) for lat in
             (build_latent(args, seed, None, sources) for seed in seeds_or(args, [0]))]
    return model, Plan(bases, args.sweep, args.grid, args.precision, args.exact)


def _check_size(plan: Plan, jobs: list) -> None:
    for _, _, view in jobs:
        check_in_memory(view)
    if plan.grid is not None:
        columns, rows = plan.grid
        try:
            check_grid(columns, rows, len(jobs))
        except ValueError as e:
            raise UsageError(f"--grid: {e}") from None
        view = jobs[0][2]
        if columns * rows * view.width * view.height > MAX_IN_MEMORY_PIXELS:
            raise UsageError(f"a {columns}x{rows} grid of {view.width}x{view.height} images is too large to "
                             "hold in memory here; choose a smaller --size or grid")


def _outputs(args: argparse.Namespace, plan: Plan, jobs: list, outdir: Path) -> list[tuple[Path, Owned]]:
    """Every file this render writes, with how an earlier render's file there is recognised."""
    grid = outdir / f"{GRID_NAME}.png" if plan.grid is not None else None
    found = [(grid, carries_record)] if grid else []
    beside = [".npy"] * args.save_raw + [".npz"] * args.save_ws
    for name, _, _ in jobs:
        png = grid or outdir / f"{name}.png"
        found += [] if grid else [(png, carries_record)]
        found += [(outdir / f"{name}{ext}", lambda _, png=png: carries_record(png)) for ext in beside]
    return found


def run(args: argparse.Namespace) -> int:
    note_noise_mode(args)
    model, plan = _plan(args)
    jobs = plan.images()
    _check_size(plan, jobs)
    outdir = Path(args.outdir)
    claim(_outputs(args, plan, jobs, outdir), input_files(args, model), args.force)
    outdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(model, args.device, plan.precision)
    pixels = sum(view.width * view.height for _, _, view in jobs)
    if pixels > CALIBRATE_ABOVE_PIXELS:
        _, spec, view = jobs[0]
        announce_estimate(estimate_seconds(engine, spec, view, pixels, side=min(256, view.width, view.height)),
                          f"rendering {len(jobs)} image(s), {pixels / 1e6:.0f} Mpx")
    cells = []
    for name, spec, view in jobs:
        with TerminalProgress("%", delay=RENDER_BAR_DELAY_S) as bar:
            img = engine.render(spec, view, exact=plan.exact, progress=fraction_to_progress(bar, RENDERING))
        if args.save_raw:
            raw = img.numpy().astype(np.float32)
            atomic_write(outdir / f"{name}.npy", lambda f: np.save(f, raw))
        if args.save_ws:
            print(f"wrote {save_ws(outdir / f'{name}.npz', engine.ws(spec).cpu().numpy())}")
        if plan.grid is not None:
            cells.append(to_uint8(img))
            continue
        record = RenderRecord(str(model.path), model.sha256, spec, view, engine.precision, plan.exact, model.network)
        out = write_png(outdir / f"{name}.png", to_uint8(img), record)
        print(f"wrote {out} ({view.width}x{view.height})")
    if plan.grid is not None:
        _, first, view = plan.bases[0]
        record = RenderRecord(str(model.path), model.sha256, first, view, engine.precision, plan.exact,
                              model.network, extra=plan.grid_extra())
        canvas = layout(cells, *plan.grid)
        out = write_png(outdir / f"{GRID_NAME}.png", canvas, record)
        print(f"wrote {out} ({canvas.shape[1]}x{canvas.shape[0]}, {len(cells)} images)")
    return 0


def _grid_of(extra: dict, source: str, by_seed: bool) -> tuple[tuple[int, int], SweepArg | None, list[int | None]]:
    """(columns x rows, sweep, seeds) of a grid's record, or one line naming the file when damaged."""
    try:
        columns, rows = (int(n) for n in extra["grid"])
        sweep = parse_sweep(extra["sweep"]) if extra.get("sweep") else None
        seeds: list[int | None] = [int(s) for s in extra["seeds"]] if by_seed else [None]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{source}: its grid record is damaged (grid, seeds or sweep)") from None
    return (columns, rows), sweep, seeds
