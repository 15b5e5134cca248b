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
import time
from collections.abc import Callable

from tqdm import tqdm

from creps_core.io.untrusted import printable
from creps_core.progress import Progress, format_duration

LONG_JOB_S = 60.0  # print an estimate before work expected to take longer than this
LOAD_BAR_DELAY_S = 1.0  # a model's load shows its bar once it has taken this long


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
    file (``path``) is the job's last word, not a unit of work: it moves no bar.

    A stage's first record may start past 0 (a resumed export's finished tiles): its bar starts
    there, so its rate and estimate count only the work left.  A bar left behind by a new stage or
    by the end is closed where the job last put it, which for a finished job is its end."""

    def __init__(self, unit: str = "it", delay: float = 0.0) -> None:
        self.unit, self.delay = unit, delay
        self.bar: tqdm | None = None
        self.stage: str | None = None

    def __call__(self, step: Progress) -> None:
        if step.note:
            self.note(step.note)
        if step.path is not None:
            return
        if self.bar is None or step.stage != self.stage:
            self.close()
            self.stage = step.stage
            self.bar = self.new_bar(step)
        if self.bar.total != step.total:
            self.bar.total = step.total
        self.bar.update(step.done - self.bar.n)

    def new_bar(self, step: Progress) -> tqdm:
        """The bar of a new stage, starting where its first record is."""
        return tqdm(total=step.total, initial=step.done, desc=step.stage, unit=self.unit, dynamic_ncols=True,
                    delay=self.delay, leave=True)

    def note(self, text: str) -> None:
        """A note above the bar (written through tqdm so the bar is redrawn below it)."""
        if self.bar is not None:
            self.bar.write(printable(f"note: {text}"), file=sys.stderr)
        else:
            say(f"note: {text}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoadingProgress(TerminalProgress):
    """The bars of opening a model: a download in bytes (from the first byte), and a load in percent
    labelled ``loading NAME (233 MB)``, shown only when it takes over :data:`LOAD_BAR_DELAY_S`, only
    on a terminal, and wiped when the load fails -- so a refused checkpoint is the one line that says
    why, on a terminal and in a log alike."""

    def __init__(self) -> None:
        super().__init__(unit="%", delay=LOAD_BAR_DELAY_S)

    def new_bar(self, step: Progress) -> tqdm:
        if step.stage.startswith("downloading"):
            return tqdm(total=step.total, initial=step.done, desc=step.stage, unit="B", unit_scale=True,
                        dynamic_ncols=True, leave=True)
        return tqdm(total=step.total, initial=step.done, desc=step.stage, unit=self.unit, dynamic_ncols=True,
                    delay=self.delay, leave=True, disable=None)  # disable=None: drawn on a terminal only

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self.bar is not None:
            self.bar.leave = False  # closing erases it
        self.close()


class ItemsProgress:
    """One bar over the items of a multi-item job (the seeds of a render, the cells of a grid or a
    sweep, the seeds of `creps lines`): ``k/n`` items with the current one named beside it.

    Items are counted as they finish; :meth:`start` names the one being made.  The bar waits
    ``delay`` seconds before it appears, so a job of a few quick images prints only its results."""

    def __init__(self, what: str, total: int, unit: str, delay: float = 0.0) -> None:
        self.bar = tqdm(total=total, desc=what, unit=f" {unit}", dynamic_ncols=True, delay=delay, leave=True)

    def shown(self) -> bool:
        """Whether the bar is on the terminal yet (its delay has passed)."""
        return time.time() >= self.bar.start_t + self.bar.delay

    def start(self, item: str) -> None:
        self.bar.set_postfix_str(printable(item), refresh=self.shown())

    def done(self) -> None:
        self.bar.update(1)

    def write(self, text: str) -> None:
        """A result line (``wrote ...``) on stdout: above the bar once it is shown (so it is redrawn
        below), plainly before (writing through tqdm would show a bar still in its delay)."""
        if self.shown():
            self.bar.write(text, file=sys.stdout)
        else:
            print(text)

    def __enter__(self) -> ItemsProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


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
