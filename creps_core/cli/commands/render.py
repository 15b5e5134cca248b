"""``creps render``: one PNG per seed, any view; the official gen_images.py options work unchanged.

``--sweep`` renders each seed once per value of one parameter (PNGs named by the value,
``seed0003-trunc0.50.png``); ``--grid`` puts every image of the command into one grid named by what
it holds (``grid-seeds0-7.png``), whose record says how to make it again (the base latent, the
seeds and the sweep, not every cell, so it stays small).  Several images show one ``k/n`` bar;
``--workers`` / ``--scheduler`` render them on Dask, each written as it arrives.

Before anything is rendered, every file the command would write is checked: an earlier render's
PNG (known by its record) is replaced, as gen_images.py replaces its own; an input of the command
or a file this tool did not write is kept unless --force.  The .npy and .npz written beside an
image carry no record: they count as earlier output while the PNG written with them does.  What is
replaced is said in one line, once it is replaced."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from creps_core.cli.args import (
    Subcommands,
    UsageError,
    add_cluster,
    add_compute,
    add_grid,
    add_latent,
    add_latent_sources,
    add_network,
    add_outputs,
    add_seeds,
    add_view,
    add_warp_quality,
    new_parser,
    parse_sweep,
    positive_float,
)
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, MAX_SEEDS, SweepArg

if TYPE_CHECKING:
    import numpy as np
    import torch

    from creps_core.cli.terminal import ItemsProgress
    from creps_core.jobs.outputs import Owned
    from creps_core.latent.latents import LatentSpec
    from creps_core.model.checkpoint import LoadedModel
    from creps_core.render.engine import Engine
    from creps_core.render.views import View

    Image = tuple[str, LatentSpec, View]  # a file's name (no suffix), its latent and view

RENDER_BAR_DELAY_S = 2.0  # a render shows a progress bar once it has run this long


def register(sub: Subcommands) -> None:
    r = new_parser(sub, "render", "render seeds to PNG files (any view, warp or official scale)",
                   "Render one PNG per seed. Accepts the options of the official gen_images.py: a command "
                   "copied from the official README gives the same pixels and file names.")
    add_network(r, from_file=True)
    add_seeds(r, "0")
    add_latent(r, from_file=True)
    add_latent_sources(r)
    add_view(r, default_size=None)
    add_grid(r, "write one grid image of C columns and R rows instead of one PNG per image, named by what it "
                "holds (grid-seeds0-7.png); images fill it row by row: each seed's sweep is a row (default: none)")
    r.add_argument("--sweep", type=parse_sweep, default=None, metavar="PARAM=START:STOP:STEPS",
                   help="render each seed STEPS times, PARAM (trunc, zoom, rotate, or amount: the first "
                        "--direction's) going from START to STOP, as PNGs named by the value "
                        "(seed0003-trunc0.50.png) or, with --grid, one grid (default: none)")
    r.add_argument("--scale", type=positive_float, default=None, metavar="S",
                   help="official super-resolution grid: square, linspace(0, 1, int(R*S)) on both axes "
                        "(default: none)")
    add_warp_quality(r, default=None)
    add_compute(r, precision="auto")
    r.add_argument("--save-raw", action="store_true", help="also write each image as float32 CHW .npy")
    r.add_argument("--save-ws", action="store_true",
                   help="also write each image's ws as NAME.npz ('w' [1, num_ws, w_dim], as projectors do; "
                        "--ws reads it back)")
    r.add_argument("--from", dest="from_file", metavar="FILE", default=None,
                   help="re-render a PNG made by this tool from the provenance it carries (default: none)")
    r.add_argument("--outdir", default="out", metavar="DIR", help="where the PNGs go")
    add_outputs(r, resumable=False)
    add_cluster(r, "the images (seeds, sweep steps, grid cells)")
    r.set_defaults(run=run)


@dataclass
class Plan:
    """What one `creps render` makes: named base latents, each swept or not, in files or one grid."""

    bases: list[Image]
    sweep: SweepArg | None
    grid: tuple[int, int] | None
    precision: str
    warp_quality: str

    def images(self) -> list[Image]:
        from creps_core.jobs.grids import sweep_labels, swept

        if self.sweep is None:
            return self.bases
        if len(self.bases) * self.sweep.steps > MAX_SEEDS:
            raise UsageError(f"{len(self.bases)} seeds x {self.sweep.steps} sweep steps is more than "
                             f"{MAX_SEEDS:,} images")
        out = []
        labels = sweep_labels(self.sweep)
        for name, latent, view in self.bases:
            try:
                cells = swept(latent, view, self.sweep)
            except ValueError as e:
                raise UsageError(str(e)) from None
            out += [(f"{name}-{label}", lat, v) for label, (lat, v) in zip(labels, cells)]
        return out

    def grid_file(self) -> str:
        """The grid's file name: what it holds (its seeds, or the ws file) and the sweep."""
        from creps_core.jobs.grids import grid_name, seed_ranges

        seeds = [lat.seed for _, lat, _ in self.bases]
        by_seed = self.bases[0][1].ws is None
        subjects = f"seeds{seed_ranges(seeds)}" if by_seed else self.bases[0][0]
        return grid_name(subjects, self.sweep) + ".png"

    def grid_extra(self, grid: tuple[int, int]) -> dict:
        """What the record of a ``grid`` needs besides its first base latent and view."""
        sweep = self.sweep
        return {"kind": "grid", "grid": list(grid), "seeds": [lat.seed for _, lat, _ in self.bases],
                "sweep": None if sweep is None else f"{sweep.parameter}={sweep.start!r}:{sweep.stop!r}:{sweep.steps}"}


