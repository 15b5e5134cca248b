"""Pixel reuse between frames: a pan by whole pixels only renders what became visible.

With ``View(snap=True)`` the pixel lattice is anchored at integer multiples of the
pixel spacing (in the view's turned frame for a turned view), so two views of the
same size, zoom, span and rotation, unwarped, sample the same coordinates up to a
whole-pixel shift (:attr:`View.pans_by_pixels`).  The overlap is
copied from the previous frame; only the exposed strips are rendered, as tiles
(``view.tile``) of the new view, which the engine renders exactly like the whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from creps_core.render.views import View

Region = tuple[int, int, int, int]  # (row0, col0, rows, cols)


@dataclass(frozen=True)
class ReusePlan:
    """new[i, j] = old[i + dr, j + dc] wherever that is inside the old frame."""

    dr: int
    dc: int
    regions: tuple[Region, ...]  # exposed parts of the new view that must be rendered

    def exposed_pixels(self) -> int:
        return sum(h * w for _, _, h, w in self.regions)


def plan_reuse(old: View, new: View) -> ReusePlan | None:
    """How to build ``new`` from a frame of ``old``, or None when nothing can be reused."""
    if not (old.pans_by_pixels and new.pans_by_pixels):
        return None
    if (old.width, old.height, old.zoom, old.span, old.rotation) != (new.width, new.height, new.zoom, new.span,
                                                                      new.rotation):
        return None
    (or0, oc0), (nr0, nc0) = old.lattice_origin(), new.lattice_origin()
    dr, dc = nr0 - or0, nc0 - oc0
    H, W = new.height, new.width
    if abs(dr) >= H or abs(dc) >= W:
        return None
    regions: list[Region] = []
    if dr > 0:
        regions.append((H - dr, 0, dr, W))
    elif dr < 0:
        regions.append((0, 0, -dr, W))
    kept_r0, kept_rows = max(0, -dr), H - abs(dr)
    if dc > 0:
        regions.append((kept_r0, W - dc, kept_rows, dc))
    elif dc < 0:
        regions.append((kept_r0, 0, kept_rows, -dc))
    return ReusePlan(dr, dc, tuple(regions))


def shifted(old_image: torch.Tensor, plan: ReusePlan) -> torch.Tensor:
    """A new [C, H, W] frame holding the reusable overlap of ``old_image`` (the rest is zero)."""
    C, H, W = old_image.shape
    out = torch.zeros_like(old_image)
    dr, dc = plan.dr, plan.dc
    r0, r1 = max(0, -dr), min(H, H - dr)
    c0, c1 = max(0, -dc), min(W, W - dc)
    out[:, r0:r1, c0:c1] = old_image[:, r0 + dr:r1 + dr, c0 + dc:c1 + dc]
    return out
