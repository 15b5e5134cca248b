"""Grids of images and sweeps of one parameter (``creps render --grid`` / ``--sweep``, video grids)."""

from __future__ import annotations

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
