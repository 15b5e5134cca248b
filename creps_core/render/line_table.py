"""Line tables: a rotated or warped view's line values on a 1-D lattice, interpolated per pixel.

Each pixel of a warped view has its own coordinate, but the lines are still 1-D functions, so they
are evaluated on a dense lattice covering the coordinates and interpolated (Catmull-Rom). The
lattice is anchored at 0 with a spacing from a small set, so every tile and nearby zoom levels read
the same lattice points from the line cache.

How dense: the error comes from the leaky-ReLU kinks of the line network (a kink rounded off over
the four taps around it), so it is set by the lattice spacing in coordinate units, not by the view
(released 256 config, random weights, against exact: spacing 1/256 -> 43 dB, 1/410 -> 49 dB,
1/512 -> 52 dB, 1/820 -> 58 dB, 1/1024 -> 61 dB, the same at 256² and 384², rotated or swirled).
Zooming in changes nothing: the kinks a view holds and the share of its pixels near one scale
together. So fine is one spacing for every view: a zoomed-in view or a poster (pixel spacing far
below it) tabulates fewer lattice points than it has rows, and a zoomed-out one more. Draft (its
promise is speed: previews, drags) follows the pixels' own spacing within a narrow band, so it is
never denser than them for views of 256 pixels per unit and more. Catmull-Rom gives ~2.5 dB more
than linear taps at every spacing.

Sampling is one fused pass (``embedding_bag``: the four taps of all blocks gathered and blended
per pixel, in the compute dtype), ~15x faster than four gathers and three multiply-adds of
float32 rows. Where the lattice is not much denser than the pixels, a patch of pixels does not
sample the two factors at all: the composed features of the lattice points around it are made
once, and each pixel interpolates those (:func:`composed_samples`; the same sum, a quarter of the
data on the released configs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

from creps_core.vocabulary import check_warp_quality

if TYPE_CHECKING:
    from creps_core.render.views import View

FINE_SPACING = 1 / 768  # ~58 dB against exact (rounded down to 1/819)
# Draft follows the pixels between these: 1/256 (43 dB) when zoomed out, 1/320 (~46 dB; rounded down
# to 1/341) when zoomed in.
DRAFT_SPACINGS = (1 / 320, 1 / 256)
_TAPS = torch.arange(-1, 3)


def table_spacing(view_spacing: float, quality: str) -> float:
    """The lattice spacing a view of pixel spacing ``view_spacing`` is tabulated at for ``quality``
    (draft or fine; exact has no table), rounded down onto the shared set of spacings."""
    if quality == "fine":
        return _round_spacing(FINE_SPACING)
    if quality == "draft":
        return _round_spacing(min(max(view_spacing, DRAFT_SPACINGS[0]), DRAFT_SPACINGS[1]))
    raise ValueError(f"warp quality {quality!r} has no line table")


def field_spacing(view: View, quality: str) -> float | None:
    """The lattice spacing a rotated or warped ``view``'s lines are tabulated at for ``quality``;
    None where every pixel's own lines are evaluated instead: quality exact, or tables that would
    hold more points than the pixels (a warp that spreads a small image over a wide range).

    Decided for the whole view from a sample of its coordinates, never per tile: every tile of a
    view must take the same path, or tiles would disagree at their seams. The engine renders by
    this, and the cost estimates and the feature view read the same lattice through it."""
    if check_warp_quality(quality) == "exact":
        return None
    spacing = table_spacing(view.spacing, quality)
    u, v = view.sample_field()
    return spacing if LineTable.pays(u.reshape(-1), v.reshape(-1), spacing, view.width * view.height) else None


class LineTable:
    """Line values on the lattice t_m = m*h covering a set of coordinates, for interpolation.

    The lattice is anchored at 0 (not at the tile's first coordinate), so a given
    coordinate interpolates from the same table points in every tile and render.
    """

    def __init__(self, m0: int, h: float, values: torch.Tensor) -> None:
        self.m0, self.h, self.values = m0, h, values

    @staticmethod
    def _bounds(coords: torch.Tensor, h: float) -> tuple[float, int, int]:
        h = _round_spacing(h)
        return h, int(math.floor(float(coords.min()) / h)) - 1, int(math.floor(float(coords.max()) / h)) + 2

    @classmethod
    def size(cls, coords: torch.Tensor, h: float) -> int:
        """Lattice points a table for ``coords`` at spacing ``h`` holds."""
        _, m_lo, m_hi = cls._bounds(coords, h)
        return m_hi - m_lo + 1

    @classmethod
    def pays(cls, u: torch.Tensor, v: torch.Tensor, h: float, pixels: int) -> bool:
        """Whether tables covering these row and column coordinates hold fewer points than the
        ``pixels`` pixels' own coordinates. A warp that spreads a small image over a wide range
        would otherwise size the tables (time and memory) by the formula's reach, not the image."""
        return cls.size(u, h) + cls.size(v, h) <= 2 * pixels

    @classmethod
    def lattice(cls, coords: torch.Tensor, h: float) -> torch.Tensor:
        """The float32 lattice coordinates a table for ``coords`` at spacing ``h`` evaluates."""
        h, m_lo, m_hi = cls._bounds(coords, h)
        return (torch.arange(m_lo, m_hi + 1, dtype=torch.float64) * h).to(torch.float32)

    @classmethod
    def build(cls, lines: Callable[[torch.Tensor], torch.Tensor], coords: torch.Tensor, h: float,
              dtype: torch.dtype = torch.float32) -> LineTable:
        """The table for ``coords`` at spacing ``h``, held in ``dtype`` (the compute dtype: what
        the pixels are composed in); ``lines(lattice)`` gives the line values at the lattice
        points (the engine's cached line evaluation)."""
        return cls(cls._bounds(coords, h)[1], _round_spacing(h), lines(cls.lattice(coords, h)).to(dtype))

    def taps(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The Catmull-Rom taps of coordinates t [n]: (lattice index of the first tap [n] int64,
        their four weights [n, 4] float32)."""
        x = t.to(torch.float64) / self.h
        m = torch.floor(x)
        # The fraction on a grid of 2^-20: a pixel a hair from a lattice point would otherwise give
        # a^3 below float32's normal range, and denormal weights made whole renders 2-3x slower.
        a = (torch.round((x - m) * 2**20) / 2**20).to(torch.float32).unsqueeze(1)
        a2, a3 = a * a, a * a * a
        weights = torch.cat((-0.5 * a3 + a2 - 0.5 * a, 1.5 * a3 - 2.5 * a2 + 1,
                             -1.5 * a3 + 2 * a2 + 0.5 * a, 0.5 * a3 - 0.5 * a2), dim=1)
        return m.to(torch.int64) - 1, weights

    def sample(self, t: torch.Tensor) -> torch.Tensor:
        """Catmull-Rom interpolation at t [n] -> [n, D] in the table's dtype."""
        first, weights = self.taps(t)
        taps = (first - self.m0).unsqueeze(1) + _TAPS + 1
        dev = self.values.device
        # int32 taps: with int64 ones, float32 tables of a few dozen rows took a path 40x slower
        return F.embedding_bag(taps.to(dev, torch.int32), self.values,
                               per_sample_weights=weights.to(dev, self.values.dtype), mode="sum")


def composed_samples(rows: LineTable, cols: LineTable, u: torch.Tensor, v: torch.Tensor,
                     blocks: int, rank: int) -> torch.Tensor:
    """sum_k R(u)[b, k, c] * K(v)[b, k, c] -> [n, blocks * c], R and K interpolated from ``rows``
    and ``cols`` (values laid out [blocks, rank, c]) at the n pixels' coordinates (u, v).

    Interpolation is linear in the table values and the composition is linear in each factor, so
    this equals the bicubic (Catmull-Rom x Catmull-Rom) interpolation of the *composed* features of
    the lattice points around the pixels: those are composed once per lattice point (a batched
    matmul of the box of table rows the pixels reach) and each pixel gathers 16 points of
    ``blocks * c`` values, where sampling both factors gathers 8 of ``blocks * rank * c`` and
    multiplies them (released 256 config: a quarter of the data, and no product to reduce).
    Pays where the lattice is not much denser than the pixels (:func:`composed_lattice_pays`) and
    the pixels are a compact patch (their box of lattice points is small)."""
    iu, wu = rows.taps(u)
    iv, wv = cols.taps(v)
    return _composed(rows, cols, iu, wu, iv, wv, blocks, rank)


def _composed(rows: LineTable, cols: LineTable, iu: torch.Tensor, wu: torch.Tensor, iv: torch.Tensor,
              wv: torch.Tensor, blocks: int, rank: int) -> torch.Tensor:
    """:func:`composed_samples` from the pixels' taps (first lattice index, four weights per axis)."""
    u0, v0 = int(iu.min()), int(iv.min())
    nu, nv = int(iu.max()) - u0 + 4, int(iv.max()) - v0 + 4
    n = len(iu)
    if nu * nv > max(MAX_BOX_POINTS, 4 * n) and n > 1:
        # A warp that spreads these pixels over much of the plane: halves reach smaller boxes (a
        # pixel's value is the same whichever box it is composed in).
        h = n // 2
        return torch.cat([_composed(rows, cols, iu[:h], wu[:h], iv[:h], wv[:h], blocks, rank),
                          _composed(rows, cols, iu[h:], wu[h:], iv[h:], wv[h:], blocks, rank)])
    d = rows.values.shape[1]
    c = d // (blocks * rank)
    r = rows.values[u0 - rows.m0:u0 - rows.m0 + nu].reshape(nu, blocks, rank, c).permute(1, 3, 0, 2)
    k = cols.values[v0 - cols.m0:v0 - cols.m0 + nv].reshape(nv, blocks, rank, c).permute(1, 3, 2, 0)
    g = torch.bmm(r.reshape(blocks * c, nu, rank), k.reshape(blocks * c, rank, nv))  # [B*c, nu, nv]
    g = g.reshape(blocks * c, nu * nv).t().contiguous()  # a row per lattice point
    taps = ((iu - u0).unsqueeze(1) + _TAPS + 1).unsqueeze(2) * nv + ((iv - v0).unsqueeze(1) + _TAPS + 1).unsqueeze(1)
    weights = (wu.unsqueeze(2) * wv.unsqueeze(1)).reshape(-1, 16)
    dev = g.device
    return F.embedding_bag(taps.reshape(-1, 16).to(dev, torch.int32), g,
                           per_sample_weights=weights.to(dev, g.dtype), mode="sum")


MAX_BOX_POINTS = 16384
"""Lattice points one call of :func:`composed_samples` composes at most (beyond four per pixel): 14 MiB
of float32 features on the released configs, whatever a warp does to the pixels' coordinates."""

COMPOSED_LATTICE_MAX_DENSITY = 1.25
"""The composed lattice is used where the table spacing is at least the pixel spacing divided by
this: denser tables would compose more lattice points than the gathers they save."""


def composed_lattice_pays(view_spacing: float, table_spacing: float) -> bool:
    """Whether a view of pixel spacing ``view_spacing`` composes its lattice (:func:`composed_samples`)
    rather than its pixels' sampled lines; decided for the whole view, so its tiles agree."""
    return table_spacing * COMPOSED_LATTICE_MAX_DENSITY >= view_spacing


def _round_spacing(h: float) -> float:
    """Round a table spacing down to 2^e * {1, 1.25, 1.5, 1.75}: never coarser than asked,
    and nearby zoom levels share lattice points (so the line cache serves them)."""
    base = 2.0 ** math.floor(math.log2(h))
    return base * max(q for q in (1.0, 1.25, 1.5, 1.75) if q <= h / base + 1e-12)
