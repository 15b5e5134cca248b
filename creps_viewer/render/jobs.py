"""Long work in background threads (exports, videos, Structure analyses), reported to the GUI through
signals.

Every job is the core's one job protocol: ``steps(cancel) -> Iterator[Progress]``, drained by
:func:`creps_core.progress.run_job` in the job's own Python thread, each record handed to the
``progress`` signal (queued to the receiving widgets in the GUI thread, so the window stays
responsive).  A job polls ``cancel()`` between units; raising ``Cancelled`` means it stopped on
request; ``KeptError`` that something in the way (a file the tool did not write, another job's
unfinished work) was kept, so the widget can ask the user and start again with ``force`` or
``fresh``.  Exactly one of ``finished``, ``cancelled``, ``kept`` or ``failed`` is emitted.

:class:`JobStarter` is the one place that starts exports, videos and projections: it holds the open
model and builds each job's own Engine or generator (engines are not thread-safe), so panels and
dialogs describe *what* to make (an ExportSpec, a VideoSpec, a picture and ProjectOptions) and never
touch the engine.  :class:`LatestJob` runs the
jobs of a window that only wants the answer to its newest question.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from creps_core.io.safe_files import DiskFullError, no_space
from creps_core.jobs import export, video
from creps_core.jobs.outputs import KeptError
from creps_core.model.checkpoint import LoadedModel
from creps_core.progress import DONE, CancelFn, Cancelled, Progress, format_duration, run_job
from creps_core.render.engine import Engine

if TYPE_CHECKING:  # the projector (and the training code it shares) is imported when a projection starts
    from creps_core.train.project import Projection, ProjectOptions

StepsFn = Callable[[CancelFn], Iterable[Progress]]  # a job: its steps, given the function it polls
ResultFn = Callable[[Progress | None], object]  # what a finished job hands to ``finished``, from its last record
Compute = Callable[[CancelFn], object]  # work that returns a value instead of reporting progress


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
    """``steps`` drained in a thread of its own; ``result`` turns the last record into what
    ``finished`` carries (default: the record itself)."""

    progress = Signal(object)  # a creps_core.progress.Progress
    finished = Signal(object)  # result(the last record)
    cancelled = Signal()
    kept = Signal(str, str)  # what was kept, and the remedy: "force" (replace it) or "fresh" (discard it)
    failed = Signal(str)

    def __init__(self, steps: StepsFn, result: ResultFn | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._steps: StepsFn | None = steps
        self._result = result or (lambda last: last)
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
        steps, self._steps = self._steps, None  # a finished job must not keep its model (its closure) alive
        assert steps is not None  # a job starts once
        try:
            result = self._result(run_job(steps(self._cancel.is_set), report=self.progress.emit))
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


def computed(compute: Compute) -> tuple[StepsFn, ResultFn]:
    """Work that returns a value, as a job: one DONE record once it has returned, and the value
    as the job's result."""
    value: list[object] = []

    def steps(cancel: CancelFn) -> Iterable[Progress]:
        value.append(compute(cancel))
        yield Progress(DONE, 1, 1)

    return steps, lambda last: value[0]


class LatestJob(QObject):
    """One job at a time, for a window that only wants the answer to its newest question (the
    Structure window): a submit while a job runs cancels it, and the newest submit runs once it has
    ended; submits superseded meanwhile are dropped.  ``describe()`` is called when its job starts,
    in the GUI thread, so it sees what the previous job left on screen; it returns the work (or
    None: nothing to do).  ``sync=True`` computes in the calling thread (tests).

    Not the render worker's scheduler: that thread owns the explorer's engine, and an analysis
    (seconds) there would stall every frame; a job here builds and owns its engine."""

    finished = Signal(object)  # the value a job's work returned
    failed = Signal(str)

    def __init__(self, sync: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sync = sync
        self.job: BackgroundJob | None = None
        self._pending: Callable[[], Compute | None] | None = None

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def submit(self, describe: Callable[[], Compute | None]) -> None:
        self._pending = describe
        if self.running:
            self.job.cancel()  # its end starts the pending one
            return
        self._start()

    def _start(self) -> None:
        describe, self._pending = self._pending, None
        compute = describe() if describe is not None else None
        if compute is None:
            return
        steps, result = computed(compute)
        if self.sync:
            self.finished.emit(result(run_job(steps(lambda: False))))
            return
        if self.job is not None:
            self.job.deleteLater()  # it has ended (this runs when it ends, or before any job)
        self.job = job = BackgroundJob(steps, result, self)
        job.finished.connect(self.finished)
        job.failed.connect(self.failed)
        for ended in (job.finished, job.cancelled, job.failed):
            ended.connect(lambda *_: self._start())
        job.start()

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until the running job has ended (tests)."""
        if self.job is not None:
            self.job.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Drop what waits, cancel what runs and wait for it: it must not report to a closed window."""
        self._pending = None
        if self.job is not None:
            self.job.cancel()
            self.job.wait(timeout)


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

    def _job(self, steps: StepsFn, result: ResultFn) -> BackgroundJob:
        if self.loaded_model is None:
            raise ValueError("Open a model first.")
        return BackgroundJob(steps, result, self)

    def export(self, spec: export.ExportSpec, out: Path, *, force: bool = False, fresh: bool = False) -> BackgroundJob:
        """An export of ``spec`` to ``out`` (not started: connect its signals, then ``start()``);
        it finishes with the path written. ``force``/``fresh``: as :func:`creps_core.jobs.export.export_steps`."""
        model, device = self.loaded_model, self.device

        def steps(cancel: CancelFn) -> Iterable[Progress]:
            engine = Engine(model, device=device, precision=spec.precision)  # built in the job's thread
            ran = replace(spec, precision=engine.precision)  # auto resolved: the tiles and the record say what ran
            return export.export_steps(engine, ran, out, cancel=cancel, force=force, fresh=fresh)

        return self._job(steps, lambda last: last.path if last is not None and last.path else out)

    def video(self, spec: video.VideoSpec, out: Path, *, force: bool = False, fresh: bool = False) -> BackgroundJob:
        """A video of ``spec`` to ``out`` (not started); it finishes with ``out``."""
        model, device = self.loaded_model, self.device

        def steps(cancel: CancelFn) -> Iterable[Progress]:
            engine = Engine(model, device=device, precision=spec.precision or "auto")
            ran = replace(spec, precision=engine.precision)  # auto resolved: the record says what ran
            return video.video_steps(engine, ran, out, cancel=cancel, force=force, fresh=fresh)

        return self._job(steps, lambda last: out)

    def project(self, target: np.ndarray, opts: ProjectOptions) -> ProjectionJob:
        """A projection of ``target`` (uint8 [size, size, 3]) into the open model (not started).  It
        finishes with the best ws [num_ws, w_dim]; while it runs, and after a cancel, ``job.projection``
        holds the newest render (``preview``) and the best ws so far (``best_ws``)."""
        if self.loaded_model is None:
            raise ValueError("Open a model first.")
        from creps_core.train.project import Projection

        model, device = self.loaded_model, self.device

        def steps(cancel: CancelFn) -> Iterable[Progress]:
            job.projection = Projection(model, target, opts, device)  # built in the job's thread
            return job.projection.steps(cancel)

        job = ProjectionJob(steps, lambda last: job.projection.best_ws if job.projection else None, self)
        return job


class ProjectionJob(BackgroundJob):
    """A projection's job: its :class:`~creps_core.train.project.Projection`, once the job has built it."""

    projection: Projection | None = None
