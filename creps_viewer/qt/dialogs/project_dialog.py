"""File ▸ Project image…: find the ws whose render matches a picture, watching the fit beside the target.

The picture is read and centre-cropped here (:func:`creps_core.io.images.read_square`: a file that
cannot be used is one line in the dialog); the :class:`~creps_viewer.render.jobs.JobStarter` runs the
projection (:class:`creps_core.train.project.Projection`) in a background thread on the open model.
Each step's record moves the bar and says the PSNR; the fit's newest render is drawn beside the target.
Stop ends it between two steps and keeps the best ws so far.  Either way the ws become the current
latent (every other modifier reset, so the view shows the fit itself): every view, export, direction,
video and saved workspace then works on the user's own picture.  The dialog is non-modal: exploring
goes on meanwhile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from creps_core.io.images import read_square
from creps_core.latent.latents import Floats
from creps_core.progress import PROJECTING, Progress
from creps_core.train.project import ProjectOptions
from creps_core.vocabulary import MAX_PROJECT_SIZE, PROJECTION_SPACES
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.job_progress import JobProgress
from creps_viewer.qt.plain_text import plain_label
from creps_viewer.render.jobs import JobStarter, ProjectionJob, format_eta

PREVIEW_SIDE = 192  # the target and the fit are drawn this large (nearest neighbour: the fit's own pixels)
PICTURE_FILTER = "Pictures (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)"


def describe_progress(step: Progress) -> tuple[float, str] | None:
    """A projection's record in words: the step, the PSNR of this step and of the best, time left."""
    if step.stage != PROJECTING or not step.total:
        return None
    figures = dict(step.figures)
    return step.fraction, (f"step {step.done:,} of {step.total:,} · PSNR {figures.get('PSNR', 0):.1f} dB "
                           f"(best {figures.get('best', 0):.1f}) · {format_eta(step.eta_s)}")


def pixmap(rgb: np.ndarray, side: int = PREVIEW_SIDE) -> QPixmap:
    h, w, _ = rgb.shape
    data = np.ascontiguousarray(rgb)
    image = QImage(data.data, w, h, 3 * w, QImage.Format_RGB888).copy()  # copy: data is freed after
    return QPixmap.fromImage(image.scaled(side, side, Qt.KeepAspectRatio, Qt.FastTransformation))


