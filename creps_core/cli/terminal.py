"""What ``creps`` draws on the terminal: notes on stderr, progress bars, estimates.

Results (``wrote ...``, JSON) go to stdout with a plain ``print``, so they can be piped; everything
said *about* the work goes to stderr through here.  Text that may hold a name from a file (a
checkpoint's path, a note from a job about a damaged tile) is escaped by
:func:`~creps_core.io.untrusted.printable` first, so a name cannot move the cursor or rewrite the
line.  Jobs report :class:`~creps_core.progress.Progress` records and never draw; the bars here
are the command line's way of showing them (the explorer shows the same records in Qt).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tqdm import tqdm

from creps_core.io.untrusted import printable
from creps_core.progress import Progress, format_duration

LONG_JOB_S = 60.0  # print an estimate before work expected to take longer than this


def say(message: str) -> None:
    """A note for the user on stderr (stdout stays for results); names from files in it are escaped."""
    print(printable(message), file=sys.stderr)


def announce_estimate(seconds: float, what: str) -> None:
    """Say how long ``what`` will take, when that is long enough to be worth knowing (and stopping)."""
    if seconds > LONG_JOB_S:
        say(f"{what}: about {format_duration(seconds)} on this machine (Ctrl-C stops it)")


class TerminalProgress:
    """Draws :class:`Progress` records as a tqdm bar labelled with the stage; a new stage starts a
    new bar.  ``delay`` hides the bar of work that finishes quickly.  A record that names a written
    file (``path``) is the job's last word, not a unit of work: it moves no bar."""

    def __init__(self, unit: str = "it", delay: float = 0.0) -> None:
        self.unit, self.delay = unit, delay
        self.bar: tqdm | None = None
        self.stage: str | None = None

    def __call__(self, step: Progress) -> None:
        if step.note:
            say(f"note: {step.note}")
        if step.path is not None:
            return
        if self.bar is None or step.stage != self.stage:
            self.close()
            self.stage = step.stage
            self.bar = tqdm(total=step.total, desc=step.stage, unit=self.unit, dynamic_ncols=True,
                            delay=self.delay, leave=True)
        if self.bar.total != step.total:
            self.bar.total = step.total
        self.bar.update(step.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TrainingProgress(TerminalProgress):
    """One bar for a whole training run (or projection): images shown (scaled: 12.3k) or steps, the loop's
    figures (losses, s/kimg) beside it, and its notes written above it.

    The bar appears with the first record, so a dataset that cannot be read is one line with no
    bar; a resumed run's bar starts at the images already shown, so its rate is this run's."""

    def __init__(self, unit: str = "img", scaled: bool = True) -> None:
        super().__init__(unit=unit)
        self.scaled = scaled  # 12.3k img; steps are counted as they are

    def __call__(self, step: Progress) -> None:
        if self.bar is None:
            self.bar = tqdm(total=step.total, initial=step.done, desc=step.stage, unit=self.unit,
                            unit_scale=self.scaled, dynamic_ncols=True)
        bar = self.bar
        bar.total, bar.n = step.total, step.done
        bar.set_postfix({name: f"{value:.3g}" for name, value in step.figures}, refresh=False)
        bar.refresh()
        if step.note:
            bar.write(printable(step.note))


def fraction_to_progress(report: Callable[[Progress], None], stage: str,
                         steps: int = 100) -> Callable[[float], None]:
    """Adapts the engine's ``progress(fraction)`` callback to Progress records (a bar in percent)."""
    return lambda f: report(Progress(stage, int(round(f * steps)), steps))
