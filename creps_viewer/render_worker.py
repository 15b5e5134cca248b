"""The render worker: turns immutable requests into frames on one thread.

napari-style: the UI thread only *submits* snapshots; the worker always renders
the newest one, drops the ones superseded while it was busy, and cancels a full
render in progress (between line chunks, bands and the engine's pixel chunks)
when a newer request or a model change arrives.  With ``sync=True`` everything
runs in the calling thread (deterministic tests, screenshots, benchmarks).

Progressive refinement: a request is first rendered as a coarse preview (the same
region at 1/preview_scale size, on every k-th point of the full frame's line
lattice so its lines are reused), then at full resolution, shown band by band
over the upscaled preview (PARTIAL frames).  For interactive requests (drags,
slider moves) the full render waits for a short idle period, so the preview keeps
up with the hand; previews are never cancelled, so a drag always shows motion.
Whichever is cheaper goes first: when the full frame can reuse the previous
frame's pixels (a pan) and costs no more than a preview, the preview is skipped.
All frames go through :mod:`pixel_reuse`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F
from PySide6.QtCore import QObject, Signal

from creps_core.checkpoint import CheckpointError, LoadedModel
from creps_core.costs import line_macs_per_coordinate, pixel_macs
from creps_core.demo import open_model
from creps_core.engine import Engine, RenderCancelled, to_uint8, usable_cpus
from creps_core.latents import LatentSpec
from creps_core.views import View

from .pixel_reuse import plan_reuse, shifted

PREVIEW, PARTIAL, FULL = "preview", "partial", "full"
FAST_FRAME_MS = 40.0  # a full frame predicted faster than this needs no preview
LINE_PREFETCH = 128  # line coordinates computed between two cancel checks (~0.1 s on the released configs)
COARSE_ABOVE_PREVIEW_PIXELS = 8192  # previews this large get a half-density preview first after a latent change


def default_threads() -> int:
    """Torch threads for rendering: all cores but one, which stays free for the UI thread.

    Oversubscribed OpenMP pools spin-wait badly: on a busy 2-core machine two threads
    rendered a frame 50x slower than one.
    """
    return max(1, usable_cpus() - 1)


@dataclass(frozen=True)
class RenderRequest:
    """One immutable snapshot of what to draw."""

    latent: LatentSpec
    view: View  # full-resolution view (snap=True for reuse)
    precision: str = "fp32"
    exact: bool = False
    preview_scale: int = 4
    interactive: bool = False

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

    @property
    def is_final(self) -> bool:
        return self.level == FULL


@dataclass(frozen=True)
class _ModelJob:
    source: str | Path | LoadedModel
    device: str


class RenderWorker(QObject):
    """Owns the engine (engines are not thread-safe) and the previous frames."""

    frameReady = Signal(object)  # Frame
    renderFailed = Signal(str)
    activity = Signal(str)  # what is rendering now; "" when idle
    progress = Signal(float)
    modelLoaded = Signal(object)  # LoadedModel
    modelFailed = Signal(str)

    def __init__(self, sync: bool = False, idle_delay: float = 0.15, band_pixels: int = 16384,
                 threads: int | None = None, partial_interval: float | None = 0.5,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.partial_interval = partial_interval  # seconds between partial full frames (None: never)
        torch.set_num_threads(threads or default_threads())  # process-wide: the engine runs only here
        self.sync = sync
        self.idle_delay = idle_delay
        self.band_pixels = band_pixels
        self.engine: Engine | None = None
        self.model: LoadedModel | None = None
        self._generation = 0
        self._last: dict[str, tuple[tuple, View, torch.Tensor]] = {}
        self._ms_per_pixel: float | None = None
        self._cond = threading.Condition()
        self._request: RenderRequest | None = None
        self._model_job: _ModelJob | None = None
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None
        if not sync:
            self._thread = threading.Thread(target=self._run, name="creps-render", daemon=True)
            self._thread.start()

    # ----- public API (UI thread) ------------------------------------------------------
    def load_model(self, source: str | Path | LoadedModel, device: str = "auto") -> None:
        """Open a model by path or ``--network`` name (or take a loaded one) and build an engine.

        On failure the previous model stays in use."""
        self._post(model_job=_ModelJob(source, device))

    def submit(self, request: RenderRequest) -> None:
        """Render this request next; any older pending request is dropped."""
        self._post(request=request)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is pending or running (tests, screenshots)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._request is not None or self._model_job is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ----- scheduling ---------------------------------------------------------------------
    def _post(self, request: RenderRequest | None = None, model_job: _ModelJob | None = None) -> None:
        if self.sync:
            if model_job is not None:
                self._do_model(model_job)
            if request is not None:
                self._do_render(request, cancel=lambda: False)
            return
        with self._cond:
            if model_job is not None:
                self._model_job = model_job
            if request is not None:
                self._request = request
            self._cond.notify_all()

    def _superseded(self) -> bool:
        return self._stop or self._request is not None or self._model_job is not None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop and self._request is None and self._model_job is None:
                    self._cond.wait()
                if self._stop:
                    return
                job, req = self._model_job, None
                if job is None:
                    req, self._request = self._request, None
                self._model_job = None
                self._busy = True
            try:
                if job is not None:
                    self._do_model(job)
                else:
                    self._do_render(req, cancel=self._superseded)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _wait_for_newer(self, seconds: float) -> bool:
        with self._cond:
            return self._cond.wait_for(self._superseded, timeout=seconds)

    # ----- jobs ---------------------------------------------------------------------------
    def _do_model(self, job: _ModelJob) -> None:
        name = job.source.path if isinstance(job.source, LoadedModel) else job.source
        self.activity.emit(f"opening {Path(str(name)).name}…")
        try:
            model = job.source if isinstance(job.source, LoadedModel) else open_model(str(job.source))
            engine = Engine(model, device=job.device)
        except CheckpointError as e:
            self.modelFailed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - any failure must leave the previous model usable
            self.modelFailed.emit(f"{name}: could not open the model ({type(e).__name__}: {e})")
        else:
            self.engine, self.model = engine, model
            self._generation += 1
            self._last.clear()
            self._ms_per_pixel = None
            self.modelLoaded.emit(model)
        finally:
            self.activity.emit("")

    def _do_render(self, req: RenderRequest, cancel: Callable[[], bool]) -> None:
        if self.engine is None:
            return
        key = (self._generation, req.latent, req.precision, req.exact)
        preview = req.preview_view()
        try:
            if self._preview_first(req, key, preview):
                # Previews are never cancelled: they are cheap, and a drag that cancels
                # every frame would show nothing at all.
                if self._coarse_first(req, key, preview):
                    # while a latent control is being dragged, coarser still: it must keep up
                    factor = 4 if req.interactive else 2
                    coarse = replace(req, preview_scale=factor * req.preview_scale).preview_view()
                    self._render_level(req, PREVIEW, coarse, key, lambda: self._stop)
                    if req.interactive and not self.sync and self._wait_for_newer(0.0):
                        return  # a slider is moving: answer the next value first
                self._render_level(req, PREVIEW, preview, key, lambda: self._stop)
                if req.interactive and not self.sync and self._wait_for_newer(self.idle_delay):
                    return
            self._render_level(req, FULL, req.view, key, self._full_cancel(req, key, preview, cancel))
        except RenderCancelled:
            pass
        except (torch.OutOfMemoryError, MemoryError):
            self._recover_memory()
            self.renderFailed.emit(
                f"Out of memory rendering {req.view.width}×{req.view.height} on {self.engine.device}. "
                "Try a smaller window, a lower precision (bf16/fp16) or the CPU.")
        except Exception as e:  # noqa: BLE001 - a failed frame must not kill the worker
            if "out of memory" in str(e).lower():
                self._recover_memory()
            self.renderFailed.emit(f"Render failed: {e}")
        finally:
            self.activity.emit("")

    def _prefetch_lines(self, req: RenderRequest, view: View, regions, cancel: Callable[[], bool],
                        progress: Callable[[int], None] = lambda n: None) -> None:
        """Fill the engine's line cache in small chunks, checking ``cancel`` in between.

        The engine computes all lines of a tile in one uncancellable step (seconds for a
        wide frame of a big model on a CPU); doing it here first keeps a superseded
        render from delaying the next one.  Warped views build line tables inside the
        engine and are not covered.
        """
        if not view.is_separable:
            return
        engine = self.engine
        program = engine.program(engine.ws(req.latent), req.precision)
        for r0, c0, rows, cols in regions:
            grid = view.tile(r0, c0, rows, cols).separable()
            for slot, coords in ((0, grid.rows), (1, grid.cols)):
                for i in range(0, coords.numel(), LINE_PREFETCH):
                    if cancel():
                        raise RenderCancelled()
                    before = engine.stats.line_coords_computed
                    engine.lines(program, coords[i:i + LINE_PREFETCH], slot)
                    progress(engine.stats.line_coords_computed - before)

    def _line_work(self, req: RenderRequest, view: View, regions) -> int:
        """Line coordinates a render of these regions will compute (those not cached yet)."""
        if not view.is_separable:
            return 0
        engine = self.engine
        program = engine.program(engine.ws(req.latent), req.precision)
        missing = 0
        for r0, c0, rows, cols in regions:
            grid = view.tile(r0, c0, rows, cols).separable()
            for slot, coords in ((0, grid.rows), (1, grid.cols)):
                missing += sum(1 for t in set(coords.tolist()) if t not in program.lines[slot])
        return missing

    def _recover_memory(self) -> None:
        self._last.clear()
        if self.engine is not None:
            self.engine.clear_caches()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _preview_first(self, req: RenderRequest, key: tuple, preview: View) -> bool:
        """Render a preview first unless the full frame is as cheap (a small pan) or fast anyway."""
        if req.preview_scale <= 1:
            return False
        full_cost = self._cost(FULL, key, req.view)
        if full_cost <= self._cost(PREVIEW, key, preview):
            return False
        return self._ms_per_pixel is None or full_cost * self._ms_per_pixel > FAST_FRAME_MS

    def _coarse_first(self, req: RenderRequest, key: tuple, preview: View) -> bool:
        """After a latent change every line is new: a coarser preview (half the preview's density,
        a quarter while a latent control is dragged; its lines a subset of the preview's, so
        nothing is computed twice) answers first."""
        last = self._last.get(PREVIEW)
        new_latent = last is None or last[0] != key
        return new_latent and preview.width * preview.height >= COARSE_ABOVE_PREVIEW_PIXELS

    def _full_cancel(self, req: RenderRequest, key: tuple, preview: View,
                     cancel: Callable[[], bool]) -> Callable[[], bool]:
        """A full frame no dearer than a preview (pixel reuse) completes like a preview would."""
        if req.preview_scale > 1 and self._cost(FULL, key, req.view) <= preview.width * preview.height:
            return lambda: self._stop
        return cancel

    def _cost(self, level: str, key: tuple, view: View) -> int:
        """Pixels a render of ``view`` at ``level`` would compute, given the previous frame."""
        last = self._last.get(level)
        plan = plan_reuse(last[1], view) if last is not None and last[0] == key else None
        return plan.exposed_pixels() if plan is not None else view.width * view.height

    def _render_level(self, req: RenderRequest, level: str, view: View, key: tuple,
                      cancel: Callable[[], bool]) -> None:
        engine = self.engine
        t0 = time.perf_counter()
        last = self._last.get(level)
        plan = plan_reuse(last[1], view) if last is not None and last[0] == key else None
        if plan is not None:
            image, regions = shifted(last[2], plan), plan.regions
        else:
            image = self._placeholder(key, req, view)
            regions = ((0, 0, view.height, view.width),)
        total = sum(h * w for _, _, h, w in regions)
        what = "preview" if level == PREVIEW else ("refining" if plan is None else "updating")
        self.activity.emit(f"{what} {view.width}×{view.height}" + (f" ({total} px new)" if plan else ""))
        # Progress counts the line phase too (seconds on a big model), weighted by its FLOPs.
        line_cost, pixel_cost = line_macs_per_coordinate(self.engine.cfg), pixel_macs(self.engine.cfg)
        line_total = self._line_work(req, view, regions) * line_cost if level == FULL else 0
        work_total = line_total + total * pixel_cost
        lines_done = [0]

        def line_progress(n: int) -> None:
            lines_done[0] += n * line_cost
            if level == FULL and work_total:
                self.progress.emit(min(lines_done[0], line_total) / work_total)

        self._prefetch_lines(req, view, regions, cancel, line_progress)
        done, shown = 0, time.perf_counter()
        for r0, c0, rows, cols in regions:
            band = max(1, self.band_pixels // cols)
            for i in range(r0, r0 + rows, band):
                if cancel():
                    raise RenderCancelled()
                n = min(band, r0 + rows - i)
                image[:, i:i + n, c0:c0 + cols] = engine.render(
                    req.latent, view.tile(i, c0, n, cols), precision=req.precision, exact=req.exact, cancel=cancel)
                done += n * cols
                if level == FULL and total:
                    self.progress.emit((line_total + done * pixel_cost) / work_total)
                    if (self.partial_interval is not None and done < total
                            and time.perf_counter() - shown >= self.partial_interval):
                        self._emit(req, view, PARTIAL, image.clone(), t0, done)
                        shown = time.perf_counter()
        ms = self._emit(req, view, level, image, t0, total)
        if level == FULL and total:
            rate = ms / total
            self._ms_per_pixel = rate if self._ms_per_pixel is None else 0.5 * (self._ms_per_pixel + rate)
        self._last[level] = (key, view, image)

    def _emit(self, req: RenderRequest, view: View, level: str, image: torch.Tensor, t0: float, pixels: int) -> float:
        ms = (time.perf_counter() - t0) * 1000
        rgb = np.ascontiguousarray(to_uint8(image))
        self.frameReady.emit(Frame(req, view, level, image, rgb, ms, pixels, view.width * view.height))
        return ms

    def _placeholder(self, key: tuple, req: RenderRequest, view: View) -> torch.Tensor:
        """A new frame buffer; for a full frame, the upscaled preview of the same request,
        so partial frames sharpen band by band instead of showing holes."""
        last = self._last.get(PREVIEW)
        if view is req.view and last is not None and last[0] == key and last[1] == req.preview_view():
            return F.interpolate(last[2][None], size=(view.height, view.width), mode="bilinear",
                                 align_corners=True)[0]
        return torch.zeros(self.engine.cfg.img_channels, view.height, view.width)
