"""Grids of images and sweeps of one parameter (``creps render --grid`` / ``--sweep``, video grids).

Their files are named by what they hold -- ``grid-seeds0-7.png``, ``seed0003-trunc0.50.png`` -- so a
second grid of other seeds, or a sweep over other values, writes new files beside the first
instead of replacing them."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from creps_core.latent.latents import LatentSpec
from creps_core.render.views import View
from creps_core.vocabulary import SweepArg


def check_grid(columns: int, rows: int, images: int) -> None:
    """Refuse a grid too small for its images, or one with a row or column that no image reaches:
    ``--grid 100000x1`` with one seed would write a picture 100,000 images wide, all but one black.
    Only the last row may be short."""
    if images > columns * rows:
        raise ValueError(f"a {columns}x{rows} grid holds {columns * rows:,} images, not {images:,}")
    fit = min(columns, images)
    if columns > fit or rows > -(-images // columns):
        raise ValueError(f"a {columns}x{rows} grid has {columns * rows:,} cells for {images:,} image(s), so whole "
                         f"rows or columns would stay empty; use {fit}x{-(-images // fit)}")


def layout(images: list[np.ndarray], columns: int, rows: int) -> np.ndarray:
    """HWC images of one size in a row-major grid (black where the last row is short)."""
    if len(images) == 1 and columns == rows == 1:
        return images[0]
    check_grid(columns, rows, len(images))
    h, w, c = images[0].shape
    canvas = np.zeros((rows * h, columns * w, c), dtype=np.uint8)
    for k, img in enumerate(images):
        r, q = divmod(k, columns)
        canvas[r * h:(r + 1) * h, q * w:(q + 1) * w] = img
    return canvas


def swept(latent: LatentSpec, view: View, sweep: SweepArg) -> list[tuple[LatentSpec, View]]:
    """(latent, view) for each value of the sweep.

    ``amount`` sweeps the first direction edit of ``latent``; ``zoom`` and ``rotate`` change
    the view; ``trunc`` changes psi."""
    if sweep.parameter == "amount" and not latent.edits:
        raise ValueError("--sweep amount needs a --direction to sweep")
    cells = []
    for value in sweep.values():
        if sweep.parameter == "trunc":
            cells.append((latent.with_(psi=value), view))
        elif sweep.parameter == "zoom":
            cells.append((latent, view.with_(zoom=value)))
        elif sweep.parameter == "rotate":
            cells.append((latent, view.with_(rotation=value)))
        else:
            first = replace(latent.edits[0], amount=value)
            cells.append((latent.with_(edits=(first, *latent.edits[1:])), view))
    return cells


MAX_NAME_SEEDS_CHARS = 40  # a longer list of seeds is named by its first, last and a short hash


def seed_ranges(seeds: Sequence[int]) -> str:
    """[0, 1, 2, 3, 7] -> '0-3,7' (the --seeds spelling); a long list -> '0-999,k12ab34cd' (first-last
    and a hash of the whole list, so two long lists stay apart)."""
    parts: list[str] = []
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if i == j else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    text = ",".join(parts)
    if len(text) <= MAX_NAME_SEEDS_CHARS:
        return text
    digest = hashlib.sha256(",".join(map(str, seeds)).encode()).hexdigest()[:8]
    return f"{min(seeds)}-{max(seeds)},h{digest}"


def sweep_labels(sweep: SweepArg) -> list[str]:
    """Each value of the sweep as it appears in a file name: 'trunc0.50', 'rotate-45.00', with as
    many decimals (2 to 6) as it takes to tell the values apart."""
    values = sweep.values()
    for decimals in range(2, 7):
        labels = [f"{sweep.parameter}{v:.{decimals}f}" for v in values]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{sweep.parameter}{v!r}" for v in values]


def grid_name(subjects: str, sweep: SweepArg | None) -> str:
    """The file name (no suffix) of a grid of ``subjects`` ('seeds0-7', or a ws file's stem), swept or
    not: 'grid-seeds0-7', 'grid-seeds1,3-trunc0.00-1.00x5'."""
    name = f"grid-{subjects}"
    if sweep is not None:
        labels = sweep_labels(sweep)
        name += f"-{labels[0]}-{labels[-1].removeprefix(sweep.parameter)}x{sweep.steps}"
    return name
