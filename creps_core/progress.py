"""The one progress record and the one job protocol of every long job.

A long job (an export, a video, training, demo data, a structure analysis, a render with
progress) is a generator ``steps(..., cancel=CancelFn) -> Iterator[Progress]``: it yields a
:class:`Progress` after each unit of work, polls ``cancel()`` between units and raises
:class:`Cancelled` when it turned True (finished work stays for a resume). :func:`run_job` drains
such a stream; the command line hands each record to a terminal bar, the explorer to a Qt signal,
tests to a list -- the same records everywhere. ``stage`` is a short human label ("rendering
tiles", "pyramid", "writing"), so a bar can say what it is doing when a job moves from one stage
to the next. This module imports nothing of ours and no torch: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CancelFn = Callable[[], bool]
"""Polled by a job between units of work; True asks it to stop."""

# Stage labels shared by the producers and the tests.
RENDERING = "rendering"
RENDERING_TILES = "rendering tiles"
RENDERING_FRAMES = "rendering frames"
LOADING = "loading"  # a checkpoint being opened: the stage reads "loading NAME (233 MB)"
ENCODING = "encoding"
TRAINING = "training"
PROJECTING = "projecting"
PYRAMID = "pyramid"
WRITING = "writing"
DONE = "done"


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units of ``stage``; ``eta_s`` for the whole job when known."""

    stage: str
    done: int
    total: int
    eta_s: float | None = None
    path: Path | None = None  # what was just written (the final file; a training snapshot)
    note: str | None = None  # something the user should be told (e.g. damaged files replaced)
    figures: tuple[tuple[str, float], ...] = ()  # measurements to show beside the bar (losses, s/kimg)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def format_duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '2 h 07 min'."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def format_bytes(size: float) -> str:
    """'233 MB', '1.2 MB', '512 kB', '80 B' (decimal units, as file managers and download bars show)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(size)} B"


Steps = Iterator[Progress]
"""What a job yields."""


class Cancelled(Exception):
    """Raised by a job (or a render) when its ``cancel()`` turned True."""


def run_job(steps: Iterable[Progress], report: Callable[[Progress], None] | None = None) -> Progress | None:
    """Drain a job's steps, handing each record to ``report``; the last record (a finished job's
    ``DONE`` with the ``path`` it wrote), or None for a job that yielded nothing."""
    last = None
    for step in steps:
        if report is not None:
            report(step)
        last = step
    return last
