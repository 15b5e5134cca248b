"""Video tab: a keyframe list recorded from the explorer, presets, and "Render video…".

Keyframes are :class:`creps_core.jobs.video.Keyframe` states (view + latent + the
duration and easing of the segment that follows).  "Record" appends the explorer's
current state; presets replace the list with a camera move from the current state.
Double-clicking a keyframe shows it in the explorer.  The list itself lives in
:class:`ExplorerState` (saved in workspaces, undoable when a preset replaces it).
The :class:`~creps_viewer.render.jobs.JobStarter` renders the video on its own engine in a
background thread; this panel shows its progress in a small window with Cancel (the explorer's
one :class:`~creps_viewer.qt.job_progress.JobProgress`, as the export dialog shows it).  A
cancelled video keeps its finished frames, and rendering to the same file again resumes it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from creps_core.jobs import video
from creps_core.jobs.video import EASINGS, Keyframe, VideoSpec
from creps_core.progress import RENDERING_FRAMES, Progress, format_duration
from creps_core.vocabulary import LATENT_MODES
from creps_viewer.model.records import Geometry
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.job_progress import JobProgressDialog
from creps_viewer.qt.panels.keyframe_presets import KeyframePresets
from creps_viewer.qt.panels.widgets import ask_to_go_on
from creps_viewer.qt.plain_text import plain_label
from creps_viewer.render.jobs import BackgroundJob, JobStarter, format_eta

FORMATS = (("MP4 (H.264)", ".mp4"), ("WebM (VP9)", ".webm"), ("GIF", ".gif"))


def describe_progress(step: Progress) -> tuple[float, str] | None:
    """A video's record in words: frames rendered and the time left, then encoding."""
    if step.stage != RENDERING_FRAMES:
        return None
    left = format_eta(step.eta_s) if step.done < step.total else "encoding…"
    return step.fraction, f"Frame {step.done} of {step.total} · {left}"


