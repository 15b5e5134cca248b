"""Geometry panel: zoom, centre, rotation and warp, bound both ways to the state."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from creps_core.render.formula import FUNCTIONS
from creps_core.render.views import FORMULA_NAMES, View, Warp
from creps_viewer.model.records import Geometry
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.widgets import SliderRow, reset_button

WARPS = ("none", "swirl", "lens", "wave", "formula")
DEFAULT = Geometry()
DEFAULT_WARP = {"strength": 1.0, "radius": 0.5, "frequency": 2.0}
DEFAULT_FORMULA = ("y + 0.1*sin(6*x)", "x + 0.1*sin(6*y)")


def _coord_spin() -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(5)
    s.setRange(-1e4, 1e4)
    s.setSingleStep(0.01)
    s.setKeyboardTracking(False)
    s.setMinimumWidth(70)
    s.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
    return s


class GeometryPanel(QWidget):
    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)

        view_box = QGroupBox("View")
        form = QFormLayout(view_box)
        self.zoom = SliderRow("", 1 / 16, 4096.0, 1.0, decimals=4, log=True, label_width=0)  # 1/16 = 0.0625
        self.zoom.label.hide()
        form.addRow("Zoom", self.zoom)
        self.u, self.v = _coord_spin(), _coord_spin()
        self.center_reset = reset_button("Centre on (0.5, 0.5)")
        row = QHBoxLayout()
        row.addWidget(self.u, 1)
        row.addWidget(self.v, 1)
        row.addWidget(self.center_reset)
        form.addRow("Centre u, v", row)
        self.rotation = SliderRow("", -180.0, 180.0, 0.0, decimals=1, label_width=0)
        self.rotation.label.hide()
        form.addRow("Rotation °", self.rotation)
        reset_view = QPushButton("Reset view")
        reset_view.setToolTip("Zoom 1, centred, no rotation (key 0)")
        form.addRow(reset_view)
        root.addWidget(view_box)

        warp_box = QGroupBox("Warp")
        form = self.warp_form = QFormLayout(warp_box)
        self.warp_kind = QComboBox()
        self.warp_kind.addItems([k.capitalize() for k in WARPS])
        form.addRow("Type", self.warp_kind)
        self.strength = SliderRow("", -4.0, 4.0, DEFAULT_WARP["strength"], label_width=0)
        self.radius = SliderRow("", 0.05, 4.0, DEFAULT_WARP["radius"], label_width=0)
        self.frequency = SliderRow("", 0.1, 10.0, DEFAULT_WARP["frequency"], label_width=0)
        for name, row in (("Strength", self.strength), ("Radius", self.radius), ("Frequency", self.frequency)):
            row.label.hide()
            form.addRow(name, row)
            row.valueChanged.connect(lambda v, name=name: self._warp_edited(f"warp-{name}"))
        self.formula_row, self.formula_col = QLineEdit(DEFAULT_FORMULA[0]), QLineEdit(DEFAULT_FORMULA[1])
        for edit, which in ((self.formula_row, "row"), (self.formula_col, "column")):
            edit.setToolTip(f"The new {which} offset as an expression of {FORMULA_NAMES}, pi, numbers, "
                            f"+ - * / ** (by a constant), comparisons, & |, and {', '.join(FUNCTIONS)}. "
                            "Strength fades it in.")
            edit.editingFinished.connect(lambda: self._warp_edited(None))
        form.addRow("Row y′ =", self.formula_row)
        form.addRow("Column x′ =", self.formula_col)
        self.formula_error = QLabel("")
        self.formula_error.setTextFormat(Qt.TextFormat.PlainText)  # it quotes what was typed
        self.formula_error.setWordWrap(True)
        self.formula_error.setStyleSheet("color: #c0392b;")
        self.formula_error.hide()
        form.addRow(self.formula_error)
        root.addWidget(warp_box)
        root.addStretch(1)

        self.zoom.valueChanged.connect(lambda z: state.update_geometry(merge="zoom", zoom=z))
        self.u.valueChanged.connect(lambda u: state.update_geometry(center=(u, state.geometry.center[1])))
        self.v.valueChanged.connect(lambda v: state.update_geometry(center=(state.geometry.center[0], v)))
        self.center_reset.clicked.connect(lambda: state.update_geometry(center=DEFAULT.center))
        self.rotation.valueChanged.connect(lambda r: state.update_geometry(merge="rotation", rotation=r))
        reset_view.clicked.connect(lambda: state.set_geometry(Geometry(warp=state.geometry.warp)))
        self.warp_kind.currentIndexChanged.connect(lambda i: self._warp_edited(None))
        state.geometryChanged.connect(self.sync_from_state)
        self.sync_from_state(state.geometry)

    def _warp_edited(self, merge: str | None) -> None:
        kind = WARPS[self.warp_kind.currentIndex()]
        formula = (self.formula_row.text(), self.formula_col.text()) if kind == "formula" else None
        try:
            warp = None if kind == "none" else Warp(kind, strength=self.strength.value(), radius=self.radius.value(),
                                                    frequency=self.frequency.value(), formula=formula)
            if warp is not None:
                View(9, 9, warp=warp).field()  # 81 points: says "not finite" or "too far" while typing
        except ValueError as e:  # a formula being typed: say what is wrong, keep the last good view
            self.formula_error.setText(str(e))
            self.formula_error.show()
            return
        self.formula_error.hide()
        self.state.update_geometry(merge=merge, warp=warp)

    def sync_from_state(self, g: Geometry) -> None:
        with QSignalBlocker(self.u), QSignalBlocker(self.v), QSignalBlocker(self.warp_kind):
            self.zoom.set_value(g.zoom)
            self.u.setValue(g.center[0])
            self.v.setValue(g.center[1])
            self.center_reset.setEnabled(g.center != DEFAULT.center)
            self.rotation.set_value(g.rotation)
            kind = g.warp.kind if g.warp is not None and g.warp.kind in WARPS else "none"
            self.warp_kind.setCurrentIndex(WARPS.index(kind))
            if g.warp is not None:
                self.strength.set_value(g.warp.strength)
                self.radius.set_value(g.warp.radius)
                self.frequency.set_value(g.warp.frequency)
            if g.warp is not None and g.warp.formula is not None:
                self.formula_row.setText(g.warp.formula[0])
                self.formula_col.setText(g.warp.formula[1])
            self.strength.setEnabled(kind != "none")
            self.radius.setEnabled(kind in ("swirl", "lens"))
            self.frequency.setEnabled(kind == "wave")
            for edit in (self.formula_row, self.formula_col):
                edit.setVisible(kind == "formula")
                self.warp_form.labelForField(edit).setVisible(kind == "formula")
