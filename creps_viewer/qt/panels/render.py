"""Render panel: device, precision, preview size, warp quality, and recent frame times."""

from __future__ import annotations

from collections import deque

import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from creps_core.render.hardware import available_devices
from creps_core.vocabulary import PRECISIONS, WARP_QUALITIES
from creps_viewer.model.records import PREVIEW_SCALES, RenderSettings
from creps_viewer.model.state import ExplorerState
from creps_viewer.render.frame_plan import Frame

HISTORY = 120


class RenderPanel(QWidget):
    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        box = QGroupBox("Rendering")
        form = QFormLayout(box)
        self.device = QComboBox()
        self.device.addItems(available_devices())
        form.addRow("Device", self.device)
        self.precision = QComboBox()
        self.precision.addItems(list(PRECISIONS))
        self.precision.setToolTip("fp32 is the reference; bf16 (CPU) / fp16 (CUDA) are faster approximations")
        form.addRow("Precision", self.precision)
        self.preview = QComboBox()
        for scale, text in PREVIEW_SCALES:
            self.preview.addItem(text, scale)
        self.preview.setToolTip("Coarse preview shown while you interact; it sharpens when you stop")
        form.addRow("Preview", self.preview)
        self.warp_quality = QComboBox()
        self.warp_quality.addItems(list(WARP_QUALITIES))
        self.warp_quality.setToolTip("How sharp frames of rotated and warped views get their lines: draft (fast, "
                                     ">= 40 dB), fine (>= 55 dB), exact (every pixel's own, slow). Previews and "
                                     "drags are always drawn at draft")
        form.addRow("Warp quality", self.warp_quality)
        root.addWidget(box)

        times = QGroupBox("Frame times")
        lay = QVBoxLayout(times)
        self.last_frame = QLabel("–")
        self.last_frame.setWordWrap(True)
        lay.addWidget(self.last_frame)
        self.plot = pg.PlotWidget(background=None)
        self.plot.setMinimumHeight(130)
        self.plot.setLabel("left", "ms")
        self.plot.setLabel("bottom", "frame")
        self.plot.showGrid(y=True, alpha=0.3)
        self.plot.addLegend(offset=(-5, 5))
        self.preview_curve = self.plot.plot(pen=pg.mkPen((230, 160, 40), width=1.5), name="preview",
                                            symbol="o", symbolSize=4, symbolBrush=(230, 160, 40))
        self.full_curve = self.plot.plot(pen=pg.mkPen((60, 140, 230), width=1.5), name="full",
                                         symbol="o", symbolSize=4, symbolBrush=(60, 140, 230))
        self.times: dict[str, deque] = {"preview": deque(maxlen=HISTORY), "full": deque(maxlen=HISTORY)}
        self.count = 0
        lay.addWidget(self.plot)
        root.addWidget(times)
        root.addStretch(1)

        self.device.currentTextChanged.connect(lambda d: state.update_render(device=d))
        self.precision.currentTextChanged.connect(lambda p: state.update_render(precision=p))
        self.preview.currentIndexChanged.connect(lambda i: state.update_render(preview_scale=self.preview.itemData(i)))
        self.warp_quality.currentTextChanged.connect(lambda q: state.update_render(warp_quality=q))
        state.renderChanged.connect(self.sync_from_state)
        self.sync_from_state(state.render)

    def sync_from_state(self, s: RenderSettings) -> None:
        with QSignalBlocker(self.device), QSignalBlocker(self.precision), QSignalBlocker(self.preview), \
                QSignalBlocker(self.warp_quality):
            if self.device.findText(s.device) < 0:
                self.device.addItem(s.device)
            self.device.setCurrentText(s.device)
            self.precision.setCurrentText(s.precision)
            self.preview.setCurrentIndex(max(0, self.preview.findData(s.preview_scale)))
            self.warp_quality.setCurrentText(s.warp_quality)

    def add_frame(self, frame: Frame) -> None:
        if frame.level not in self.times:  # partial frames are progress, not frame times
            return
        self.count += 1
        self.times[frame.level].append((self.count, frame.ms))
        for level, curve in (("preview", self.preview_curve), ("full", self.full_curve)):
            pts = self.times[level]
            curve.setData([p[0] for p in pts], [p[1] for p in pts])
        share = frame.pixels_rendered / max(1, frame.pixels_total)
        self.last_frame.setText(f"{frame.level} {frame.view.width}×{frame.view.height}: {frame.ms:.0f} ms, "
                                f"{share:.0%} of pixels computed")
