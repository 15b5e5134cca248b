"""Long jobs (exports, videos) in a background thread, reported to the GUI through signals.

:class:`JobStarter` is the one place that starts them: it holds the open model and builds each
job's own Engine, so panels and dialogs describe *what* to make (an ExportSpec, a VideoSpec)
and never touch the engine.

A job is a plain function ``fn(progress, cancel)`` from :mod:`creps_core` style code:
it calls ``progress(Progress)`` (the core's one progress record) and polls ``cancel()``; raising
``Cancelled`` means it stopped on request; ``KeptError`` that something in the way (a file
the tool did not write, another job's unfinished work) was kept, so the widget can ask the user
and start again with ``force`` or ``fresh``.  The job runs in its own Python
thread (with its own Engine, since engines are not thread-safe); signals emitted
there are queued to the receiving widgets in the GUI thread, so the window stays
responsive.  Exactly one of ``finished``, ``cancelled``, ``kept`` or ``failed`` is emitted.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from creps_core.io.safe_files import DiskFullError, no_space
from creps_core.jobs import export, video
from creps_core.jobs.outputs import KeptError
from creps_core.model.checkpoint import LoadedModel
from creps_core.progress import Cancelled, Progress, format_duration
from creps_core.render.engine import Engine

JobFn = Callable[[Callable[[Progress], None], Callable[[], bool]], object]


def describe_error(e: BaseException) -> str:
    """A message a user can act on (no traceback)."""
    if isinstance(e, OSError):
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        if no_space(e) and not isinstance(e, DiskFullError):  # ours already name the file and what to do
            return f"The disk is full: {e.strerror or e}{where}"
        return f"{e.strerror or e}{where}"
    if isinstance(e, MemoryError):
        return "Out of memory: choose a smaller tile size or output size"
    return str(e) or type(e).__name__


def format_eta(seconds: float | None) -> str:
    return "estimating…" if seconds is None else f"{format_duration(seconds)} left"


class BackgroundJob(QObject):
    progress = Signal(object)  # a creps_core.progress.Progress
    finished = Signal(object)  # the function's result
    cancelled = Signal()
    kept = Signal(str, str)  # what was kept, and the remedy: "force" (replace it) or "fresh" (discard it)
    failed = Signal(str)

    def __init__(self, fn: JobFn, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.running = False

    def start(self) -> None:
        self.running = True
        self._thread = threading.Thread(target=self._run, name="creps-job", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _run(self) -> None:
        fn, self._fn = self._fn, None  # a finished job must not keep its model (its closure) alive
        try:
            result = fn(self.progress.emit, self._cancel.is_set)
        except Cancelled:
            self.running = False
            self.cancelled.emit()
        except KeptError as e:
            self.running = False
            self.kept.emit(e.what, e.remedy)
        except Exception as e:  # noqa: BLE001 -- shown to the user as a message
            traceback.print_exc()
            self.running = False
            self.failed.emit(describe_error(e))
        else:
            self.running = False
            self.finished.emit(result)


class JobStarter(QObject):
    """Starts exports and videos of the open model, each on its own Engine in a BackgroundJob
    (a child of this object, so the window can find and stop every running job)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loaded_model: LoadedModel | None = None
        self.device = "auto"

    def set_model(self, model: LoadedModel, device: str) -> None:
        self.loaded_model, self.device = model, device

    @property
    def running(self) -> list[BackgroundJob]:
        return [job for job in self.findChildren(BackgroundJob) if job.running]

    def _job(self, fn: JobFn) -> BackgroundJob:
        if self.loaded_model is None:
            raise ValueError("Open a model first.")
        return BackgroundJob(fn, self)

    def export(self, spec: export.ExportSpec, out: Path, *, force: bool = False, fresh: bool = False) -> BackgroundJob:
        """An export of ``spec`` to ``out`` (not started: connect its signals, then ``start()``);
        it finishes with the path written. ``force``/``fresh``: as :func:`creps_core.jobs.export.export_steps`."""
        model, device = self.loaded_model, self.device

        def run(progress, cancel) -> Path:
            engine = Engine(model, device=device, precision=spec.precision)
            result = out
            for step in export.export_steps(engine, spec, out, cancel=cancel, force=force, fresh=fresh):
                progress(step)
                result = step.path or result
            return result

        return self._job(run)

    def video(self, spec: video.VideoSpec, out: Path, *, force: bool = False, fresh: bool = False) -> BackgroundJob:
        """A video of ``spec`` to ``out`` (not started); it finishes with ``out``."""
        model, device = self.loaded_model, self.device

        def run(progress, cancel) -> Path:
            engine = Engine(model, device=device, precision=spec.precision or "fp32")
            for step in video.video_steps(engine, spec, out, cancel=cancel, force=force, fresh=fresh):
                progress(step)
            return out

        return self._job(run)

