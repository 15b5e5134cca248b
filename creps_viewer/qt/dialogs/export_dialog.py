"""File ▸ Export image…: the current view at any size, tiled, in a background thread.

The dialog is prefilled from the explorer (same centre, zoom, rotation, warp and
latent; the viewport's size).  Changing the output size keeps the framing: zoom 1
fits the unit square to the shorter side whatever the pixel size, so a bigger
export shows the same region in more detail.  Every change re-runs
:func:`creps_core.jobs.export.validate` and shows its message live; Export is enabled
only for a valid job.  The :class:`~creps_viewer.render.jobs.JobStarter` runs it on its own
Engine in a background thread; the dialog shows its progress (the explorer's one
:class:`~creps_viewer.qt.job_progress.JobProgress`) and Cancel; a cancelled export keeps its
finished tiles, so exporting again to the same file resumes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from creps_core.jobs.export import MAX_SIDE, ExportSpec, format_of, validate
from creps_core.latent.latents import LatentSpec
from creps_core.progress import PYRAMID, RENDERING_TILES, WRITING, Progress, format_duration
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, PRECISION_CHOICES, WARP_QUALITIES
from creps_viewer.model.records import Geometry
from creps_viewer.qt.job_progress import JobProgress
from creps_viewer.qt.panels.widgets import ask_to_go_on
from creps_viewer.qt.plain_text import plain_label
from creps_viewer.render.jobs import BackgroundJob, JobStarter, format_eta

SIZE_PRESETS: tuple[tuple[str, object], ...] = (
    ("Current viewport", 1), ("Viewport × 2", 2), ("Viewport × 4", 4), ("Viewport × 8", 8), ("Viewport × 16", 16),
    ("Full HD 1920×1080", (1920, 1080)), ("4K UHD 3840×2160", (3840, 2160)), ("8K UHD 7680×4320", (7680, 4320)),
    ("Poster 20000×14000", (20000, 14000)), ("Custom", None),
)
EXPENSIVE_S = 60.0  # warp quality exact estimated slower than this offers the default quality before the export starts
FILE_FILTER = "TIFF (*.tif *.tiff);;PNG (*.png);;JPEG (*.jpg *.jpeg);;Deep Zoom with HTML viewer (*.dzi)"


def describe_progress(step: Progress) -> tuple[float, str] | None:
    """An export's record in words: tiles rendered (and time left), pyramid levels, writing."""
    if step.stage == PYRAMID:
        return step.fraction, f"building pyramid levels… {step.done:,} of {step.total:,}"
    if step.stage == WRITING:
        return 1.0, "writing the file…"
    if step.stage == RENDERING_TILES and step.total:
        left = format_eta(step.eta_s) if step.done < step.total else "rendered"
        return step.fraction, f"rendering tile {step.done:,} of {step.total:,} · {left}"
    return None