def _official_view(args: argparse.Namespace, resolution: int) -> View:
    from creps_core.render.views import View

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


def _plan(args: argparse.Namespace) -> tuple[LoadedModel, Plan]:
    """(model, Plan) for a fresh render or a --from re-render (options given change the record's)."""
    from creps_core.cli.common import (
        build_latent,
        build_view,
        check_class,
        latent_sources,
        open_for_record,
        open_network,
        seeds_or,
    )
    from creps_core.jobs.metadata import read_record
    from creps_core.render.views import View

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
        grid: tuple[int, int] | None = None
        sweep: SweepArg | None = None
        seeds: list[int | None] = [None]
        if extra.get("kind") == "grid":
            grid, sweep, seeds = _grid_of(extra, args.from_file, rec.latent.ws is None)
        view = build_view(args, rec.view)
        ws_name = args.ws or args.from_file
        bases = [(_name(lat, ws_name), lat, view) for lat in
                 (build_latent(args, seed, rec.latent, sources) for seed in args.seeds or seeds)]
        return model, Plan(bases, args.sweep or sweep, args.grid or grid, rec.precision,
                               args.warp_quality or rec.warp_quality)
    model = open_network(args)
    check_class(args, model)
    sources = latent_sources(args, model.cfg)
    res = model.cfg.img_resolution
    view = _official_view(args, res) if args.scale is not None else build_view(args, View(res, res))
    bases = [(_name(lat, args.ws), lat, view) for lat in
             (build_latent(args, seed, None, sources) for seed in seeds_or(args, [0]))]
    return model, Plan(bases, args.sweep, args.grid, args.precision, args.warp_quality or DEFAULT_WARP_QUALITY)


def _grid_of(extra: dict, source: str, by_seed: bool) -> tuple[tuple[int, int], SweepArg | None, list[int | None]]:
    """(columns x rows, sweep, seeds) of a grid's record, or one line naming the file when damaged."""
    try:
        columns, rows = (int(n) for n in extra["grid"])
        sweep = parse_sweep(extra["sweep"]) if extra.get("sweep") else None
        seeds: list[int | None] = [int(s) for s in extra["seeds"]] if by_seed else [None]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{source}: its grid record is damaged (grid, seeds or sweep)") from None
    return (columns, rows), sweep, seeds


