"""The Video tab's presets: camera moves that start at the explorer's current state (zoom into
its centre, orbit about it, pan across, a walk through seeds at its view).

Each preset replaces the whole keyframe list through ``state.replace_keyframes``, so one Undo in
the tab brings recorded keyframes back."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QWidget,
)

from creps_core.jobs import video
from creps_core.vocabulary import ZOOM_PRESET_FACTOR
from creps_viewer.model.state import ExplorerState


class KeyframePresets(QGroupBox):
    walked = Signal()  # a latent walk replaced the keyframes (the panel blends it as a looped spline)

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__("Presets", parent)
        self.state = state
        self.setToolTip("Each preset replaces the keyframes with a move that starts at the current state")
        grid = QGridLayout(self)
        self.zoom_factor = QDoubleSpinBox()
        self.zoom_factor.setRange(1.01, 1e6)
        self.zoom_factor.setDecimals(1)
        self.zoom_factor.setValue(ZOOM_PRESET_FACTOR)
        self.zoom_factor.setPrefix("× ")
        self.zoom_button = QPushButton("Zoom in")
        self.zoom_button.setToolTip("Zoom into the current centre by the factor")
        self.orbit_turns = QDoubleSpinBox()
        self.orbit_turns.setRange(-10, 10)
        self.orbit_turns.setValue(1)
        self.orbit_turns.setSuffix(" turn(s)")
        self.orbit_button = QPushButton("Orbit")
        self.orbit_button.setToolTip("Rotate about the current centre (1 turn = 360°)")
        self.pan_widths = QDoubleSpinBox()
        self.pan_widths.setRange(-100, 100)
        self.pan_widths.setValue(2)
        self.pan_widths.setSuffix(" widths →")
        self.pan_widths.setToolTip("How far to pan, in view widths along the view's horizontal (negative: left)")
        self.pan_button = QPushButton("Pan across")
        self.seed_from, self.seed_to = QSpinBox(), QSpinBox()
        for s in (self.seed_from, self.seed_to):
            s.setRange(0, 2**31 - 1)
        self.seed_to.setValue(4)
        seeds = QHBoxLayout()
        seeds.addWidget(self.seed_from)
        seeds.addWidget(QLabel(".."))
        seeds.addWidget(self.seed_to)
        self.walk_button = QPushButton("Latent walk")
        self.walk_button.setToolTip("Through seeds a..b at the current view (spline, looped: the official look)")
        self.preset_seconds = QDoubleSpinBox()
        self.preset_seconds.setRange(0.1, 600)
        self.preset_seconds.setValue(8)
        self.preset_seconds.setSuffix(" s")
        self.preset_seconds.setToolTip("Length of a zoom, orbit or pan; seconds per seed for a latent walk is a "
                                       "quarter of it")
        rows = ((self.zoom_factor, self.zoom_button), (self.orbit_turns, self.orbit_button),
                (self.pan_widths, self.pan_button), (seeds, self.walk_button))
        for r, (field, button) in enumerate(rows):
            if isinstance(field, QHBoxLayout):
                grid.addLayout(field, r, 0)
            else:
                grid.addWidget(field, r, 0)
            grid.addWidget(button, r, 1)
            button.setMinimumWidth(96)
        grid.setColumnStretch(0, 1)
        grid.addWidget(QLabel("Length"), 4, 0, Qt.AlignRight)
        grid.addWidget(self.preset_seconds, 4, 1)
        self.zoom_button.clicked.connect(self.preset_zoom)
        self.orbit_button.clicked.connect(self.preset_orbit)
        self.pan_button.clicked.connect(self.preset_pan)
        self.walk_button.clicked.connect(self.preset_walk)

    def preset_zoom(self) -> None:
        v = self.state.view(snap=False)
        self.state.replace_keyframes(video.zoom_into(v, self.state.latent, v.center, self.zoom_factor.value(),
                                                     self.preset_seconds.value()))

    def preset_orbit(self) -> None:
        v = self.state.view(snap=False)
        self.state.replace_keyframes(video.orbit(v, self.state.latent, self.orbit_turns.value(),
                                                 self.preset_seconds.value()))

    def preset_pan(self) -> None:
        """Pan by N view widths along the screen's horizontal (rotation taken into account)."""
        v = self.state.view(snap=False)
        y = (v.height - 1) / 2
        (u0, v0), (u1, v1) = v.coord_at(0, y), v.coord_at(v.width - 1, y)  # one view width, as the screen sees it
        n = self.pan_widths.value()
        target = (v.center[0] + n * (u1 - u0), v.center[1] + n * (v1 - v0))
        self.state.replace_keyframes(video.pan(v, self.state.latent, target, self.preset_seconds.value()))

    def preset_walk(self) -> None:
        a, b = self.seed_from.value(), self.seed_to.value()
        seeds = list(range(a, b + 1)) if a <= b else list(range(a, b - 1, -1))
        lat = self.state.latent
        seconds = max(0.1, self.preset_seconds.value() / 4)
        self.state.replace_keyframes(video.latent_walk(self.state.view(snap=False), seeds, seconds, psi=lat.psi,
                                                       class_idx=lat.class_idx))
        self.walked.emit()
