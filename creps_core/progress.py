"""The one progress record every long job reports (exports, videos, renders, training).

The core yields or calls back with :class:`Progress`; the CLI draws it with tqdm, the GUI with
progress bars.  ``stage`` is a short human label ("rendering tiles", "pyramid", "writing"), so
a bar can say what it is doing when a job moves from one stage to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Stage labels shared by the producers and the tests.
RENDERING = "rendering"
RENDERING_TILES = "rendering tiles"
RENDERING_FRAMES = "rendering frames"
ENCODING = "encoding"
TRAINING = "training"
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
