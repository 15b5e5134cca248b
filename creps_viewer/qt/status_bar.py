"""The window's status bar: what is rendering and how far it got, the view, the last frame's time
and the frame rate, and the open model.

The frame rate is counted here, from the frames shown, because it is only ever displayed: a
rate is shown while frames keep coming, and dropped once the newest request is settled."""

from __future__ import annotations

import time
from collections import deque

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QToolButton, QWidget

from creps_core.model.checkpoint import LoadedModel
from creps_core.model.demo import model_label
from creps_core.progress import Progress
from creps_viewer.model.records import Geometry
from creps_viewer.qt.plain_text import plain_label
from creps_viewer.render.frame_plan import Frame

RATE_WINDOW_S = 2.0  # the frame rate counts the frames of the last two seconds


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # As QMainWindow.statusBar() makes its own: long labels are cut, they never widen the window.
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.activity_label = plain_label()  # names the file it will save
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.timing_label = QLabel("")
        self.model_label = plain_label("no model")  # the model file's name
        self.view_label = QLabel("")
        self.addWidget(self.activity_label, 1)
        self.addPermanentWidget(self.view_label)
        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.timing_label)
        self.addPermanentWidget(self.model_label)
        self._frame_times: deque[float] = deque(maxlen=30)

    def add_button(self, action: QAction) -> QToolButton:
        """A button at the right end that triggers ``action`` (Capture)."""
        button = QToolButton()
        button.setDefaultAction(action)
        button.setAutoRaise(True)
        button.setText(action.text().replace("&", "").split(" ")[0])
        self.addPermanentWidget(button)
        return button

    def show_activity(self, text: str) -> None:
        """What the render worker does now ("" when idle); the bar shows for refining, not previews."""
        self.activity_label.setText(f"Rendering: {text}" if text else "Ready")
        self.progress.setVisible(bool(text) and not text.startswith("preview"))
        if not text:
            self.progress.setValue(0)

    def show_progress(self, step: Progress) -> None:
        self.progress.setValue(int(step.fraction * 1000))

    def show_geometry(self, g: Geometry) -> None:
        warp = f" · {g.warp.kind}" if g.warp is not None else ""
        self.view_label.setText(f"zoom {g.zoom:.3g} · centre ({g.center[0]:.4f}, {g.center[1]:.4f}) · "
                                f"{g.rotation:.1f}°{warp}")

    def show_model(self, model: LoadedModel, device: str) -> None:
        self.model_label.setText(f"{model_label(model)} · {model.cfg.img_resolution}px · {device}")

    def show_frame(self, frame: Frame, settled: bool) -> None:
        """A frame's level and time; while frames keep coming (not ``settled``), the rate too."""
        now = time.perf_counter()
        self._frame_times.append(now)
        recent = [t for t in self._frame_times if now - t < RATE_WINDOW_S]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 2 else 0.0
        rate = f" · {fps:.1f} fps" if fps and not settled else ""
        self.timing_label.setText(f"{frame.level} {frame.ms:.0f} ms{rate}")
