"""Render panel: device, precision, preview size, warp quality, and recent frame times.

Warp quality exact can cost hundreds of times a table's frame on a big model, so the panel says
what a new sharp frame of this view costs at each quality (from the model's multiply-adds and the
speed measured on the explorer's own frames) and asks before switching to exact when it would take
longer than :data:`EXPENSIVE_S`, keeping the quality it had as the default answer."""

from __future__ import annotations

from collections import deque

import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from creps_core.progress import format_duration
from creps_core.render.hardware import available_devices
from creps_core.vocabulary import PRECISION_CHOICES, WARP_QUALITIES
from creps_viewer.model.records import PREVIEW_SCALES, RenderSettings
from creps_viewer.model.state import ExplorerState
from creps_viewer.render.frame_plan import Frame

HISTORY = 120
EXPENSIVE_S = 30.0  # a frame estimated slower than this is confirmed before it starts


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
        self.precision.addItems(list(PRECISION_CHOICES))
        self.precision.setToolTip("auto: the fastest this machine does that keeps the pixels (measured); fp32 is the "
                                  "reference; bf16 (CPU) / fp16 (CUDA) are faster approximations")
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
        self.cost = QLabel()
        self.cost.setWordWrap(True)
        self.cost.setStyleSheet("color: palette(mid);")
        form.addRow(self.cost)
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
        self.warp_quality.currentTextChanged.connect(self._quality_chosen)
        state.renderChanged.connect(self.sync_from_state)
        for signal in (state.renderChanged, state.geometryChanged, state.viewportChanged, state.modelChanged,
                       state.speedChanged):
            signal.connect(self.refresh_cost)
        self.sync_from_state(state.render)
        self.refresh_cost()

    def costs(self) -> dict[str, float] | None:
        """Seconds of a new sharp frame of this view at each warp quality (None: not known yet, or
        the view is straight and every quality draws the same pixels)."""
        if self.state.geometry.view(16, 16).is_separable:
            return None
        seconds = {q: self.state.view_seconds(q) for q in WARP_QUALITIES}
        return None if any(s is None for s in seconds.values()) else seconds  # type: ignore[return-value]

    def refresh_cost(self, *_: object) -> None:
        if self.state.geometry.view(16, 16).is_separable:
            self.cost.setText("The warp quality changes nothing on a straight view.")
            return
        costs = self.costs()
        self.cost.setText("The cost of a frame is said after the first sharp frame." if costs is None else
                          "A new sharp frame of this view: about " +
                          ", ".join(f"{format_duration(costs[q])} {q}" for q in WARP_QUALITIES) + ".")

    def _quality_chosen(self, quality: str) -> None:
        costs, before = self.costs(), self.state.render.warp_quality
        if quality == "exact" and before != "exact" and costs is not None and costs["exact"] > EXPENSIVE_S \
                and not self.confirm_expensive(costs[before], costs["exact"]):
            with QSignalBlocker(self.warp_quality):
                self.warp_quality.setCurrentText(before)  # the cheaper choice: nothing was started
            return
        self.state.update_render(warp_quality=quality)

    def confirm_expensive(self, table: float, exact: float) -> bool:
        """Ask before a sharp frame that takes ``exact`` seconds at quality exact where the quality
        chosen so far takes ``table`` (tests replace this method); the default answer keeps it."""
        before = self.state.render.warp_quality
        box = QMessageBox(QMessageBox.Icon.Question, "Exact warp quality",
                          f"Warp quality exact evaluates every pixel's own lines: a new frame of this view takes "
                          f"about {format_duration(exact)} here, against {format_duration(table)} at {before}.",
                          QMessageBox.StandardButton.NoButton, self)
        go = box.addButton(f"Exact ({format_duration(exact)})", QMessageBox.ButtonRole.AcceptRole)
        keep = box.addButton(f"Keep {before} ({format_duration(table)})", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.exec()
        return box.clickedButton() is go

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
        ran = f"{frame.request.precision} → {frame.precision}" if frame.request.precision == "auto" else frame.precision
        self.last_frame.setText(f"{frame.level} {frame.view.width}×{frame.view.height}: {frame.ms:.0f} ms, "
                                f"{share:.0%} of pixels computed, {ran}")