class KeyframePanel(QWidget):
    """The Video tab: edits ``state.keyframes``; ``jobs`` renders them."""

    rendered = Signal(object)  # Path of a finished video

    def __init__(self, state: ExplorerState, jobs: JobStarter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.jobs = state, jobs
        self._select: int | None = None  # the row to select when the list is shown next
        self.job: BackgroundJob | None = None
        self.progress_dialog: JobProgressDialog | None = None
        self.last_error = ""
        self.last_path: Path | None = None
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.addWidget(self._build_keyframes())
        self.presets = KeyframePresets(state)
        root.addWidget(self.presets)
        root.addWidget(self._build_output())
        root.addStretch(1)
        self._connect()
        self.fit_viewport()
        self._show_keyframes()

    # ----- construction -----------------------------------------------------------------------
    def _build_keyframes(self) -> QGroupBox:
        """The list, its editing buttons, and the selected keyframe's segment (duration, easing)."""
        box = QGroupBox("Keyframes")
        lay = QVBoxLayout(box)
        self.list = QListWidget()
        self.list.setMinimumHeight(90)
        self.list.setMaximumHeight(150)
        self.list.setToolTip("Double-click a keyframe to show it in the explorer")
        lay.addWidget(self.list)
        row = QHBoxLayout()
        self.record_button = QPushButton("● Record")
        self.record_button.setToolTip("Add the explorer's current view and latent as a keyframe")
        self.remove_button, self.up_button, self.down_button = QToolButton(), QToolButton(), QToolButton()
        self.clear_button, self.undo_button = QToolButton(), QToolButton()
        for b, text, tip in ((self.remove_button, "Remove", "Remove the selected keyframe"),
                             (self.up_button, "▲", "Move the selected keyframe up"),
                             (self.down_button, "▼", "Move the selected keyframe down"),
                             (self.clear_button, "Clear", "Remove all keyframes"),
                             (self.undo_button, "Undo", "Bring back the keyframes a preset or Clear replaced")):
            b.setText(text)
            b.setToolTip(tip)
        self.undo_button.setEnabled(False)
        row.addWidget(self.record_button, 1)
        for b in (self.remove_button, self.up_button, self.down_button, self.clear_button, self.undo_button):
            row.addWidget(b)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.duration = QDoubleSpinBox()
        self.duration.setRange(0.05, 600)
        self.duration.setSuffix(" s")
        self.duration.setValue(2.0)
        self.duration.setToolTip("Seconds from the selected keyframe to the next")
        self.easing = QComboBox()
        self.easing.addItems(list(EASINGS))
        self.easing.setCurrentText("in_out")
        row.addWidget(QLabel("Segment"))
        row.addWidget(self.duration)
        row.addWidget(QLabel("easing"))
        row.addWidget(self.easing, 1)
        lay.addLayout(row)
        return box

    def _build_output(self) -> QGroupBox:
        """Size, rate, format, how latents are blended, the frame scrubber, and Render."""
        box = QGroupBox("Video")
        form = QFormLayout(box)
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for s in (self.width_spin, self.height_spin):
            s.setRange(16, 16384)
            s.setSingleStep(16)
            s.setMinimumWidth(72)
        size = QHBoxLayout()
        size.addWidget(self.width_spin, 1)
        size.addWidget(QLabel("×"))
        size.addWidget(self.height_spin, 1)
        self.fit_button = QPushButton("Viewport")
        self.fit_button.setToolTip("The viewport's size, rounded to multiples of 16")
        size.addWidget(self.fit_button)
        form.addRow("Size", size)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1, 240)
        self.fps.setValue(30)
        form.addRow("FPS", self.fps)
        self.format = QComboBox()
        for text, suffix in FORMATS:
            self.format.addItem(text, suffix)
        form.addRow("Format", self.format)
        self.latent_mode = QComboBox()
        self.latent_mode.addItems(list(LATENT_MODES))
        self.latent_mode.setToolTip("slerp: in Z between seeds · lerp: in W · spline: through all keyframes' W")
        form.addRow("Latents", self.latent_mode)
        self.loop = QCheckBox("Loop back to the first keyframe")
        form.addRow("", self.loop)
        self.scrub = QSlider(Qt.Horizontal)
        self.scrub.setToolTip("Look at any frame in the explorer before rendering")
        self.scrub_label = QLabel("")
        row = QHBoxLayout()
        row.addWidget(self.scrub, 1)
        row.addWidget(self.scrub_label)
        form.addRow("Frame", row)
        self.summary = plain_label()  # errors quote keyframe files and workspaces
        self.summary.setWordWrap(True)
        form.addRow(self.summary)
        self.render_button = QPushButton("Render video…")
        form.addRow(self.render_button)
        return box

    def _connect(self) -> None:
        self.record_button.clicked.connect(self.record)
        self.remove_button.clicked.connect(self.remove_selected)
        self.up_button.clicked.connect(lambda: self.move_selected(-1))
        self.down_button.clicked.connect(lambda: self.move_selected(+1))
        self.clear_button.clicked.connect(lambda: self.state.replace_keyframes([]))
        self.undo_button.clicked.connect(self.state.undo_replace_keyframes)
        self.list.currentRowChanged.connect(self._selection_changed)
        self.list.itemDoubleClicked.connect(lambda _: self.show_selected())
        self.duration.valueChanged.connect(self._edit_selected)
        self.easing.currentTextChanged.connect(self._edit_selected)
        self.presets.walked.connect(self._walked)
        self.fit_button.clicked.connect(self.fit_viewport)
        self.render_button.clicked.connect(self.render_dialog)
        self.scrub.valueChanged.connect(self.show_frame)
        for w in (self.width_spin, self.height_spin):
            w.valueChanged.connect(self.refresh_summary)
        self.fps.valueChanged.connect(self.refresh_summary)
        self.format.currentIndexChanged.connect(self.refresh_summary)
        self.latent_mode.currentIndexChanged.connect(self.refresh_summary)
        self.loop.toggled.connect(self._loop_toggled)
        self.state.keyframesChanged.connect(self._show_keyframes)
        self.state.modelChanged.connect(self.refresh_summary)
        self.state.viewportChanged.connect(self._viewport_resized)

    def showEvent(self, e) -> None:
        self.refresh_summary()  # the render-time estimate may have been measured meanwhile
        super().showEvent(e)

    def _viewport_resized(self) -> None:
        """The video size follows the viewport until the user types a size of their own."""
        if (self.width_spin.value(), self.height_spin.value()) == self._fitted:
            self.fit_viewport()

    # ----- the list ---------------------------------------------------------------------------
    @property
    def keyframes(self) -> list[Keyframe]:
        return list(self.state.keyframes)

    def set_keyframes(self, keyframes: list[Keyframe], select: int | None = None) -> None:
        """Edit the list and select keyframe ``select`` (default: the last)."""
        self._select = select
        self.state.set_keyframes(keyframes)

    def _loop_toggled(self) -> None:
        self._select = self.list.currentRow()  # only the last segment's label changes
        self._show_keyframes()

    def _show_keyframes(self, *_: object) -> None:
        select, self._select = self._select, None
        self.undo_button.setEnabled(self.state.replaced_keyframes is not None)
        with QSignalBlocker(self.list):
            self.list.clear()
            for i, k in enumerate(self.state.keyframes):
                v, lat = k.view, k.latent
                last = i == len(self.keyframes) - 1 and not self.loop.isChecked()
                segment = "end" if last else f"{k.duration:g} s {k.easing}"
                self.list.addItem(f"{i + 1}. seed {lat.seed} · zoom {v.zoom:.3g} · ({v.center[0]:.3f}, "
                                  f"{v.center[1]:.3f}) · {v.rotation:.0f}° — {segment}")
        if self.keyframes:
            self.list.setCurrentRow(len(self.keyframes) - 1 if select is None else select)
        self._selection_changed(self.list.currentRow())
        self.refresh_summary()

    def record(self) -> None:
        """Add the explorer's current state as a keyframe ("record from the explorer")."""
        self.set_keyframes(video.record(self.keyframes, self.state.view(snap=False), self.state.latent,
                                        self.duration.value(), self.easing.currentText()))

    def remove_selected(self) -> None:
        i = self.list.currentRow()
        if 0 <= i < len(self.keyframes):
            kfs = self.keyframes[:i] + self.keyframes[i + 1:]
            self.set_keyframes(kfs, min(i, len(kfs) - 1) if kfs else None)

    def move_selected(self, step: int) -> None:
        i, j = self.list.currentRow(), self.list.currentRow() + step
        if 0 <= i < len(self.keyframes) and 0 <= j < len(self.keyframes):
            kfs = list(self.keyframes)
            kfs[i], kfs[j] = kfs[j], kfs[i]
            self.set_keyframes(kfs, j)

    def show_frame(self, index: int) -> None:
        """Show frame ``index`` of the video in the explorer (its view; its latent where a seed
        blend expresses it, else the nearer keyframe's)."""
        try:
            spec = self.spec()
            video.validate(spec, video.format_of(f"x{self.suffix()}"))
        except ValueError:
            return
        index = max(0, min(index, spec.n_frames - 1))
        v, lat = video.preview_state(spec, index)
        self.scrub_label.setText(f"{index + 1} / {spec.n_frames}")
        self.state.restore(lat, Geometry.of(v))

    def show_selected(self) -> None:
        i = self.list.currentRow()
        if 0 <= i < len(self.keyframes):
            v, lat = self.keyframes[i].view, self.keyframes[i].latent
            self.state.restore(lat, Geometry.of(v))

    def _selection_changed(self, row: int) -> None:
        has = 0 <= row < len(self.keyframes)
        for b in (self.remove_button, self.up_button, self.down_button):
            b.setEnabled(has)
        self.up_button.setEnabled(has and row > 0)
        self.down_button.setEnabled(has and row < len(self.keyframes) - 1)
        self.clear_button.setEnabled(bool(self.keyframes))
        if has:
            with QSignalBlocker(self.duration), QSignalBlocker(self.easing):
                self.duration.setValue(self.keyframes[row].duration)
                self.easing.setCurrentText(self.keyframes[row].easing)

    def _edit_selected(self, *_: object) -> None:
        i = self.list.currentRow()
        if 0 <= i < len(self.keyframes):
            k = self.keyframes[i]
            kfs = list(self.keyframes)
            kfs[i] = Keyframe(k.view, k.latent, self.duration.value(), self.easing.currentText())
            self.set_keyframes(kfs, i)

    def _walked(self) -> None:
        """A latent walk is made for the official look: a spline through the seeds, looped."""
        self.latent_mode.setCurrentText("spline")
        self.loop.setChecked(True)

    # ----- output -----------------------------------------------------------------------------
    def fit_viewport(self) -> None:
        self._fitted = w, h = video.fit_video_size(*self.state.viewport_size)
        self.width_spin.setValue(w)
        self.height_spin.setValue(h)

    def spec(self) -> VideoSpec:
        return VideoSpec(tuple(self.keyframes), self.width_spin.value(), self.height_spin.value(), self.fps.value(),
                         self.latent_mode.currentText(), self.loop.isChecked(),
                         precision=self.state.render.precision,
                         warp_quality=self.state.render.warp_quality)

    def suffix(self) -> str:
        return self.format.currentData()

    def refresh_summary(self, *_: object) -> bool:
        try:
            spec = self.spec()
            video.validate(spec, video.format_of(f"x{self.suffix()}"))
        except ValueError as e:
            self.summary.setText(f"✗ {e}" if self.keyframes else "Record keyframes or pick a preset to begin.")
            self.summary.setStyleSheet("color: #c0392b;" if self.keyframes else "")
            self.render_button.setEnabled(False)
            return False
        self.summary.setStyleSheet("")
        self.summary.setText(f"{len(spec.keyframes)} keyframe(s) · {spec.duration:g} s · {spec.n_frames} frames "
                             f"of {spec.width}×{spec.height} · {self.estimate(spec)}")
        with QSignalBlocker(self.scrub):
            self.scrub.setRange(0, spec.n_frames - 1)
        self.scrub.setEnabled(len(spec.keyframes) > 1)
        self.scrub_label.setText(f"{self.scrub.value() + 1} / {spec.n_frames}")
        self.render_button.setEnabled(self.job is None and self.state.model_summary is not None)
        return True

    def estimate(self, spec: VideoSpec) -> str:
        seconds = self.state.video_seconds(spec)
        return ("render time: after the first sharp frame" if seconds is None
                else f"about {format_duration(seconds)} to render here")

    def render_dialog(self) -> None:
        if not self.refresh_summary():
            return
        start = str(Path.home() / f"creps_video{self.suffix()}")
        path, _ = QFileDialog.getSaveFileName(self, "Render video to", start,
                                              ";;".join(f"{t} (*{s})" for t, s in FORMATS))
        if path:
            if not Path(path).suffix:
                path += self.suffix()
            self.render_to(path)

    def render_to(self, path: str | Path, force: bool = False, fresh: bool = False) -> BackgroundJob | None:
        """Render the keyframes to ``path`` (format by extension) in a background thread.
        ``force``/``fresh``: the user agreed to replace what is in the way / discard old work."""
        self.last_error = ""
        if self.jobs.loaded_model is None:
            self.last_error = "Open a model before rendering a video."
            self.summary.setText(self.last_error)
            return None
        if self.job is not None or not self.refresh_summary():
            return None
        spec, out = self.spec(), Path(path)
        try:
            video.validate(spec, video.format_of(out))
        except ValueError as e:
            self.last_error = str(e)
            self.summary.setText(f"✗ {e}")
            return None

        self.job = job = self.jobs.video(spec, out, force=force, fresh=fresh)
        # non-modal: exploring goes on while the video renders with its own engine
        self.progress_dialog = dlg = JobProgressDialog("Render video", describe_progress,
                                                       "Cancelling after the current frame…", self)
        dlg.follow(job, f"Rendering {out.name}…")
        job.finished.connect(self._on_finished)
        job.cancelled.connect(lambda: self._stopped(f"Cancelled: the finished frames are kept; render to {out.name} "
                                                    "again to resume."))
        job.failed.connect(lambda m: self._stopped(f"✗ Video failed: {m}", error=m))
        job.kept.connect(lambda what, remedy: self._on_kept(out, what, remedy))
        self.render_button.setEnabled(False)
        job.start()
        dlg.show()
        return job

    def _on_kept(self, out: Path, what: str, remedy: str) -> None:
        self._stopped(f"✗ {what}.", error=what)
        if self.confirm_kept(what, remedy):
            self.render_to(out, force=remedy == "force", fresh=remedy == "fresh")

    def confirm_kept(self, what: str, remedy: str) -> bool:
        """Ask before replacing what is in the way or discarding old work (tests replace this method)."""
        return ask_to_go_on(self, what, remedy)

    def _on_finished(self, path) -> None:
        self.last_path = Path(path)
        self._stopped(f"Saved {path}")
        self.rendered.emit(self.last_path)

    def _stopped(self, message: str, error: str = "") -> None:
        self.job = None
        self.last_error = error
        if self.progress_dialog is not None:
            self.progress_dialog.hide()
            self.progress_dialog.deleteLater()
            self.progress_dialog = None
        self.refresh_summary()
        self.summary.setText(message)
        self.summary.setStyleSheet("color: #c0392b;" if error else "")
