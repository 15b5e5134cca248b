"""The tiles of an export: their plan, the pixels of one, and the half-size pyramid levels.

CREPS pixels are functions of their coordinates, so a view's tiles join exactly
(docs/architecture.md): a tile is a pure function of the model, the spec and its rectangle,
and can be rendered anywhere (:mod:`creps_core.jobs.export.cluster` renders them on Dask).
Tiles are planned in column strips, so the engine keeps one strip's column lines cached while
every tile row below reuses them: bounded memory at near one-shot line cost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from creps_core.jobs.export.spec import ExportSpec
from creps_core.jobs.workdir import TileStore
from creps_core.progress import PYRAMID, CancelFn, Cancelled, Progress
from creps_core.render.engine import Engine, to_uint8

STRIP_PIXELS = 4096  # width of a column strip: tiles below each other share its cached columns
COUNTED_TILES = 400  # tiles whose lines an estimate counts one by one (the rest are scaled from them)


@dataclass(frozen=True)
class TileTask:
    """One tile of the output grid: its index in the tile grid and pixel rectangle."""

    ti: int
    tj: int
    row0: int
    col0: int
    rows: int
    cols: int


def plan_tiles(shape: tuple[int, int], tile: int, strip: int = STRIP_PIXELS) -> list[TileTask]:
    """All tiles, in column strips (top to bottom within each strip of ``strip`` pixels)."""
    h, w = shape
    per_strip = max(1, strip // tile)
    n_i, n_j = -(-h // tile), -(-w // tile)
    tasks = []
    for s0 in range(0, n_j, per_strip):
        for ti in range(n_i):
            for tj in range(s0, min(n_j, s0 + per_strip)):
                r0, c0 = ti * tile, tj * tile
                tasks.append(TileTask(ti, tj, r0, c0, min(tile, h - r0), min(tile, w - c0)))
    return tasks


def line_cache_limit(engine: Engine, spec: ExportSpec) -> int:
    """Line-cache entries (per axis) an export needs: one strip of columns plus a tile of rows, at the
    density the engine samples lines for this view.  Capping the cache there keeps memory
    independent of the image size."""
    return (STRIP_PIXELS + spec.tile) * spec.supersample * engine.lines_per_pixel(spec.view, spec.warp_quality)


def export_line_coords(engine: Engine, spec: ExportSpec, tasks: list[TileTask]) -> int:
    """Line coordinates an export of ``tasks`` computes, for its estimate: each tile's own (rows and
    columns, or the table lattice points of a rotated or warped view) through a least-recently-used
    cache of the export's limit, as the engine keeps them. Rotated posters share one lattice per
    axis, so tiles below and beside each other find most of their points cached. The first
    ``COUNTED_TILES`` tiles in plan order are counted, the rest scaled from them."""
    limit, k, view = line_cache_limit(engine, spec), spec.supersample, spec.render_view()
    caches: tuple[OrderedDict[float, None], OrderedDict[float, None]] = (OrderedDict(), OrderedDict())
    counted, computed = tasks[:COUNTED_TILES], 0
    for t in counted:
        coords = engine.line_coords(view.tile(t.row0 * k, t.col0 * k, t.rows * k, t.cols * k), spec.warp_quality)
        if coords is None:  # every pixel's own lines
            computed += 2 * t.rows * t.cols * k * k
            continue
        for cache, c in zip(caches, coords):
            for key in dict.fromkeys(c.tolist()):
                if key in cache:
                    cache.move_to_end(key)
                else:
                    cache[key] = None
                    computed += 1
            while len(cache) > limit:
                cache.popitem(last=False)
    return round(computed * len(tasks) / max(1, len(counted)))


def tile_pixels(engine: Engine, spec: ExportSpec, task: TileTask, cancel: CancelFn | None = None) -> np.ndarray:
    """Pixels of one tile (HWC uint8): a pure function of the model, spec and task."""
    k = spec.supersample
    view = spec.render_view().tile(task.row0 * k, task.col0 * k, task.rows * k, task.cols * k)
    img = engine.render(spec.latent, view, precision=spec.precision, warp_quality=spec.warp_quality,
                        cancel=cancel)
    if k > 1:  # box filter: the mean of each k x k block of samples
        img = img.reshape(img.shape[0], task.rows, k, task.cols, k).mean(dim=(2, 4))
    return to_uint8(img)


Renderer = Callable[[ExportSpec, list[TileTask], "CancelFn | None"], Iterator[tuple[TileTask, np.ndarray]]]
"""Renders tasks of a spec, yielding (task, pixels) in any order; see :mod:`creps_core.jobs.export.cluster`."""


def local_renderer(engine: Engine) -> Renderer:
    """Render tiles one after another in this process with ``engine``."""

    def run(spec: ExportSpec, tasks: list[TileTask], cancel: CancelFn | None) -> Iterator[tuple[TileTask, np.ndarray]]:
        for task in tasks:
            yield task, tile_pixels(engine, spec, task, cancel)

    return run


# ----- pyramid -----------------------------------------------------------------------------
def level_shape(shape: tuple[int, int], level: int) -> tuple[int, int]:
    h, w = shape
    for _ in range(level):
        h, w = -(-h // 2), -(-w // 2)
    return h, w


def pyramid_steps(store: TileStore, spec: ExportSpec, levels: int, cancel: CancelFn | None) -> Iterator[Progress]:
    """Build pyramid levels 1..``levels`` in ``store`` from the level above, tile by tile (tiles a
    resume finds are kept), yielding progress after every tile of each level."""
    for level in range(1, levels + 1):
        lh, lw = level_shape(spec.shape, level)
        grid = [(i, j) for i in range(-(-lh // spec.tile)) for j in range(-(-lw // spec.tile))]
        for n, (i, j) in enumerate(grid, 1):
            if cancel is not None and cancel():
                raise Cancelled()
            shape = (min(spec.tile, lh - i * spec.tile), min(spec.tile, lw - j * spec.tile))
            if not store.has(level, i, j, shape):
                store.save(level, i, j, _pyramid_tile(store, level, i, j, spec.shape, spec.tile))
            yield Progress(PYRAMID, n, len(grid))


def _half(pixels: np.ndarray) -> np.ndarray:
    """2x box filter of an HWC uint8 image (odd edges repeat their last row/column)."""
    h, w = pixels.shape[:2]
    if h % 2 or w % 2:
        pixels = np.pad(pixels, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    x = pixels.astype(np.uint16)
    s = x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def _pyramid_tile(store: TileStore, level: int, ti: int, tj: int, shape: tuple[int, int], tile: int) -> np.ndarray:
    """Tile (ti, tj) of ``level`` from up to four tiles of ``level - 1``."""
    ph, pw = level_shape(shape, level - 1)
    n_i, n_j = -(-ph // tile), -(-pw // tile)
    rows = []
    for i in (2 * ti, 2 * ti + 1):
        if i < n_i:
            rows.append(np.concatenate([store.load(level - 1, i, j) for j in (2 * tj, 2 * tj + 1) if j < n_j], axis=1))
    return _half(np.concatenate(rows, axis=0))
