"""How the explorer draws a request: which levels, in what order, starting from what (no Qt).

A request is answered progressively. A coarse *preview* (the same region at 1/preview_scale
size, on every k-th point of the full frame's line lattice, so its lines serve the full frame)
comes first, then the *full* frame, shown band by band over the upscaled preview. After a
latent change every line is new, so a coarser preview still (a quarter of the preview's
density, a sixth while a latent control is dragged) answers first; during a drag it is all
that is drawn until the hand rests. Whichever is cheaper goes first: a
full frame that can reuse the previous frame's pixels (a pan) at no more than a preview's cost
skips the preview. All reuse goes through :mod:`pixel_reuse`.

:class:`FramePlanner` remembers the last frame of each level and makes these decisions;
:class:`~creps_viewer.render.worker.RenderWorker` only schedules them on its thread, so the
policy is tested here without threads or Qt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.nn import functional as F

from creps_core.latent.latents import LatentSpec
from creps_core.progress import RENDERING, Cancelled, Progress
from creps_core.render.costs import Work
from creps_core.render.engine import Engine, to_uint8
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, PREVIEW_WARP_QUALITY
from creps_viewer.render.pixel_reuse import Region, plan_reuse, shifted

PREVIEW, PARTIAL, FULL = "preview", "partial", "full"
FAST_FRAME_MS = 40.0  # a full frame predicted faster than this needs no preview
COARSE_ABOVE_PREVIEW_PIXELS = 8192  # previews this large get a coarser preview first after a latent change
# The coarse preview has a quarter of the preview's lines per axis: on the released 256 config at an
# 894x754 viewport that is 103 line coordinates x 169 MFLOP, ~0.09 s at a 2-core machine's 190 GFLOP/s,
# where half the preview's density (206 coordinates) could not answer a new latent within 0.15 s.
# While a latent control is dragged, a sixth (68 coordinates, ~0.06 s): ten answers a second.
COARSE_FACTOR, DRAG_FACTOR = 4, 6
LINE_PREFETCH = 128  # line coordinates computed between two cancel checks (~0.1 s on the released configs)


@dataclass(frozen=True)
class RenderRequest:
    """One immutable snapshot of what to draw."""

    latent: LatentSpec
    view: View  # full-resolution view (snap=True for reuse)
    precision: str = "fp32"
    warp_quality: str = DEFAULT_WARP_QUALITY  # the sharp frame's; previews are drawn at PREVIEW_WARP_QUALITY
    preview_scale: int = 4
    interactive: bool = False  # a drag or a slider is moving: keep up with the hand

    def preview_view(self) -> View:
        """The same region at 1/preview_scale size, on every preview_scale-th point of the
        full view's snapped lattice, so the preview's line values serve the full frame."""
        k = max(1, self.preview_scale)
        v = self.view
        w, h = max(2, round(v.width / k)), max(2, round(v.height / k))
        zoom = v.span / (k * v.spacing * (min(w, h) - 1))  # preview spacing = k * full spacing
        return v.with_(width=w, height=h, zoom=zoom)


@dataclass
class Frame:
    request: RenderRequest
    view: View
    level: str  # PREVIEW, PARTIAL (a full frame still being refined, for display) or FULL
    image: torch.Tensor  # float32 [C, H, W], ~[-1, 1]
    rgb: np.ndarray  # HWC uint8
    ms: float
    pixels_rendered: int  # computed for this frame (the rest was reused or is still the placeholder)
    pixels_total: int
    macs: int = 0  # multiply-accumulates computed for a FULL frame, lines included (the explorer's speed)

    @property
    def is_final(self) -> bool:
        return self.level == FULL

    @classmethod
    def of(cls, req: RenderRequest, view: View, level: str, image: torch.Tensor, started: float,
           pixels: int, macs: int = 0) -> Frame:
        """A frame of ``image``, timed from ``started`` (a perf_counter reading)."""
        ms = (time.perf_counter() - started) * 1000
        return cls(req, view, level, image, np.ascontiguousarray(to_uint8(image)), ms, pixels,
                   view.width * view.height, macs)


@dataclass(frozen=True)
class Step:
    """One render of a request: a level at a view."""

    level: str  # PREVIEW or FULL
    view: View
    completes: bool  # runs to its end even when a newer request arrives (previews, cheap full frames)
    then_wait: float | None = None  # seconds to wait for a newer request before the next step

    def describe(self, canvas: Canvas) -> str:
        """What the status bar says while this step renders."""
        what = "preview" if self.level == PREVIEW else ("updating" if canvas.reused else "refining")
        new = f" ({canvas.pixels} px new)" if canvas.reused else ""
        return f"{what} {self.view.width}×{self.view.height}{new}"


@dataclass
class Canvas:
    """Where a step starts: a frame buffer and the regions of it still to render."""

    image: torch.Tensor
    regions: tuple[Region, ...]
    reused: bool  # the rest of the buffer holds the previous frame's pixels, shifted

    @property
    def pixels(self) -> int:
        return sum(h * w for _, _, h, w in self.regions)

    def bands(self, band_pixels: int) -> Iterator[Region]:
        """The regions as horizontal bands of about ``band_pixels`` pixels (the cancel and
        partial-frame granularity)."""
        for r0, c0, rows, cols in self.regions:
            band = max(1, band_pixels // cols)
            for i in range(r0, r0 + rows, band):
                yield i, c0, min(band, r0 + rows - i), cols


class FramePlanner:
    """Remembers the last frame of each level (for pixel reuse) and plans the next request."""

    def __init__(self, idle_delay: float = 0.15) -> None:
        self.idle_delay = idle_delay  # after an interactive preview: how long the hand may rest before refining
        self._last: dict[str, tuple[tuple, View, torch.Tensor]] = {}
        self.ms_per_pixel: float | None = None  # measured on full frames

    def reset(self) -> None:
        """A new model or engine: nothing of the old frames can be reused."""
        self._last.clear()
        self.ms_per_pixel = None

    @staticmethod
    def _key(req: RenderRequest) -> tuple:
        return req.latent, req.precision, req.warp_quality

    def steps(self, req: RenderRequest) -> list[Step]:
        """The renders that answer ``req``, in order."""
        steps = []
        preview = req.preview_view()
        if self._preview_first(req, preview):
            # Previews complete even when superseded: they are cheap, and a drag that cancelled
            # every frame would show nothing at all.
            if self._coarse_first(req, preview):
                factor = DRAG_FACTOR if req.interactive else COARSE_FACTOR
                coarse = replace(req, preview_scale=factor * req.preview_scale).preview_view()
                steps.append(Step(PREVIEW, coarse, True, 0.0 if req.interactive else None))
            steps.append(Step(PREVIEW, preview, True, self.idle_delay if req.interactive else None))
        cheap = req.preview_scale > 1 and self._cost(FULL, req, req.view) <= preview.width * preview.height
        steps.append(Step(FULL, req.view, cheap))
        return steps

    def canvas(self, req: RenderRequest, step: Step, channels: int) -> Canvas:
        """The previous frame shifted (a pan), else the upscaled preview (a full frame sharpens
        band by band instead of showing holes), else an empty buffer."""
        last = self._last.get(step.level)
        plan = plan_reuse(last[1], step.view) if last is not None and last[0] == self._key(req) else None
        view = step.view
        if plan is not None:
            assert last is not None  # a reuse plan is made only from a last frame
            return Canvas(shifted(last[2], plan), plan.regions, True)
        whole = ((0, 0, view.height, view.width),)
        preview = self._last.get(PREVIEW)
        if (step.level == FULL and preview is not None and preview[0] == self._key(req)
                and preview[1] == req.preview_view()):
            image = F.interpolate(preview[2][None], size=(view.height, view.width), mode="bilinear",
                                  align_corners=True)[0]
            return Canvas(image, whole, False)
        return Canvas(torch.zeros(channels, view.height, view.width), whole, False)

    def render(self, engine: Engine, req: RenderRequest, step: Step, cancel: Callable[[], bool], *,
               band_pixels: int = 16384, partial_interval: float | None = None,
               activity: Callable[[str], None] = lambda text: None,
               progress: Callable[[Progress], None] = lambda p: None,
               partial: Callable[[Frame], None] = lambda f: None) -> Frame:
        """Carry out ``step``: lines first in cancellable chunks, then the pixels band by band.

        ``activity`` hears what is being rendered (for the status bar). A full frame reports
        :class:`Progress` in multiply-accumulates (the line phase included) and, every
        ``partial_interval`` seconds, a PARTIAL frame to show. ``cancel`` is checked between
        chunks and bands (:class:`Cancelled`)."""
        t0, view, full = time.perf_counter(), step.view, step.level == FULL
        quality = req.warp_quality if full else PREVIEW_WARP_QUALITY
        canvas = self.canvas(req, step, engine.cfg.img_channels)
        activity(step.describe(canvas))
        tiles = [view.tile(*region) for region in canvas.regions]
        work = Work(engine.cfg, sum(engine.missing_lines(req.latent, t, req.precision, quality) for t in tiles)
                    if full else 0, canvas.pixels)

        def lines_done(n: int) -> None:
            if full:
                work.add_lines(n)
                progress(Progress(RENDERING, work.done, work.total))

        for tile in tiles:
            engine.prefetch_lines(req.latent, tile, req.precision, warp_quality=quality, chunk=LINE_PREFETCH,
                                  cancel=cancel, progress=lines_done)
        done, shown = 0, time.perf_counter()
        for r0, c0, rows, cols in canvas.bands(band_pixels):
            if cancel():
                raise Cancelled()
            canvas.image[:, r0:r0 + rows, c0:c0 + cols] = engine.render(
                req.latent, view.tile(r0, c0, rows, cols), precision=req.precision, warp_quality=quality,
                cancel=cancel)
            done += rows * cols
            if full:
                work.add_pixels(rows * cols)
                progress(Progress(RENDERING, work.done, work.total))
                if (partial_interval is not None and done < canvas.pixels
                        and time.perf_counter() - shown >= partial_interval):
                    partial(Frame.of(req, view, PARTIAL, canvas.image.clone(), t0, done))
                    shown = time.perf_counter()
        frame = Frame.of(req, view, step.level, canvas.image, t0, canvas.pixels, work.total if full else 0)
        self.record(req, step, canvas.image, frame.ms, canvas.pixels)
        return frame

    def record(self, req: RenderRequest, step: Step, image: torch.Tensor, ms: float, pixels: int) -> None:
        """A step finished: keep its frame for reuse and learn the speed from full frames."""
        self._last[step.level] = (self._key(req), step.view, image)
        if step.level == FULL and pixels:
            rate = ms / pixels
            self.ms_per_pixel = rate if self.ms_per_pixel is None else 0.5 * (self.ms_per_pixel + rate)

    def _preview_first(self, req: RenderRequest, preview: View) -> bool:
        """A preview first unless the full frame is as cheap (a small pan) or fast anyway."""
        if req.preview_scale <= 1:
            return False
        full_cost = self._cost(FULL, req, req.view)
        if full_cost <= self._cost(PREVIEW, req, preview):
            return False
        return self.ms_per_pixel is None or full_cost * self.ms_per_pixel > FAST_FRAME_MS

    def _coarse_first(self, req: RenderRequest, preview: View) -> bool:
        """After a latent change every line is new: a coarser preview (its lines a subset of the
        preview's, so nothing is computed twice) answers first."""
        last = self._last.get(PREVIEW)
        new_latent = last is None or last[0] != self._key(req)
        return new_latent and preview.width * preview.height >= COARSE_ABOVE_PREVIEW_PIXELS

    def _cost(self, level: str, req: RenderRequest, view: View) -> int:
        """Pixels a render of ``view`` at ``level`` would compute, given the previous frame."""
        last = self._last.get(level)
        plan = plan_reuse(last[1], view) if last is not None and last[0] == self._key(req) else None
        return plan.exposed_pixels() if plan is not None else view.width * view.height
