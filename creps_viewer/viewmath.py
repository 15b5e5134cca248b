"""Screen <-> coordinate maths for the viewport (no Qt, no torch).

Pixel (x, y) is column x, row y of a width x height viewport; the coordinate plane
is (u, v) = (row coordinate, column coordinate) as in :mod:`creps_core.views`:

    (u, v) = centre + spacing * Rot(rotation) . (y - (h-1)/2, x - (w-1)/2)

This is the un-snapped, un-warped map of ``View.field()``; snapping moves the
rendered lattice by under half a pixel, which interaction does not need to see.
"""

from __future__ import annotations

import math

from creps_core.views import View

from .state import Geometry

Affine = tuple[float, float, float, float, float, float]  # x' = a x + b y + c ; y' = d x + e y + f


def spacing(geometry: Geometry, width: int, height: int) -> float:
    return View(max(1, width), max(1, height), zoom=geometry.zoom).spacing


def pixel_to_coord(g: Geometry, width: int, height: int, x: float, y: float) -> tuple[float, float]:
    s = spacing(g, width, height)
    orow, ocol = y - (height - 1) / 2, x - (width - 1) / 2
    ca, sa = math.cos(math.radians(g.rotation)), math.sin(math.radians(g.rotation))
    return g.center[0] + s * (ca * orow - sa * ocol), g.center[1] + s * (sa * orow + ca * ocol)


def coord_to_pixel(g: Geometry, width: int, height: int, u: float, v: float) -> tuple[float, float]:
    s = spacing(g, width, height)
    du, dv = (u - g.center[0]) / s, (v - g.center[1]) / s
    ca, sa = math.cos(math.radians(g.rotation)), math.sin(math.radians(g.rotation))
    orow, ocol = ca * du + sa * dv, -sa * du + ca * dv
    return ocol + (width - 1) / 2, orow + (height - 1) / 2


def panned(g: Geometry, width: int, height: int, dx: float, dy: float) -> Geometry:
    """Move the content by (dx, dy) screen pixels (a drag): what was under the cursor follows it."""
    u0, v0 = pixel_to_coord(g, width, height, 0.0, 0.0)
    u1, v1 = pixel_to_coord(g, width, height, dx, dy)
    return g.with_(center=(g.center[0] - (u1 - u0), g.center[1] - (v1 - v0)))


def zoomed_about(g: Geometry, width: int, height: int, factor: float, x: float, y: float) -> Geometry:
    """Zoom by ``factor`` keeping the coordinate under pixel (x, y) fixed."""
    u, v = pixel_to_coord(g, width, height, x, y)
    z = g.with_(zoom=g.zoom * factor)
    u2, v2 = pixel_to_coord(z, width, height, x, y)
    return z.with_(center=(z.center[0] + u - u2, z.center[1] + v - v2))


def rotated_about_center(g: Geometry, degrees: float) -> Geometry:
    r = (g.rotation + degrees + 180.0) % 360.0 - 180.0
    return g.with_(rotation=r)


def centred_on(g: Geometry, width: int, height: int, x: float, y: float) -> Geometry:
    return g.with_(center=pixel_to_coord(g, width, height, x, y))


def frame_to_screen(frame_g: Geometry, fw: int, fh: int, g: Geometry, w: int, h: int) -> Affine:
    """Affine map from a frame's pixel indices to the current viewport's pixel indices.

    Used to draw the last frame under the current geometry (instant feedback while
    the new frame renders).
    """
    def to_screen(x: float, y: float) -> tuple[float, float]:
        return coord_to_pixel(g, w, h, *pixel_to_coord(frame_g, fw, fh, x, y))

    x0, y0 = to_screen(0.0, 0.0)
    x1, y1 = to_screen(1.0, 0.0)
    x2, y2 = to_screen(0.0, 1.0)
    return (x1 - x0, x2 - x0, x0, y1 - y0, y2 - y0, y0)
