"""Views: which coordinate each output pixel samples.

A :class:`View` maps the pixel grid of an output image (any width x height) to
CREPS coordinates (u = row coordinate, v = column coordinate).  At zoom 1 the
shorter side spans ``span`` (default 1.0: the official [0, 1] domain) centred on
``center``; rotation turns the sampling grid about the centre; an optional
:class:`Warp` bends it.  A tile is the same view restricted to a sub-rectangle
(``window``), so tiles are the same function on a sub-grid and join exactly.

Axis-aligned views (rotation a multiple of 90 degrees, no warp) are *separable*:
one row coordinate per output row and one column coordinate per output column
(possibly transposed), which is what makes CREPS rendering cheap.  Everything else
yields a per-pixel coordinate field.

Coordinates are computed in float64 from integer pixel indices and rounded to
float32 once, so the same pixel always gets the same coordinate whichever tile or
render it belongs to.  With ``snap=True`` the pixel lattice is anchored at integer
multiples of the pixel spacing, so a pan by whole pixels reproduces coordinates bit
for bit (what lets the engine reuse lines and pixels while panning).  A view turned by
other than a quarter turn anchors its lattice in its own turned frame (the lattice is
R·(integer multiples of the spacing)), so a pan by whole screen pixels shifts its
pixels too, and an unwarped one repeats their coordinates bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TypeVar, cast

import torch

from creps_core.render.formula import Formula, FormulaError
from creps_core.vocabulary import DEFAULT_WARP_QUALITY

CoordFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
_Number = TypeVar("_Number", int, float)

WARP_KINDS = ("none", "swirl", "lens", "wave", "formula", "custom")
FORMULA_NAMES = "x, y (offsets from the centre, 1 = half the shorter side), r (radius), a (angle)"
MAX_WARP_REACH = 1e4
"""How far a warp may send a pixel, in screen-normalised units (1 = half the shorter side): further
is no view anyone wants, and would only make coordinates that float32 cannot tell apart."""


@dataclass(frozen=True)
class Warp:
    """A non-linear bend of the sampling grid, in screen-normalised coordinates.

    Screen-normalised coordinates p = (row, col) are offsets from the view centre
    divided by half the shorter side, so a warp looks the same at every zoom (like
    a lens held over the viewport).  ``center`` shifts the warp's centre in those
    units.

    swirl:  rotate p by strength * exp(-(|p| / radius)^2) radians.
    lens:   p * (1 + strength * |p|^2 / radius^2)  (>0 pincushion, <0 barrel).
    wave:   p_row += strength * sin(2 pi frequency p_col), and vice versa.
    formula: ``formula = (ROW, COL)``, two expressions of x = p_col, y = p_row, r = |p| and
            a = atan2(y, x) giving the new (y, x), e.g. ("y + 0.1*sin(8*x)", "x"); strength
            fades it in (0: none, 1: as written). Read by the project's own grammar
            (:mod:`creps_core.render.formula`) into a tree when the warp is made, evaluated on tensors by
            the project's code: no text ever reaches an evaluator of strings.
    custom: ``fn(u, v) -> (u, v)`` applied to the final coordinates (API only).
    """

    kind: str = "none"
    strength: float = 0.0
    radius: float = 1.0
    frequency: float = 2.0
    center: tuple[float, float] = (0.0, 0.0)
    formula: tuple[str, str] | None = None
    fn: CoordFn | None = field(default=None, compare=False, repr=False)
    parsed: tuple[Formula, Formula] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in WARP_KINDS:
            raise ValueError(f"unknown warp {self.kind!r}; choose one of {', '.join(WARP_KINDS)}")
        if self.kind == "custom" and self.fn is None:
            raise ValueError("a custom warp needs a function fn(u, v) -> (u, v)")
        numbers = (self.strength, self.radius, self.frequency, *self.center)
        if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers):
            raise ValueError("warp strength, radius, frequency and centre must be finite numbers")
        if self.radius <= 0:
            raise ValueError("warp radius must be positive")
        if (self.kind == "formula") != (self.formula is not None):
            raise ValueError("a formula warp needs a formula (ROW, COL), and only it has one")
        if self.formula is not None:
            object.__setattr__(self, "parsed", tuple(_parse(which, text)
                                                     for which, text in zip(("row", "column"), self.formula)))

    @property
    def is_identity(self) -> bool:
        return self.kind == "none" or (self.kind != "custom" and self.strength == 0)

    def apply_screen(self, pr: torch.Tensor, pc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.is_identity or self.kind == "custom":
            return pr, pc
        r0, c0 = self.center
        ar, ac = pr - r0, pc - c0
        if self.kind == "swirl":
            ang = self.strength * torch.exp(-(ar.square() + ac.square()) / self.radius**2)
            ca, sa = torch.cos(ang), torch.sin(ang)
            ar, ac = ca * ar - sa * ac, sa * ar + ca * ac
        elif self.kind == "lens":
            k = 1 + self.strength * (ar.square() + ac.square()) / self.radius**2
            ar, ac = ar * k, ac * k
        elif self.kind == "wave":
            two_pi_f = 2 * math.pi * self.frequency
            ar, ac = ar + self.strength * torch.sin(two_pi_f * ac), ac + self.strength * torch.sin(two_pi_f * ar)
        elif self.kind == "formula":
            assert self.parsed is not None  # a formula warp has a formula, parsed when it was made
            fr, fc = (f.evaluate(ac, ar) for f in self.parsed)
            ar, ac = ar + self.strength * (fr - ar), ac + self.strength * (fc - ac)
        return ar + r0, ac + c0

    def to_dict(self) -> dict:
        if self.kind == "custom":
            raise ValueError("a custom warp (a Python function) cannot be saved")
        d = {"kind": self.kind, "strength": self.strength, "radius": self.radius,
             "frequency": self.frequency, "center": list(self.center)}
        if self.formula is not None:
            d["formula"] = list(self.formula)
        return d

    @classmethod
    def from_dict(cls, d: object) -> Warp | None:
        """The warp a file describes; a field of the wrong type is a ValueError naming it."""
        if not d:
            return None
        if not isinstance(d, dict):
            raise ValueError(f"a warp must be an object, got {type(d).__name__}")
        kind = d.get("kind", "none")
        if not isinstance(kind, str):
            raise ValueError(f"warp kind must be text, got {type(kind).__name__}")
        if kind == "none":
            return None
        formula = d.get("formula")
        if formula is not None and not (isinstance(formula, (list, tuple)) and len(formula) == 2):
            raise ValueError("a warp formula must be two expressions [ROW, COL]")
        return cls(kind=kind, strength=_field(d, "strength", float, 0), radius=_field(d, "radius", float, 1),
                   frequency=_field(d, "frequency", float, 2), center=_pair(d, "warp center", (0.0, 0.0)),
                   formula=tuple(formula) if formula is not None else None)


@dataclass(frozen=True)
class SeparableGrid:
    """Coordinates of an axis-aligned view: ``image = G(rows x cols)``, transposed if asked."""

    rows: torch.Tensor  # u coordinates (float32)
    cols: torch.Tensor  # v coordinates (float32)
    transposed: bool  # True: output[i, j] = G(rows[j], cols[i])


@dataclass(frozen=True)
class View:
    """Output pixel grid -> coordinate plane.  Immutable; change with ``replace``."""

    width: int
    height: int
    center: tuple[float, float] = (0.5, 0.5)
    zoom: float = 1.0
    rotation: float = 0.0  # degrees
    warp: Warp | None = None
    span: float = 1.0
    snap: bool = False
    window: tuple[int, int, int, int] | None = None  # (row0, col0, rows, cols) of the full grid
    # A snapped turned view read from a record written before turned lattices (2026-12-07): its
    # lattice anchored on the plane, so that record's pixels come out as they did.
    plane_lattice: bool = False

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1:
            raise ValueError(f"view size must be at least 1x1, got {self.width}x{self.height}")
        if not (math.isfinite(self.zoom) and self.zoom > 0):
            raise ValueError(f"zoom must be a positive number, got {self.zoom}")
        if not all(math.isfinite(float(c)) for c in self.center) or not math.isfinite(self.rotation):
            raise ValueError("view centre and rotation must be finite")
        if self.span <= 0:
            raise ValueError("span must be positive")
        if self.window is not None:
            r0, c0, h, w = self.window
            if h < 1 or w < 1 or r0 < 0 or c0 < 0 or r0 + h > self.height or c0 + w > self.width:
                raise ValueError(f"window {self.window} is outside the {self.width}x{self.height} view")

    # ----- construction helpers -------------------------------------------------
    @classmethod
    def official(cls, resolution: int, scale: float = 1.0) -> View:
        """The official ``scale=s`` grid: linspace(0, 1, int(R*s)) on both axes."""
        n = int(resolution * scale)
        if n < 2:
            raise ValueError(f"scale {scale} gives {n} pixels; need at least 2")
        return cls(n, n)

    def with_(self, **changes) -> View:
        return replace(self, **changes)

    def tile(self, row0: int, col0: int, rows: int, cols: int) -> View:
        """A sub-rectangle of this view's full pixel grid (same coordinates per pixel)."""
        if self.window is not None:
            r, c, _, _ = self.window
            row0, col0 = row0 + r, col0 + c
        return replace(self, window=(row0, col0, rows, cols))

    def tiles(self, tile_h: int, tile_w: int) -> Iterator[tuple[int, int, View]]:
        """Row-major tiles covering the view: (row0, col0, tile view) relative to this view."""
        h, w = self.shape
        for r in range(0, h, tile_h):
            for c in range(0, w, tile_w):
                yield r, c, self.tile(r, c, min(tile_h, h - r), min(tile_w, w - c))

    # ----- geometry -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of this view's output (the window if any)."""
        return (self.window[2], self.window[3]) if self.window else (self.height, self.width)

    @property
    def spacing(self) -> float:
        """Coordinate distance between neighbouring pixels (before warp)."""
        return self.span / (self.zoom * max(min(self.width, self.height) - 1, 1))

    def _indices(self) -> tuple[torch.Tensor, torch.Tensor]:
        r0, c0, h, w = self.window or (0, 0, self.height, self.width)
        return (torch.arange(r0, r0 + h, dtype=torch.float64), torch.arange(c0, c0 + w, dtype=torch.float64))

    def _offsets(self, i: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Offsets from the centre of full-grid rows ``i`` and columns ``j``, in coordinate units
        along the view's own (turned) rows and columns."""
        s = self.spacing
        if self.snap:
            # Anchor the lattice at integer multiples of s so pans by whole pixels repeat coordinates.
            r0, c0 = self.lattice_origin()
            cr, cc = self._lattice_center()
            return (r0 + i) * s - cr, (c0 + j) * s - cc
        return (i - (self.height - 1) / 2) * s, (j - (self.width - 1) / 2) * s

    def lattice_origin(self) -> tuple[int, int]:
        """Lattice index of full-grid pixel (0, 0) when snapped.

        Quantising is unstable only where the continuous origin sits on a rounding
        boundary; default centres put it on integers or half-integers, so the boundary
        is placed at x.75 (floor(m + 0.25)), a quarter pixel away from both.
        """
        s = self.spacing
        cr, cc = self._lattice_center()
        return (math.floor(cr / s - (self.height - 1) / 2 + 0.25),
                math.floor(cc / s - (self.width - 1) / 2 + 0.25))

    def _turned_lattice(self) -> bool:
        """Whether the snapped lattice is anchored in the view's turned frame (any turn but a
        quarter turn: those stay separable, on the plane's own lattice)."""
        return self.snap and not self.plane_lattice and self._quarter_turns() is None

    def _lattice_center(self) -> tuple[float, float]:
        """The centre in the frame the lattice is anchored in: the plane's, or for a turned
        lattice the view's own (R^T · centre)."""
        if not self._turned_lattice():
            return self.center
        ca, sa = self._turn()
        cu, cv = self.center
        return ca * cu + sa * cv, -sa * cu + ca * cv

    @property
    def pans_by_pixels(self) -> bool:
        """Whether a pan of this view by whole screen pixels shows the same pixels shifted (so
        only the exposed strips need rendering): snapped, unwarped, whole (not a tile), and
        straight (a whole number of full turns) or turned on its own lattice (not a quarter turn)."""
        return self.snap and self.window is None and (self.warp is None or self.warp.is_identity) and (
            self._quarter_turns() == 0 or self._turned_lattice())

    def _quarter_turns(self) -> int | None:
        q = self.rotation / 90.0
        return int(round(q)) % 4 if abs(q - round(q)) < 1e-12 else None

    @property
    def is_separable(self) -> bool:
        return (self.warp is None or self.warp.is_identity) and self._quarter_turns() is not None

    def pixel_quality(self, warp_quality: str) -> str:
        """The warp quality this view's pixels depend on: ``warp_quality`` for a turned or warped
        view; the default for a straight one, whose pixels are the same at every quality (so two
        frames or analyses of it never differ by the quality alone)."""
        return DEFAULT_WARP_QUALITY if self.is_separable else warp_quality

    def separable(self) -> SeparableGrid:
        """Row and column coordinates of an axis-aligned view."""
        q = self._quarter_turns()
        if q is None or not self.is_separable:
            raise ValueError("this view is not axis-aligned; use field()")
        di, dj = self._offsets(*self._indices())
        cu, cv = self.center
        if q == 0 and self.snap:
            i, j = self._indices()
            r0, c0 = self.lattice_origin()
            rows, cols, t = (r0 + i) * self.spacing, (c0 + j) * self.spacing, False
        elif q == 0:
            rows, cols, t = cu + di, cv + dj, False
        elif q == 2:
            rows, cols, t = cu - di, cv - dj, False
        elif q == 1:  # u = cu - dj (along output columns), v = cv + di (along output rows)
            rows, cols, t = cu - dj, cv + di, True
        else:
            rows, cols, t = cu + dj, cv - di, True
        return SeparableGrid(rows.to(torch.float32), cols.to(torch.float32), t)

    def _turn(self) -> tuple[float, float]:
        """(cos, sin) of the rotation, exact for quarter turns (so they stay separable)."""
        q = self._quarter_turns()
        if q is not None:
            return [(1, 0), (0, 1), (-1, 0), (0, -1)][q]
        th = math.radians(self.rotation)
        return math.cos(th), math.sin(th)

    def coord_at(self, x: float, y: float) -> tuple[float, float]:
        """The (u, v) under the point (x = column, y = row) of the full pixel grid, before any warp.

        The one pixel-to-plane map of the explorer (drags, zoom about the cursor, presets). It is
        the un-snapped map of :meth:`field`: snapping moves the rendered lattice by less than half
        a pixel, which interaction need not see."""
        s = self.spacing
        ca, sa = self._turn()
        orow, ocol = y - (self.height - 1) / 2, x - (self.width - 1) / 2
        return self.center[0] + s * (ca * orow - sa * ocol), self.center[1] + s * (sa * orow + ca * ocol)

    def pixel_at(self, u: float, v: float) -> tuple[float, float]:
        """The inverse of :meth:`coord_at`: (x, y) of the coordinate (u, v)."""
        s = self.spacing
        ca, sa = self._turn()
        du, dv = (u - self.center[0]) / s, (v - self.center[1]) / s
        return -sa * du + ca * dv + (self.width - 1) / 2, ca * du + sa * dv + (self.height - 1) / 2

    def field(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel coordinates (U, V), each [rows, cols] float32."""
        return self._field_at(*self._indices())

    def sample_field(self, most: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """Coordinates (U, V) of at most ``most`` x ``most`` pixels spread over the whole view (its
        edges included, whatever the window): for decisions about the whole view, such as the
        range its coordinates cover, that every tile of it must take alike."""
        i = torch.linspace(0, self.height - 1, min(most, self.height), dtype=torch.float64).round()
        j = torch.linspace(0, self.width - 1, min(most, self.width), dtype=torch.float64).round()
        return self._field_at(i, j)

    def _field_at(self, i: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._turned_lattice() and (self.warp is None or self.warp.is_identity):
            # R·(lattice point), from integer indices alone: a pan repeats each coordinate bit for bit
            r0, c0 = self.lattice_origin()
            ca, sa = self._turn()
            a, b = ((r0 + i) * self.spacing)[:, None], ((c0 + j) * self.spacing)[None, :]
            return (ca * a - sa * b).to(torch.float32).contiguous(), (sa * a + ca * b).to(torch.float32).contiguous()
        di, dj = self._offsets(i, j)
        half = self.span / (2 * self.zoom)
        pr = (di / half)[:, None].expand(len(di), len(dj))
        pc = (dj / half)[None, :].expand(len(di), len(dj))
        if self.warp is not None:
            pr, pc = self.warp.apply_screen(pr, pc)
            _check_reach(pr, pc)
        ca, sa = self._turn()
        du, dv = (ca * pr - sa * pc) * half, (sa * pr + ca * pc) * half
        u, v = self.center[0] + du, self.center[1] + dv
        if self.warp is not None and self.warp.kind == "custom":
            assert self.warp.fn is not None  # a custom warp is made with its function
            u, v = self.warp.fn(u, v)
            if not (torch.isfinite(u).all() and torch.isfinite(v).all()):
                raise ValueError("the custom warp gives coordinates that are not finite numbers")
        return u.to(torch.float32).contiguous(), v.to(torch.float32).contiguous()

    # ----- persistence ----------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"width": self.width, "height": self.height, "center": list(self.center), "zoom": self.zoom,
             "rotation": self.rotation, "warp": self.warp.to_dict() if self.warp else None,
             "span": self.span, "snap": self.snap, "window": list(self.window) if self.window else None}
        if self.snap and self._quarter_turns() is None:  # which frame the snapped lattice is anchored in
            d["lattice"] = "plane" if self.plane_lattice else "turned"
        return d

    @classmethod
    def from_dict(cls, d: object) -> View:
        """The view a file describes; a field of the wrong type is a ValueError naming it."""
        if not isinstance(d, dict):
            raise ValueError(f"a view must be an object, got {type(d).__name__}")
        window = d.get("window")
        if window and not (isinstance(window, (list, tuple)) and len(window) == 4):
            raise ValueError("view window must be four whole numbers (row, column, rows, columns)")
        lattice = d.get("lattice")
        if lattice not in (None, "plane", "turned"):
            raise ValueError("view lattice must be \"plane\" or \"turned\"")
        view = cls(width=_field(d, "width", int), height=_field(d, "height", int),
                   center=_pair(d, "center", (0.5, 0.5)),
                   zoom=_field(d, "zoom", float, 1), rotation=_field(d, "rotation", float, 0),
                   warp=Warp.from_dict(d.get("warp")), span=_field(d, "span", float, 1),
                   snap=bool(d.get("snap", False)),
                   window=cast(tuple[int, int, int, int],  # four: checked above
                               tuple(_field({"window": n}, "window", int) for n in window)) if window else None,
                   plane_lattice=lattice == "plane")
        if lattice is None and view.snap and view._quarter_turns() is None:
            view = replace(view, plane_lattice=True)  # written before turned lattices: as it rendered then
        return view


def _check_reach(pr: torch.Tensor, pc: torch.Tensor) -> None:
    """Refuse a warp that sends pixels to NaN, infinity or beyond :data:`MAX_WARP_REACH`, before any
    line is computed (a far reach would otherwise size line tables by the formula, not the image)."""
    if not (torch.isfinite(pr).all() and torch.isfinite(pc).all()):
        raise ValueError("the warp gives coordinates that are not finite numbers here (e.g. a division by r "
                         "at the centre: add a small number)")
    reach = float(torch.maximum(pr.abs().max(), pc.abs().max()))
    if reach > MAX_WARP_REACH:
        raise ValueError(f"the warp sends pixels {reach:.3g} half-widths from the centre (at most "
                         f"{MAX_WARP_REACH:g}): make it gentler")


def _parse(which: str, text: object) -> Formula:
    """One expression of a formula warp, read by the grammar; the error says which one and why."""
    try:
        return Formula.parse(text)
    except FormulaError as e:
        shown = repr(text[:60] + ("…" if len(text) > 60 else "")) if isinstance(text, str) else "it"
        raise FormulaError(f"bad warp {which} formula {shown}: {e}") from None


def _pair(d: dict, name: str, default: tuple[float, float]) -> tuple[float, float]:
    """``d[name]`` (key: the last word of ``name``) as a pair of numbers, or a ValueError naming it."""
    value = d.get(name.split()[-1], default)
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise ValueError(f"{name} must be a pair of numbers, got {str(value)[:40]}")
    return (_field({name: value[0]}, name, float), _field({name: value[1]}, name, float))


def _field(d: dict, name: str, kind: type[_Number], default: object = None) -> _Number:
    """``d[name]`` as a number of ``kind`` (a missing one: ``default``, or KeyError when required);
    a value of another type is a ValueError that names the field."""
    value = d[name] if default is None else d.get(name, default)
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())  # not nan, inf or 2.5
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not whole):
        raise ValueError(f"view {name} must be a {'whole number' if kind is int else 'number'}, got {value!r:.60}")
    return kind(value)