class ExportDialog(QDialog):
    """``jobs`` starts the export on the open model."""

    exported = Signal(object)  # the final Path

    def __init__(self, jobs: JobStarter, latent: LatentSpec, geometry: Geometry, viewport_size: tuple[int, int],
                 precision: str = "auto", warp_quality: str = DEFAULT_WARP_QUALITY, directory: str = "",
                 seconds_of: Callable[[ExportSpec], float | None] | None = None,
                 parent: QWidget | None = None) -> None:
        """``seconds_of(spec)``: about how long an export takes here (None: not known yet)."""
        super().__init__(parent)
        self.seconds_of = seconds_of
        self.setWindowTitle("Export image")
        self.jobs, self.latent, self.geometry = jobs, latent, geometry
        self.viewport_size = (max(1, viewport_size[0]), max(1, viewport_size[1]))
        self.job: BackgroundJob | None = None
        self.result_path: Path | None = None
        self._close_when_stopped = False
        g = geometry
        warp = f" · warp {g.warp.kind}" if g.warp is not None and not g.warp.is_identity else ""
        summary = QLabel(f"Seed {latent.seed} · ψ {latent.psi:g} · centre ({g.center[0]:.4f}, {g.center[1]:.4f}) · "
                         f"zoom {g.zoom:.4g} · {g.rotation:.1f}°{warp}")
        summary.setWordWrap(True)
        summary.setToolTip("The export shows the same region as the viewport, at the output size")

        # ----- file
        self.path_edit = QLineEdit(str(Path(directory or Path.home()) / f"creps_seed{latent.seed}.tif"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path_edit, 1)
        file_row.addWidget(browse)
        self.format_label = plain_label()

        # ----- size
        self.preset = QComboBox()
        for text, value in SIZE_PRESETS:
            if isinstance(value, int):
                w, h = self.viewport_size
                text = f"{text} ({w * value}×{h * value})"
            self.preset.addItem(text, value)
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin in (self.width_spin, self.height_spin):
            spin.setRange(1, MAX_SIDE)
            spin.setGroupSeparatorShown(True)
            spin.setMinimumWidth(110)
        self.width_spin.setValue(self.viewport_size[0])
        self.height_spin.setValue(self.viewport_size[1])
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)
        size_row.addWidget(QLabel("px"))
        size_row.addStretch(1)

        # ----- quality / tiling
        self.tile = QSpinBox()
        self.tile.setRange(16, 8192)
        self.tile.setSingleStep(16)
        self.tile.setValue(512)
        self.tile.setToolTip("Pixels per tile side (multiple of 16); memory use follows the tile, not the image")
        self.supersample = QSpinBox()
        self.supersample.setRange(1, 16)
        self.supersample.setPrefix("k = ")
        self.supersample.setToolTip("Render k×k samples per pixel and average them (anti-aliasing; k² slower)")
        self.pyramid = QSpinBox()
        self.pyramid.setRange(-1, 30)
        self.pyramid.setSpecialValueText("auto")
        self.pyramid.setMinimumWidth(80)
        self.pyramid.setToolTip("Extra half-size levels in the TIFF for deep-zoom viewers (TIFF only); "
                                "auto: halve down to one tile")
        self.precision = QComboBox()
        self.precision.addItems(list(PRECISION_CHOICES))
        self.precision.setCurrentText(precision if precision in PRECISION_CHOICES else "auto")
        self.precision.setToolTip("auto: the fastest this machine does that keeps the pixels (measured); fp32 is "
                                  "the reference; bf16/fp16 are faster approximations. Remembered for the next export.")
        self.warp_quality = QComboBox()
        self.warp_quality.addItems(list(WARP_QUALITIES))
        self.warp_quality.setCurrentText(warp_quality if warp_quality in WARP_QUALITIES else DEFAULT_WARP_QUALITY)
        self.warp_quality.setToolTip("Rotated and warped views: fine (>= 55 dB against exact) is the default; "
                                     "exact evaluates every pixel's own lines (slow)")
        self.pyramid.setValue(0)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.ExpandingFieldsGrow)
        form.addRow("File", file_row)
        form.addRow("Format", self.format_label)
        form.addRow("Size preset", self.preset)
        form.addRow("Size", size_row)
        form.addRow("Tile size", self.tile)
        form.addRow("Supersampling", self.supersample)
        form.addRow("Pyramid levels", self.pyramid)
        form.addRow("Precision", self.precision)
        form.addRow("Warp quality", self.warp_quality)
        box = QGroupBox("Output")
        box.setLayout(form)

        self.validation = plain_label()  # quotes paths and errors
        self.validation.setWordWrap(True)
        self.validation.setTextInteractionFlags(Qt.TextSelectableByMouse)

        # ----- progress
        self.progress = JobProgress(describe_progress, "cancelling after the current tile…")
        self.status = plain_label()  # names the output file and quotes errors
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        prog = QVBoxLayout()
        prog.addWidget(self.progress)
        prog.addWidget(self.status)

        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.export_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)

        root = QVBoxLayout(self)
        root.addWidget(summary)
        root.addWidget(box)
        root.addWidget(self.validation)
        root.addLayout(prog)
        root.addLayout(buttons)
        self.inputs: list[QWidget] = [self.path_edit, browse, self.preset, self.width_spin, self.height_spin,
                                      self.tile, self.supersample, self.pyramid, self.precision,
                                      self.warp_quality]

        self.preset.currentIndexChanged.connect(self._apply_preset)
        for spin in (self.width_spin, self.height_spin):
            spin.valueChanged.connect(self._size_edited)
        for w in (self.tile, self.supersample, self.pyramid):
            w.valueChanged.connect(self.revalidate)
        self.precision.currentTextChanged.connect(self.revalidate)
        self.warp_quality.currentTextChanged.connect(self.revalidate)
        self.path_edit.textChanged.connect(self.revalidate)
        self.setMinimumWidth(520)
        self.revalidate()

    # ----- fields -------------------------------------------------------------------------
    def set_size(self, width: int, height: int) -> None:
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)

    def _apply_preset(self) -> None:
        value = self.preset.currentData()
        if value is None:
            return
        w, h = (self.viewport_size[0] * value, self.viewport_size[1] * value) if isinstance(value, int) else value
        self._setting_preset = True
        self.set_size(w, h)
        self._setting_preset = False
        self.revalidate()

    def _size_edited(self) -> None:
        if not getattr(self, "_setting_preset", False):
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(self.preset.count() - 1)  # Custom
            self.preset.blockSignals(False)
        self.revalidate()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export image to", self.path_edit.text(), FILE_FILTER)
        if path:
            self.path_edit.setText(path)

    def out_path(self) -> Path:
        return Path(self.path_edit.text().strip()).expanduser()

    def spec(self) -> ExportSpec:
        """The job as the fields describe it; raises ValueError when they do not describe one."""
        if not self.path_edit.text().strip():
            raise ValueError("choose a file to export to")
        fmt = format_of(self.out_path())
        view = self.geometry.view(self.width_spin.value(), self.height_spin.value())
        return ExportSpec(latent=self.latent, view=view, fmt=fmt, tile=self.tile.value(),
                          supersample=self.supersample.value(), pyramid=self.pyramid.value(),
                          precision=self.precision.currentText(),
                          warp_quality=self.warp_quality.currentText())

    def revalidate(self, *_: object) -> bool:
        try:
            spec = self.spec()
            if not self.out_path().parent.is_dir():
                raise ValueError(f"the folder {self.out_path().parent} does not exist")
            validate(spec)
        except ValueError as e:
            self.format_label.setText(self._format_text())
            self._show_validation(f"✗ {e}", ok=False)
            return False
        self.format_label.setText(self._format_text())
        h, w = spec.shape
        tiles = math.ceil(h / spec.tile) * math.ceil(w / spec.tile)
        mpx = w * h / 1e6
        raw = w * h * 3 / 2**20
        msg = f"✓ {w:,}×{h:,} px ({mpx:,.1f} Mpx, ~{raw:,.0f} MiB uncompressed) in {tiles:,} tile(s)"
        if spec.supersample > 1:
            msg += f", {spec.supersample ** 2}× samples per pixel"
        msg += self._cost_text(spec)
        if self.out_path().exists():
            msg += " · the file exists and will be replaced"
        elif (self.out_path().parent / f".{self.out_path().name}.partial").exists():
            msg += " · a cancelled export of this file was found: matching tiles will be resumed"
        self._show_validation(msg, ok=True)
        return True

    def costs(self, spec: ExportSpec) -> tuple[float | None, float | None]:
        """Seconds of ``spec`` here, and of the same export at the default warp quality (the line
        table) when ``spec`` asks for quality exact on a view where it changes the pixels (else None)."""
        if self.seconds_of is None:
            return None, None
        cheaper = None
        if spec.warp_quality == "exact" and not spec.view.is_separable:
            cheaper = self.seconds_of(replace(spec, warp_quality=DEFAULT_WARP_QUALITY))
        return self.seconds_of(spec), cheaper

    def _cost_text(self, spec: ExportSpec) -> str:
        seconds, cheaper = self.costs(spec)
        if seconds is None:
            return ""
        text = f" · about {format_duration(seconds)} here"
        return text + (f" (at {DEFAULT_WARP_QUALITY} quality: about {format_duration(cheaper)})"
                       if cheaper is not None else "")

    def _format_text(self) -> str:
        try:
            fmt = format_of(self.out_path())
        except ValueError:
            return "unknown (name the file .tif, .png, .jpg or .dzi)"
        return {"tiff": "TIFF (tiled BigTIFF, any size, pyramids)", "png": "PNG (streamed, lossless)",
                "jpeg": "JPEG (built in memory; ≤ 65535 px a side)",
                "dzi": "Deep Zoom (jpg tiles and an HTML viewer beside them)"}[fmt]

    def _show_validation(self, text: str, ok: bool) -> None:
        self.validation.setText(text)
        self.validation.setStyleSheet("" if ok else "color: #c0392b;")
        self.export_button.setEnabled(ok and self.job is None)

    # ----- running ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, force: bool = False, fresh: bool = False) -> None:
        """Start the export in a background thread (no-op when invalid or already running).
        ``force``/``fresh``: the user agreed to replace what is in the way / discard old work."""
        if self.job is not None or not self.revalidate():
            return
        seconds, cheaper = self.costs(self.spec())
        if seconds is not None and cheaper is not None and seconds > EXPENSIVE_S:
            choice = self.confirm_cost(seconds, cheaper)
            if choice is None:
                return
            if choice == "table":
                self.warp_quality.setCurrentText(DEFAULT_WARP_QUALITY)
        spec, out = self.spec(), self.out_path()
        self.job = self.jobs.export(spec, out, force=force, fresh=fresh)
        self.progress.follow(self.job, "starting…")
        self.job.finished.connect(self._on_finished)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.failed.connect(self._on_failed)
        self.job.kept.connect(self._on_kept)
        self._set_running(True)
        self.status.setStyleSheet("")
        self.status.setText(f"Exporting to {out}…")
        self.job.start()

    def cancel(self) -> None:
        if self.job is not None:
            self.progress.cancel()
            self.cancel_button.setEnabled(False)

    def _set_running(self, running: bool) -> None:
        for w in self.inputs:
            w.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(not running)

    def _stopped(self) -> None:
        self.job = None
        self._set_running(False)
        self.revalidate()
        if self._close_when_stopped:
            self.reject()

    def _on_finished(self, path) -> None:
        self.result_path = Path(path)
        self.progress.stopped("done", done=True)
        self.status.setStyleSheet("color: #1e8449;")
        self.status.setText(f"Exported {path}")
        self._stopped()
        self.exported.emit(self.result_path)

    def _on_cancelled(self) -> None:
        self.progress.stopped("cancelled")
        self.status.setStyleSheet("")
        self.status.setText("Export cancelled. Finished tiles are kept next to the file: export again to the "
                            "same file with the same settings to resume where it stopped.")
        self._stopped()

    def _on_failed(self, message: str) -> None:
        self.progress.stopped("failed")
        self.status.setStyleSheet("color: #c0392b;")
        self.status.setText(f"Export failed: {message}")
        self._stopped()

    def _on_kept(self, what: str, remedy: str) -> None:
        self._on_failed(f"{what}.")
        if self.confirm_kept(what, remedy):
            self.start(force=remedy == "force", fresh=remedy == "fresh")

    def confirm_cost(self, exact: float, table: float) -> str | None:
        """Warp quality exact would take ``exact`` seconds, the default quality's line table ``table``:
        "exact", "table" or None (do nothing). Tests replace this method; the default answer is the
        cheaper one."""
        box = QMessageBox(QMessageBox.Icon.Question, "Exact warp quality",
                          f"At warp quality exact this export takes about {format_duration(exact)} here; at "
                          f"{DEFAULT_WARP_QUALITY} (the line table) about {format_duration(table)}.",
                          QMessageBox.StandardButton.Cancel, self)
        go = box.addButton(f"Exact ({format_duration(exact)})", QMessageBox.ButtonRole.AcceptRole)
        cheap = box.addButton(f"{DEFAULT_WARP_QUALITY.capitalize()} ({format_duration(table)})",
                              QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(cheap)
        box.exec()
        return "exact" if box.clickedButton() is go else "table" if box.clickedButton() is cheap else None

    def confirm_kept(self, what: str, remedy: str) -> bool:
        """Ask before replacing what is in the way or discarding old work (tests replace this method)."""
        return ask_to_go_on(self, what, remedy)

    def confirm_stop(self) -> bool:
        """Ask before closing stops the running export (tests replace this method)."""
        answer = QMessageBox.question(self, "Stop the export?",
                                      "The export is still running. Stop it and close?\n\n"
                                      "Finished tiles are kept: exporting to the same file again resumes.",
                                      QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def _stop_and_close(self) -> bool:
        """With an export running: stop it (if the user agrees), closing once it has stopped.
        Returns whether the close must wait (True) or may go ahead (False: nothing runs)."""
        if self.job is None:
            return False
        if self.confirm_stop():
            self._close_when_stopped = True
            self.cancel()
        return True

    def closeEvent(self, e) -> None:
        if self._stop_and_close():
            e.ignore()
            return
        super().closeEvent(e)

    def reject(self) -> None:  # Esc, Close, the title bar's close button
        if not self._stop_and_close():
            super().reject()
