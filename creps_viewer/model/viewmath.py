"""Screen gestures as geometry changes (no Qt, no torch).

Every pixel <-> coordinate conversion goes through :meth:`creps_core.render.views.View.coord_at` and
:meth:`~creps_core.render.views.View.pixel_at`, the one map; this module only says what a drag, a
wheel notch or a double-click does to a :class:`Geometry` of a ``width`` x ``height`` viewport.
"""

from __future__ import annotations

from creps_viewer.model.records import Geometry

Affine = tuple[float, float, float, float, float, float]  # x' = a x + b y + c ; y' = d x + e y + f


def spacing(geometry: Geometry, width: int, height: int) -> float:
    return geometry.view(width, height, snap=False).spacing


def pixel_to_coord(g: Geometry, width: int, height: int, x: float, y: float) -> tuple[float, float]:
    return g.view(width, height, snap=False).coord_at(x, y)


def coord_to_pixel(g: Geometry, width: int, height: int, u: float, v: float) -> tuple[float, float]:
    return g.view(width, height, snap=False).pixel_at(u, v)


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
