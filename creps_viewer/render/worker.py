"""The render worker: turns immutable requests into frames on one thread.

napari-style: the UI thread only *submits* snapshots; the worker always renders
the newest one, drops the ones superseded while it was busy, and cancels a full
render in progress (between line chunks, bands and the engine's pixel chunks)
when a newer request or a model change arrives.  With ``sync=True`` everything
runs in the calling thread (deterministic tests, screenshots, benchmarks).

What to render for a request (previews, reuse, bands) is decided and drawn by
:class:`~creps_viewer.render.frame_plan.FramePlanner` (no Qt); this module only schedules it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Signal

from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import CheckpointError, LoadedModel
from creps_core.model.demo import open_model
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.hardware import DevicePolicy, usable_cpus
from creps_viewer.render.frame_plan import FramePlanner, RenderRequest, Step


def default_threads() -> int:
    """Torch threads for rendering: all cores but one, which stays free for the UI thread.

    Oversubscribed OpenMP pools spin-wait badly: on a busy 2-core machine two threads
    rendered a frame 50x slower than one.
    """
    return max(1, usable_cpus() - 1)


class RenderWorker(QObject):
    """Owns the engine (engines are not thread-safe) and the frame planner."""

    frameReady = Signal(object)  # Frame
    renderFailed = Signal(str)
    activity = Signal(str)  # what is rendering now; "" when idle
    progress = Signal(object)  # a creps_core.progress.Progress of the full frame being refined
    modelLoaded = Signal(object)  # LoadedModel
    modelFailed = Signal(str)

    def __init__(self, sync: bool = False, idle_delay: float = 0.15, band_pixels: int = 16384,
                 threads: int | None = None, partial_interval: float | None = 0.5,
                 policy: DevicePolicy | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.policy = policy  # None: the device's own (hardware.policy_for); tests force a GPU's on the CPU
        self.partial_interval = partial_interval  # seconds between partial full frames (None: never)
        torch.set_num_threads(threads or default_threads())  # process-wide: the engine runs only here
        self.sync = sync
        self.band_pixels = band_pixels
        self.planner = FramePlanner(idle_delay)
        self.engine: Engine | None = None
        self.loaded_model: LoadedModel | None = None
        self._cond = threading.Condition()
        self._request: RenderRequest | None = None
        self._model_job: tuple | None = None
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
        self._post(model_job=(source, device))

    def submit(self, request: RenderRequest) -> None:
        """Render this request next; any older pending request is dropped."""
        self._post(request=request)

    def ws_of(self, latent: LatentSpec):
        """The ws [num_ws, w_dim] (numpy float32) of a latent on the open model, from the UI thread:
        only the engine's LatentSpace is used, which is locked for two threads (the render thread
        uses it too); the mapping network's frozen weights are only read."""
        engine = self.engine  # a model load may replace it meanwhile
        if engine is None:
            raise ValueError("Open a model first.")
        return engine.ws(latent).cpu().numpy()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until nothing is pending or running (tests, screenshots)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._request is None and self._model_job is None and not self._busy,
                                       timeout)

    def shutdown(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # ----- scheduling ---------------------------------------------------------------------
    def _post(self, request: RenderRequest | None = None, model_job: tuple | None = None) -> None:
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
    def _do_model(self, job: tuple[str | Path | LoadedModel, str]) -> None:
        source, device = job
        name = source.path if isinstance(source, LoadedModel) else source
        self.activity.emit(f"opening {Path(str(name)).name}…")
        try:
            model = source if isinstance(source, LoadedModel) else open_model(str(source))
            # precision 'auto': what requests asking for auto get
            engine = Engine(model, device=device, precision="auto", policy=self.policy)
        except CheckpointError as e:
            self.modelFailed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - any failure must leave the previous model usable
            self.modelFailed.emit(f"{name}: could not open the model ({type(e).__name__}: {e})")
        else:
            self.engine, self.loaded_model = engine, model
            self.planner.reset()
            self.modelLoaded.emit(model)
        finally:
            self.activity.emit("")

    def _do_render(self, req: RenderRequest, cancel: Callable[[], bool]) -> None:
        if self.engine is None:
            return
        try:
            for step in self.planner.steps(req, whole_frames=not self.engine.policy.progressive):
                self._render_step(req, step, (lambda: self._stop) if step.completes else cancel)
                if step.then_wait is not None and not self.sync and self._wait_for_newer(step.then_wait):
                    return  # the hand moved on: answer the newer request first
        except Cancelled:
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

    def _recover_memory(self) -> None:
        self.planner.reset()
        self.engine.clear_caches()
        self.engine.policy.release(self.engine.device)  # a GPU's allocator keeps freed blocks otherwise

    def _render_step(self, req: RenderRequest, step: Step, cancel: Callable[[], bool]) -> None:
        frame = self.planner.render(self.engine, req, step, cancel, band_pixels=self.band_pixels,
                                    partial_interval=self.partial_interval, activity=self.activity.emit,
                                    progress=self.progress.emit, partial=self.frameReady.emit)
        self.frameReady.emit(frame)
