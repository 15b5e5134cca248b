"""How the explorer draws a request: which levels, in what order, starting from what (no Qt).

A request is answered progressively. A coarse *preview* (the same region at 1/preview_scale
size, on every k-th point of the full frame's line lattice, so its lines serve the full frame)
comes first, then the *full* frame, shown band by band over the upscaled preview. After a
latent change every line is new, so a coarser preview still (a quarter of the preview's
density, a sixth while a latent control is dragged) answers first; during a drag it is all
that is drawn until the hand rests. Whichever is cheaper goes first: a
full frame that can reuse the previous frame's pixels (a pan) at no more than a preview's cost
skips the preview. All reuse goes through :mod:`pixel_reuse`. Nothing unrendered is ever shown
flat: a partial frame is shown only where every part still to render holds the upscaled preview
(after a pan, the exposed strips take it too). A device whose policy draws whole frames (a GPU,
:class:`~creps_core.render.hardware.DevicePolicy`) gets one full frame per request, no previews
and no bands.

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
from creps_core.render.features import FeatureView, feature_picture
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
    feature: FeatureView | None = None  # a block's features to draw instead of the image (the feature view)

    @property
    def engine_precision(self) -> str | None:
        """The precision to hand the engine: None for ``auto`` (what the engine chose when it was
        built with ``auto``, its calibration included)."""
        return None if self.precision == "auto" else self.precision

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
    precision: str = "fp32"  # what the engine computed in (``auto`` resolved)
    warp_quality: str | None = None  # what a turned or warped view was drawn at (None: the request's)

    @property
    def is_final(self) -> bool:
        """The request's own frame: full, and at its quality (a GPU's frames during a drag are full
        frames at draft: shown, never saved as the request's)."""
        drawn, asked = self.warp_quality or self.request.warp_quality, self.request.warp_quality
        return self.level == FULL and self.view.pixel_quality(drawn) == self.view.pixel_quality(asked)

    @classmethod
    def of(cls, req: RenderRequest, view: View, level: str, image: torch.Tensor, started: float,
           pixels: int, macs: int = 0, precision: str = "fp32", rgb: np.ndarray | None = None) -> Frame:
        """A frame of ``image``, timed from ``started`` (a perf_counter reading); ``rgb``: its
        conversion, where the caller kept it up to date."""
        ms = (time.perf_counter() - started) * 1000
        rgb = np.ascontiguousarray(to_uint8(image)) if rgb is None else rgb
        return cls(req, view, level, image, rgb, ms, pixels, view.width * view.height, macs, precision)