class ProjectDialog(QDialog):
    """``jobs`` runs the projection on the open model; the result goes to ``state``'s latent."""

    projected = Signal(object)  # the ws [num_ws, w_dim] that became the current latent

    def __init__(self, jobs: JobStarter, state: ExplorerState, directory: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Project image")
        self.setWindowModality(Qt.NonModal)
        self.jobs, self.state, self.directory = jobs, state, directory
        self.job: ProjectionJob | None = None
        self.target: np.ndarray | None = None
        self._model = None  # the model the running projection fits (applied only while it is still open)
        self._what = ""  # the picture and size being fitted, in words

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a photograph or any picture")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self.choose_picture)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.steps = QSpinBox()
        self.steps.setRange(1, 100_000)
        self.steps.setValue(300)
        self.size = QSpinBox()
        self.size.setRange(8, MAX_PROJECT_SIZE)
        self.size.setValue(64)
        self.size.setSuffix(" px")
        self.size.setToolTip("The fit renders the picture at this size; the result renders at any size.")
        self.space = QComboBox()
        self.space.addItems(PROJECTION_SPACES)
        self.space.setCurrentText(ProjectOptions().space)
        self.space.setToolTip("w: one w for every layer; w+: one per layer (closer fits, kept near W)")
        form = QFormLayout()
        form.addRow("Picture", row)
        form.addRow("Steps", self.steps)
        form.addRow("Fit size", self.size)
        form.addRow("Latent space", self.space)

        self.target_view, self.fit_view = QLabel(), QLabel()
        pictures = QHBoxLayout()
        for label, title in ((self.target_view, "Target"), (self.fit_view, "Fit")):
            label.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE)
            label.setAlignment(Qt.AlignCenter)
            label.setStyleSheet("background: #202020; color: #909090")
            label.setText(title)
            column = QVBoxLayout()
            column.addWidget(label)
            column.addWidget(QLabel(title), 0, Qt.AlignHCenter)
            pictures.addLayout(column)

        self.progress = JobProgress(describe_progress, "stopping after the current step…")
        self.message = plain_label("")
        self.message.setWordWrap(True)
        self.start_button = QPushButton("Project")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after the current step; the best ws so far become the current latent")
        self.stop_button.clicked.connect(self.stop)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_button, self.stop_button, close):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(pictures)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)
        lay.addLayout(buttons)

    # ----- choosing and starting ------------------------------------------------------------------
    def choose_picture(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Picture to project", self.directory, PICTURE_FILTER)
        if path:
            self.path_edit.setText(path)

    def options(self) -> ProjectOptions:
        return ProjectOptions(steps=self.steps.value(), size=self.size.value(), space=self.space.currentText(),
                              class_idx=self.state.latent.class_idx)

    def start(self) -> ProjectionJob | None:
        """Read the picture and start the projection; a picture that cannot be used is said here."""
        if self.job is not None:
            return None
        path = self.path_edit.text().strip()
        if not path:
            self.message.setText("Choose a picture to project.")
            return None
        try:
            opts = self.options()
            self.target, crop = read_square(path, opts.size)
            job = self.jobs.project(self.target, opts)
        except (OSError, ValueError) as e:
            self.message.setText(str(e))
            return None
        self.target_view.setPixmap(pixmap(self.target))
        self.fit_view.clear()
        cropped = ("" if crop.width == crop.height
                   else f" (its centre {crop.side}×{crop.side} of {crop.width}×{crop.height})")
        self._what = f"{Path(path).name}{cropped} at {opts.size}×{opts.size}"
        self.message.setText(f"Projecting {self._what}…")
        self.job, self._model = job, self.jobs.loaded_model
        job.progress.connect(self._show_fit)
        job.finished.connect(self._finished)
        job.cancelled.connect(self._stopped)
        job.failed.connect(self._failed)
        self.progress.follow(job, "starting…")
        self._running(True)
        job.start()
        return job

    def stop(self) -> None:
        self.stop_button.setEnabled(False)
        self.progress.cancel()

    # ----- while it runs and when it ends ----------------------------------------------------------
    def _running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for w in (self.path_edit, self.steps, self.size, self.space):
            w.setEnabled(not running)

    def _show_fit(self, step: Progress) -> None:
        job = self.job
        preview = job.projection.preview if job is not None and job.projection is not None else None
        if preview is not None:
            self.fit_view.setPixmap(pixmap(preview))

    def _finished(self, ws: np.ndarray | None) -> None:
        self._ended(ws, "Done")

    def _stopped(self) -> None:
        job = self.job
        self._ended(job.projection.best_ws if job is not None and job.projection is not None else None, "Stopped")

    def _ended(self, ws: np.ndarray | None, how: str) -> None:
        """The job ended (or the dialog closed it): its best ws become the current latent."""
        job, self.job = self.job, None
        if job is None:  # already ended when the dialog closed
            return
        self._running(False)
        self.message.setText(f"Projected {self._what}.")
        if ws is None or job is None or job.projection is None:
            self.progress.stopped(f"{how} before the first step: nothing to keep.")
            return
        projection = job.projection
        self.fit_view.setPixmap(pixmap(projection.best_render()))
        text = (f"{how} after {projection.step_idx:,} steps: best PSNR {projection.best_psnr:.2f} dB. ")
        if self.jobs.loaded_model is not self._model:
            self.progress.stopped(text + "Another model is open now: the result was not applied.", done=how == "Done")
            return
        self.state.update_latent(ws=Floats.of(ws), psi=1.0, mix_seed=None, mix_layers=(), interp_seed=None,
                                 interp_t=0.0, pca_amounts=(), edits=())
        self.progress.stopped(text + "The fitted ws are the current latent.", done=how == "Done")
        self.projected.emit(ws)

    def _failed(self, message: str) -> None:
        if self.job is None:
            return
        self.job = None
        self._running(False)
        self.progress.stopped("Failed.")
        self.message.setText(message)

    def closeEvent(self, e) -> None:
        """Closing stops the projection (its best so far is kept, as with Stop)."""
        if self.job is not None:
            self.job.cancel()
            if self.job.wait(60):
                self._stopped()  # now: its queued signals may arrive after the dialog is gone
        super().closeEvent(e)
