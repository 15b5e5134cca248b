"""View ▸ Structure…: what each synthesis block computes, for the explorer's latent and view.

A row per composed block (b8 .. bR): its row and column line embeddings, its composed feature
map, the feature map's spectrum and its contribution to the image (see
:mod:`creps_core.jobs.structure`).  Unchecking a block switches it off; the preview shows the render
without it.  The window follows the explorer: a new latent or view is analysed again.

The computing is done by a :class:`~creps_core.jobs.structure.StructureProbe` (which owns its own
engine) in the jobs' :class:`~creps_viewer.render.jobs.LatestJob`, one job at a time: a change while a
job runs cancels it and the newest request runs next, so the window never waits on the engine.
Everything is computed on the view shrunk to 256 pixels per side, which bounds the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QDialog, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from creps_core.jobs.structure import KIND_TITLES, KINDS, Structure, StructureProbe, as_rgb, block_images
from creps_core.latent.latents import LatentSpec
from creps_core.render.views import View
from creps_viewer.model.records import RenderSettings
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.plain_text import plain_label
from creps_viewer.qt.screen_fit import fit_to_screen, refit_when_shown
from creps_viewer.render.jobs import Compute, LatestJob

KIND_HELP = {
    "rows": "The block's row embedding at each row coordinate u (down) by channel (across); "
            "the rank factors of one composed channel sit side by side. Red positive, blue negative.",
    "cols": "The block's column embedding at each column coordinate v (across) by channel (down).",
    "feature": "The composed feature F = ½ Σ R·K on the view: its three leading principal components as RGB.",
    "spectrum": "log |FFT| of the feature map over the view, all channels, zero frequency in the centre.",
    "contribution": "The image minus the image with this block off (grey: no change).",
}
THUMB = 112  # side of a block's pictures in the grid
PREVIEW = 256  # side of the two renders at the top
SETTLE_MS = 250  # a latent or view change is analysed once it has rested this long


def to_pixmap(picture: np.ndarray, size: int, stretch: bool = False) -> QPixmap:
    """HWC uint8 -> a pixmap fitting ``size`` (nearest neighbour: channels and pixels stay crisp)."""
    rgb = as_rgb(picture)
    h, w, _ = rgb.shape
    pixmap = QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy())
    mode = Qt.IgnoreAspectRatio if stretch else Qt.KeepAspectRatio
    return pixmap.scaled(size, size, mode, Qt.FastTransformation)


@dataclass(frozen=True)
class _Result:
    """What one job computed, and for which probe and blocks."""

    probe: StructureProbe
    structure: Structure
    pictures: list[dict[str, np.ndarray]]  # block_images of every block, drawn off the UI thread too
    disabled: frozenset[int]
    preview: np.ndarray


class StructureWindow(QDialog):
    """Non-modal window; ``make_probe`` gives a probe for the open model (called again when the
    model changes), ``current_view`` the view the explorer shows.  ``sync=True`` computes in the
    calling thread (tests)."""

    def __init__(self, state: ExplorerState, make_probe: Callable[[], StructureProbe],
                 current_view: Callable[[], View], sync: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Structure — the bi-lines of each block")
        self.state, self.make_probe, self.current_view, self.sync = state, make_probe, current_view, sync
        self.probe: StructureProbe | None = None
        self.structure: Structure | None = None
        self.preview: np.ndarray | None = None  # the render with the unchecked blocks off, as shown
        self.checkboxes: list[QCheckBox] = []
        self.cells: list[dict[str, QLabel]] = []
        self.analyses = LatestJob(sync, self)
        self.analyses.finished.connect(self._show)
        self.analyses.failed.connect(lambda message: self.info.setText(f"Could not analyse: {message}"))

        self.info = plain_label()  # errors may quote what a file held
        self.info.setWordWrap(True)
        self.image_label, self.preview_label = QLabel(), QLabel()
        tops = QHBoxLayout()
        for label, title in ((self.image_label, "image"), (self.preview_label, "with the unchecked blocks off")):
            box = QVBoxLayout()
            box.addWidget(QLabel(title))
            label.setFixedSize(PREVIEW, PREVIEW)
            label.setAlignment(Qt.AlignCenter)
            box.addWidget(label)
            tops.addLayout(box)
        tops.addStretch(1)
        body = QWidget()  # the previews and the blocks scroll together: any screen reaches all of them
        body_lay = QVBoxLayout(body)
        body_lay.setContentsMargins(0, 0, 0, 0)
        body_lay.addLayout(tops)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        body_lay.addWidget(self.grid_host, 1)
        scroll = QScrollArea()
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        lay = QVBoxLayout(self)
        lay.addWidget(self.info)
        lay.addWidget(scroll, 1)

        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS, timeout=self.refresh)
        state.latentChanged.connect(self._changed)
        state.geometryChanged.connect(self._changed)
        state.renderChanged.connect(self._render_changed)
        state.modelChanged.connect(self._new_model)
        self._new_model()
        fit_to_screen(self, QSize(2 * PREVIEW + len(KINDS) * (THUMB + 8) - 120, 820))
        refit_when_shown(self)

    # ----- blocks ---------------------------------------------------------------------------
    def _new_model(self, *_: object) -> None:
        """A probe for the model now open, and a row (checkbox and pictures) for each of its blocks."""
        self.probe, self.structure = self.make_probe(), None
        while self.grid.count():
            self.grid.takeAt(0).widget().deleteLater()
        self.checkboxes, self.cells = [], []
        for col, kind in enumerate(KINDS, start=1):
            title = QLabel(KIND_TITLES[kind])
            title.setToolTip(KIND_HELP[kind])
            self.grid.addWidget(title, 0, col, Qt.AlignHCenter)
        for row, name in enumerate(self.probe.block_names, start=1):
            box = QCheckBox(name)
            box.setChecked(True)
            box.setToolTip(f"Uncheck to switch {name} off: its composed feature adds nothing to the image")
            box.toggled.connect(self.refresh)
            self.grid.addWidget(box, row, 0)
            cells = {}
            for col, kind in enumerate(KINDS, start=1):
                cell = QLabel()
                cell.setFixedSize(THUMB, THUMB)
                cell.setAlignment(Qt.AlignCenter)
                self.grid.addWidget(cell, row, col)
                cells[kind] = cell
            self.checkboxes.append(box)
            self.cells.append(cells)
        self.grid.setRowStretch(len(self.checkboxes) + 1, 1)
        self.grid.setColumnStretch(len(KINDS) + 1, 1)
        self.refresh()

    @property
    def disabled_blocks(self) -> frozenset[int]:
        return frozenset(i for i, box in enumerate(self.checkboxes) if not box.isChecked())

    # ----- computing --------------------------------------------------------------------------
    def _changed(self, *_: object) -> None:
        if self.sync:
            self.refresh()
        else:
            self._settle.start()

    def _render_changed(self, settings: RenderSettings) -> None:
        """Of the render settings, only the warp quality changes what is analysed (a turned view's lines)."""
        if self.structure is None or settings.warp_quality != self.structure.warp_quality:
            self._changed()

    def refresh(self, *_: object) -> None:
        """Compute what the explorer shows now (after the running job, which is told to stop)."""
        try:
            view = self.current_view()
        except ValueError as e:
            self.info.setText(f"Cannot analyse this view: {e}")
            return
        latent, disabled, quality = self.state.latent, self.disabled_blocks, self.state.render.warp_quality
        self.analyses.submit(lambda: self._work(latent, view, disabled, quality))

    def _work(self, latent: LatentSpec, view: View, disabled: frozenset[int], quality: str) -> Compute | None:
        """The analysis to run now (when its job starts: the structure on screen is known then)."""
        probe, shown = self.probe, self.structure
        if probe is None:
            return None
        self.info.setText("Computing…")

        def work(cancel) -> _Result:
            structure = probe.analyse(latent, view, cancel, warp_quality=quality)
            preview = probe.render(latent, view, disabled, cancel, quality) if disabled else structure.image
            # a block toggled: the same structure is on screen already, only the preview changes
            pictures = [] if structure is shown else [block_images(b) for b in structure.blocks]
            return _Result(probe, structure, pictures, disabled, preview)

        return work

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until the running job has ended (tests)."""
        self.analyses.wait_idle(timeout)

    def done(self, result: int) -> None:
        """Closing stops the running job first: it must not report to a deleted window."""
        self._settle.stop()
        self.analyses.stop(30)
        super().done(result)

    # ----- showing ------------------------------------------------------------------------------
    def _show(self, result: _Result) -> None:
        if result.probe is not self.probe:
            return  # computed for the model before the current one
        structure, self.preview = result.structure, result.preview
        if structure is not self.structure:
            self.structure = structure
            self.image_label.setPixmap(to_pixmap(structure.image, PREVIEW))
            for pictures, cells in zip(result.pictures, self.cells):
                for kind, picture in pictures.items():
                    cells[kind].setPixmap(to_pixmap(picture, THUMB, stretch=kind in ("rows", "cols")))
        self.preview_label.setPixmap(to_pixmap(self.preview, PREVIEW))
        v = structure.view
        off = ", ".join(self.probe.block_names[b] for b in sorted(result.disabled)) or "none"
        self.info.setText(f"Seed {structure.latent.seed} · {v.width}×{v.height} px (the view, at most "
                          f"{self.probe.max_side} per side) · analysed in {structure.seconds:.1f} s · "
                          f"blocks off: {off}")
