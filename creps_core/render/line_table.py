"""Line tables: a rotated or warped view's line values on a 1-D lattice, interpolated per pixel.

Each pixel of a warped view has its own coordinate, but the lines are still 1-D functions, so they
are evaluated on a dense lattice covering the coordinates and interpolated (Catmull-Rom). The
lattice is anchored at 0 with a spacing from a small set, so every tile and nearby zoom levels read
the same lattice points from the line cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


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
    def pays(cls, u: torch.Tensor, v: torch.Tensor, h: float) -> bool:
        """Whether tables for these row and column coordinates hold fewer points than the pixels'
        own coordinates. A warp that spreads a small image over a wide range would otherwise size
        the tables (time and memory) by the formula's reach instead of by the image."""
        return cls.size(u, h) + cls.size(v, h) <= 2 * u.numel()

    @classmethod
    def lattice(cls, coords: torch.Tensor, h: float) -> torch.Tensor:
        """The float32 lattice coordinates a table for ``coords`` at spacing ``h`` evaluates."""
        h, m_lo, m_hi = cls._bounds(coords, h)
        return (torch.arange(m_lo, m_hi + 1, dtype=torch.float64) * h).to(torch.float32)

    @classmethod
    def build(cls, lines: Callable[[torch.Tensor], torch.Tensor], coords: torch.Tensor, h: float) -> LineTable:
        """The table for ``coords`` at spacing ``h``; ``lines(lattice)`` gives the line values at the
        lattice points (the engine's cached line evaluation)."""
        return cls(cls._bounds(coords, h)[1], _round_spacing(h), lines(cls.lattice(coords, h)))

    def sample(self, t: torch.Tensor) -> torch.Tensor:
        """Catmull-Rom interpolation at t [n] -> [n, D]."""
        x = t.to(torch.float64) / self.h
        m = torch.floor(x)
        a = (x - m).to(torch.float32).unsqueeze(1)
        idx = (m.to(torch.int64) - self.m0).to(self.values.device)
        a = a.to(self.values.device)
        a2, a3 = a * a, a * a * a
        weights = (-0.5 * a3 + a2 - 0.5 * a, 1.5 * a3 - 2.5 * a2 + 1, -1.5 * a3 + 2 * a2 + 0.5 * a, 0.5 * a3 - 0.5 * a2)
        out = weights[1] * self.values[idx]
        for k, wk in ((-1, weights[0]), (1, weights[2]), (2, weights[3])):
            out.addcmul_(wk, self.values[idx + k])
        return out


def _round_spacing(h: float) -> float:
    """Round a table spacing down to 2^e * {1, 1.25, 1.5, 1.75}: never coarser than asked,
    and nearby zoom levels share lattice points (so the line cache serves them)."""
    base = 2.0 ** math.floor(math.log2(h))
    return base * max(q for q in (1.0, 1.25, 1.5, 1.75) if q <= h / base + 1e-12)