def _check_size(plan: Plan, jobs: list[Image]) -> None:
    from creps_core.cli.common import MAX_IN_MEMORY_PIXELS, check_in_memory
    from creps_core.jobs.grids import check_grid

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


def _outputs(args: argparse.Namespace, plan: Plan, jobs: list[Image], outdir: Path) -> list[tuple[Path, Owned]]:
    """Every file this render writes, with how an earlier render's file there is recognised."""
    from creps_core.jobs.outputs import carries_record

    def written_with(png: Path) -> Owned:
        """A side file is earlier output while the PNG written with it carries a record."""
        return lambda _: carries_record(png)

    grid = outdir / plan.grid_file() if plan.grid is not None else None
    found: list[tuple[Path, Owned]] = [(grid, carries_record)] if grid else []
    beside = [".npy"] * args.save_raw + [".npz"] * args.save_ws
    for name, _, _ in jobs:
        png = grid or outdir / f"{name}.png"
        found += [] if grid else [(png, carries_record)]
        found += [(outdir / f"{name}{ext}", written_with(png)) for ext in beside]
    return found


def _save_raw(path: Path, raw: np.ndarray) -> None:
    import numpy as np

    from creps_core.io.safe_files import atomic_write

    atomic_write(path, lambda f: np.save(f, raw))


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.common import (
        CALIBRATE_ABOVE_PIXELS,
        check_output_folder,
        estimate_seconds,
        input_files,
        make_engine,
        note_noise_mode,
    )
    from creps_core.cli.terminal import announce_estimate, say
    from creps_core.jobs.outputs import claim, replacing_note

    note_noise_mode(args)
    outdir = Path(args.outdir)
    check_output_folder(outdir, folder=True)
    on_cluster = bool(args.workers or args.scheduler)
    if on_cluster:
        from creps_core.jobs.cluster import require_dask

        require_dask()  # before the model loads
    model, plan = _plan(args)
    jobs = plan.images()
    _check_size(plan, jobs)
    note = replacing_note(claim(_outputs(args, plan, jobs, outdir), input_files(args, model), args.force), args.force)
    outdir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(model, args.device, plan.precision)
    pixels = sum(view.width * view.height for _, _, view in jobs)
    if pixels > CALIBRATE_ABOVE_PIXELS and not on_cluster:
        _, spec, view = jobs[0]
        announce_estimate(estimate_seconds(engine, spec, view, pixels, side=min(256, view.width, view.height),
                                          warp_quality=plan.warp_quality),
                          f"rendering {len(jobs)} image(s), {pixels / 1e6:.0f} Mpx")
    if len(jobs) == 1 and not on_cluster:
        _render_one(args, engine, model, plan, jobs[0], outdir)
    else:
        _render_many(args, engine, model, plan, jobs, outdir, on_cluster)
    if note:  # said once the files are there (a render that fails keeps its one line)
        say(f"note: {note}")
    return 0


def _render_one(args: argparse.Namespace, engine: Engine, model: LoadedModel, plan: Plan, job: Image,
                outdir: Path) -> None:
    """One image: a bar in percent once it has taken a while (a large frame takes minutes)."""
    from creps_core.cli.terminal import TerminalProgress, fraction_to_progress
    from creps_core.progress import RENDERING

    name, spec, view = job
    with TerminalProgress("%", delay=RENDER_BAR_DELAY_S) as bar:
        img = engine.render(spec, view, warp_quality=plan.warp_quality, progress=fraction_to_progress(bar, RENDERING))
    cells: dict[int, np.ndarray] = {}
    lines = _save(args, engine, model, plan, job, outdir, img, cells, 0)
    if plan.grid is not None:
        lines += _save_grid(engine, model, plan, outdir, cells)
    for line in lines:
        print(line)


