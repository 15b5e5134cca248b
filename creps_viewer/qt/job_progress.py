"""The one display of a running export's or video's progress: a bar and a line under it saying
what the job does and how long is left, and what a cancel waits for.

The export dialog shows it inline, beside its own buttons; the Video tab shows it in a small
non-modal window with a Cancel button (:class:`JobProgressDialog`), so exploring goes on while
the video renders.  Each owner says in words what its job's records mean (``describe``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from creps_core.progress import Progress
from creps_viewer.render.jobs import BackgroundJob

Describe = Callable[[Progress], tuple[float, str] | None]  # a record -> (fraction done, words), None: not shown


class JobProgress(QWidget):
    """Follows one job at a time; ``cancelling`` is said once a cancel is asked for ("cancelling
    after the current tile…"), until the job stops between two units of work.  ``heading``: the
    line centred above the bar, as a progress window has it (else under it, as in a form)."""

    def __init__(self, describe: Describe, cancelling: str, heading: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.describe, self.cancelling = describe, cancelling
        self.job: BackgroundJob | None = None
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.eta = QLabel("")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        if heading:
            self.eta.setAlignment(Qt.AlignCenter)
            lay.addWidget(self.eta)
        lay.addWidget(self.bar)
        if not heading:
            lay.addWidget(self.eta)

    def follow(self, job: BackgroundJob, text: str) -> None:
        """Show ``job``'s progress from now on, starting at 0 with ``text``."""
        self.job = job
        job.progress.connect(self.show_step)
        self.bar.setValue(0)
        self.eta.setText(text)

    def show_step(self, step: Progress) -> None:
        if self.job is None:
            return  # a record queued before the job ended
        shown = self.describe(step)
        if shown is None:
            return
        fraction, text = shown
        self.eta.setText(self.cancelling if self.job.cancel_requested else text)
        self.bar.setValue(int(1000 * fraction))

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.eta.setText(self.cancelling)

    def stopped(self, text: str, done: bool = False) -> None:
        """The job ended: say how (a full bar when it finished)."""
        self.job = None
        if done:
            self.bar.setValue(1000)
        self.eta.setText(text)


class JobProgressDialog(QDialog):
    """A small window holding a :class:`JobProgress` and its Cancel button."""

    def __init__(self, title: str, describe: Describe, cancelling: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.NonModal)
        self.setMinimumWidth(380)
        self.progress = JobProgress(describe, cancelling, heading=True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.progress)
        lay.addLayout(buttons)

    def follow(self, job: BackgroundJob, text: str) -> None:
        self.progress.follow(job, text)

    def cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.cancel()

    def reject(self) -> None:  # Esc or the title bar's close button: the same as Cancel
        self.cancel()