@dataclass(frozen=True)
class Step:
    """One render of a request: a level at a view."""

    level: str  # PREVIEW or FULL
    view: View
    completes: bool  # runs to its end even when a newer request arrives (previews, cheap full frames)
    then_wait: float | None = None  # seconds to wait for a newer request before the next step
    moving: bool = False  # a whole frame drawn while the hand moves (a GPU's drag frames): drawn as a preview is

    def warp_quality(self, req: RenderRequest) -> str:
        """How this step's rotated and warped pixels get their lines: the request's quality for the
        sharp frame, draft (:data:`PREVIEW_WARP_QUALITY`) for previews and for whole frames drawn
        while the hand moves (the frame after it rests is drawn at the request's quality)."""
        return req.warp_quality if self.level == FULL and not self.moving else PREVIEW_WARP_QUALITY

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
    filled: bool = False  # the regions still to render hold the upscaled preview (fit to be shown)

    @property
    def pixels(self) -> int:
        return sum(h * w for _, _, h, w in self.regions)

    def bands(self, band_pixels: int, rows_per_round: Callable[[int], int] = lambda cols: 1) -> Iterator[Region]:
        """The regions as horizontal bands of about ``band_pixels`` pixels (the cancel and
        partial-frame granularity), each a whole number of ``rows_per_round(cols)`` rows (one
        chunk per pool worker: no worker idles at the end of a band)."""
        for r0, c0, rows, cols in self.regions:
            band, unit = max(1, band_pixels // cols), max(1, rows_per_round(cols))
            if unit <= band:  # (bands narrower than a round stay as asked: the cancel granularity)
                band = round(band / unit) * unit
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
    def _key(req: RenderRequest, quality: str, view: View) -> tuple:
        """What a kept frame must share with a new one for its pixels to be reused: the latent,
        the precision and the warp quality its pixels were drawn at (:meth:`View.pixel_quality`)."""
        return req.latent, req.precision, view.pixel_quality(quality)

    def _level_key(self, req: RenderRequest, level: str, view: View) -> tuple:
        """The key of the frames ``level`` draws for ``req`` where the hand rests (previews at draft)."""
        return self._key(req, req.warp_quality if level == FULL else PREVIEW_WARP_QUALITY, view)

    def steps(self, req: RenderRequest, whole_frames: bool = False) -> list[Step]:
        """The renders that answer ``req``, in order. ``whole_frames`` (a device that draws a frame
        in milliseconds): the full frame alone, run to its end during a drag (else a drag that
        cancelled every frame would show nothing)."""
        if whole_frames:
            return [Step(FULL, req.view, req.interactive, moving=req.interactive)]
        steps = []
        preview = req.preview_view()
        if req.feature is not None:  # a feature picture: a preview only while a hand moves, then the whole view
            if req.interactive and req.preview_scale > 1:
                steps.append(Step(PREVIEW, preview, True, self.idle_delay))
            return [*steps, Step(FULL, req.view, False)]
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
        key = self._key(req, step.warp_quality(req), step.view)
        plan = plan_reuse(last[1], step.view) if last is not None and last[0] == key else None
        view = step.view
        upscaled = self._upscaled_preview(req) if step.level == FULL else None
        if plan is not None:
            assert last is not None  # a reuse plan is made only from a last frame
            image = shifted(last[2], plan)
            if upscaled is not None:  # the exposed strips show the preview until they are rendered
                for r0, c0, rows, cols in plan.regions:
                    image[:, r0:r0 + rows, c0:c0 + cols] = upscaled[:, r0:r0 + rows, c0:c0 + cols]
            return Canvas(image, plan.regions, True, upscaled is not None)
        whole = ((0, 0, view.height, view.width),)
        if upscaled is not None:
            return Canvas(upscaled, whole, False, True)
        return Canvas(torch.zeros(channels, view.height, view.width), whole, False)

    def _upscaled_preview(self, req: RenderRequest) -> torch.Tensor | None:
        """The last preview, when it shows this request, at the full frame's size."""
        preview = self._last.get(PREVIEW)
        view = req.preview_view()
        if preview is None or preview[0] != self._level_key(req, PREVIEW, view) or preview[1] != view:
            return None
        return F.interpolate(preview[2][None], size=(req.view.height, req.view.width), mode="bilinear",
                             align_corners=True)[0]

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
        if req.feature is not None:
            return self._render_feature(engine, req, step, cancel, activity)
        t0, view, full = time.perf_counter(), step.view, step.level == FULL
        quality = step.warp_quality(req)
        canvas = self.canvas(req, step, engine.cfg.img_channels)
        activity(step.describe(canvas))
        tiles = [view.tile(*region) for region in canvas.regions]
        precision = req.engine_precision
        ran = precision or engine.precision
        work = Work(engine.cfg, sum(engine.missing_lines(req.latent, t, precision, quality) for t in tiles)
                    if full else 0, canvas.pixels)

        def lines_done(n: int) -> None:
            if full:
                work.add_lines(n)
                progress(Progress(RENDERING, work.done, work.total))

        whole = not engine.policy.progressive  # a GPU: each region in one render, lines and all
        if not whole:
            for tile in tiles:
                engine.prefetch_lines(req.latent, tile, precision, warp_quality=quality, chunk=LINE_PREFETCH,
                                      cancel=cancel, progress=lines_done)
        done, shown = 0, time.perf_counter()
        # Partial frames are shown from an RGB copy kept up to date band by band: each band is
        # converted once, not the whole canvas at every partial frame (a cost that grew with the
        # number of partial frames, i.e. with how busy the machine was).
        partials = full and partial_interval is not None and canvas.filled
        rgb = np.ascontiguousarray(to_uint8(canvas.image)) if partials else None
        bands = canvas.bands(canvas.pixels if whole else band_pixels, engine.pixel_rows_per_round)
        for r0, c0, rows, cols in bands:
            if cancel():
                raise Cancelled()
            band = engine.render(req.latent, view.tile(r0, c0, rows, cols), precision=precision,
                                 warp_quality=quality, cancel=cancel)
            canvas.image[:, r0:r0 + rows, c0:c0 + cols] = band
            if rgb is not None:
                rgb[r0:r0 + rows, c0:c0 + cols] = to_uint8(band)
            done += rows * cols
            if full:
                work.add_pixels(rows * cols)
                progress(Progress(RENDERING, work.done, work.total))
                if (rgb is not None and done < canvas.pixels and partial_interval is not None
                        and time.perf_counter() - shown >= partial_interval):
                    partial(Frame.of(req, view, PARTIAL, canvas.image.clone(), t0, done, precision=ran,
                                     rgb=rgb.copy()))
                    shown = time.perf_counter()
        frame = replace(Frame.of(req, view, step.level, canvas.image, t0, canvas.pixels, work.total if full else 0,
                                 ran, rgb), warp_quality=quality)
        self.record(req, step, canvas.image, frame.ms, canvas.pixels)
        return frame

    @staticmethod
    def _render_feature(engine: Engine, req: RenderRequest, step: Step, cancel: Callable[[], bool],
                        activity: Callable[[str], None]) -> Frame:
        """The feature view's picture of ``step``'s view (never kept for pixel reuse: its colours are
        scaled to the whole view, so a shifted one would not match)."""
        assert req.feature is not None
        t0, view = time.perf_counter(), step.view
        activity(f"{req.feature.describe(engine.cfg.composed_blocks)} {view.width}×{view.height}")
        rgb = feature_picture(engine, req.latent, view, req.feature, req.engine_precision, cancel,
                              step.warp_quality(req))
        image = torch.from_numpy(rgb).permute(2, 0, 1).float() / 127.5 - 1
        return Frame(req, view, step.level, image, rgb, (time.perf_counter() - t0) * 1000,
                     view.width * view.height, view.width * view.height, 0, req.engine_precision or engine.precision)

    def record(self, req: RenderRequest, step: Step, image: torch.Tensor, ms: float, pixels: int) -> None:
        """A step finished: keep its frame for reuse and learn the speed from full frames."""
        self._last[step.level] = (self._key(req, step.warp_quality(req), step.view), step.view, image)
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
        new_latent = last is None or last[0] != self._level_key(req, PREVIEW, preview)
        return new_latent and preview.width * preview.height >= COARSE_ABOVE_PREVIEW_PIXELS

    def _cost(self, level: str, req: RenderRequest, view: View) -> int:
        """Pixels a render of ``view`` at ``level`` would compute, given the previous frame."""
        last = self._last.get(level)
        plan = plan_reuse(last[1], view) if last is not None and last[0] == self._level_key(req, level, view) else None
        return plan.exposed_pixels() if plan is not None else view.width * view.height