def _render_many(args: argparse.Namespace, engine: Engine, model: LoadedModel, plan: Plan, jobs: list[Image],
                 outdir: Path, on_cluster: bool) -> None:
    """Several images (seeds, a sweep, a grid's cells): one k/n bar naming the image being made.

    On Dask (``on_cluster``) the images come back in the order they finish, each equal to this
    process's render, and are written as they arrive; a grid is laid out once all its cells are in."""
    from creps_core.cli.terminal import ItemsProgress

    what = "rendering grid cells" if plan.grid is not None else "rendering images"
    cells: dict[int, np.ndarray] = {}
    with ExitStack() as stack:
        bar = stack.enter_context(ItemsProgress(what + " on Dask" * on_cluster, len(jobs), "image",
                                                delay=0 if on_cluster else RENDER_BAR_DELAY_S))
        images: Iterator[tuple[int, torch.Tensor]]
        if on_cluster:
            from creps_core.jobs.cluster import dask_images, open_client

            client = stack.enter_context(open_client(args.workers, args.scheduler))
            # closed before the client is (a failed write must not leave pieces queued on a closed client)
            images = stack.enter_context(closing(dask_images(
                client, engine, [(i, spec, view) for i, (_, spec, view) in enumerate(jobs)], plan.warp_quality)))
        else:
            images = _rendered_here(engine, jobs, plan.warp_quality, bar)
        for index, img in images:
            if on_cluster:  # named as it arrives (here: as it starts)
                bar.start(jobs[index][0])
            for line in _save(args, engine, model, plan, jobs[index], outdir, img, cells, index):
                bar.write(line)
            bar.done()
        if plan.grid is not None:
            for line in _save_grid(engine, model, plan, outdir, cells):
                bar.write(line)


def _rendered_here(engine: Engine, jobs: list[Image], warp_quality: str, bar: ItemsProgress
                   ) -> Iterator[tuple[int, torch.Tensor]]:
    """``(index, image)`` of each job in turn, rendered in this process (the bar names each as it starts)."""
    for index, (name, spec, view) in enumerate(jobs):
        bar.start(name)
        yield index, engine.render(spec, view, warp_quality=warp_quality)


def _save(args: argparse.Namespace, engine: Engine, model: LoadedModel, plan: Plan, job: Image, outdir: Path,
          img: torch.Tensor, cells: dict[int, np.ndarray], index: int) -> list[str]:
    """Write one image's files (or keep it as cell ``index`` of the grid); the lines that say what was written."""
    import numpy as np

    from creps_core.jobs.metadata import RenderRecord, write_png
    from creps_core.latent.files import save_ws
    from creps_core.render.engine import to_uint8

    name, spec, view = job
    lines = []
    if args.save_raw:
        _save_raw(outdir / f"{name}.npy", img.numpy().astype(np.float32))
    if args.save_ws:
        lines.append(f"wrote {save_ws(outdir / f'{name}.npz', engine.ws(spec).cpu().numpy())}")
    if plan.grid is not None:
        cells[index] = to_uint8(img)
        return lines
    record = RenderRecord(str(model.path), model.sha256, spec, view, engine.precision, plan.warp_quality, model.network)
    out = write_png(outdir / f"{name}.png", to_uint8(img), record)
    return lines + [f"wrote {out} ({view.width}x{view.height})"]


def _save_grid(engine: Engine, model: LoadedModel, plan: Plan, outdir: Path, cells: dict[int, np.ndarray]) -> list[str]:
    from creps_core.jobs.grids import layout
    from creps_core.jobs.metadata import RenderRecord, write_png

    assert plan.grid is not None
    _, first, view = plan.bases[0]
    record = RenderRecord(str(model.path), model.sha256, first, view, engine.precision, plan.warp_quality,
                          model.network, extra=plan.grid_extra(plan.grid))
    canvas = layout([cells[i] for i in sorted(cells)], *plan.grid)
    out = write_png(outdir / plan.grid_file(), canvas, record)
    return [f"wrote {out} ({canvas.shape[1]}x{canvas.shape[0]}, {len(cells)} images)"]
