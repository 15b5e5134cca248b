"""Reusable controls: labelled value rows with a reset button, and a range slider.

Every row shows a reset button that is enabled only while the value differs from
its default, so a user can always see what they changed and undo it in one click.
Setting a value programmatically (state -> widget) never emits ``valueChanged``,
which keeps the two-way binding free of feedback loops.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSignalBlocker, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QMessageBox,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QWidget,
)

from creps_viewer.qt.plain_text import plain_label

SLIDER_STEPS = 1000
MAX_SEED = 2**31 - 1


def seed_spin(value: int = 0) -> QSpinBox:
    """A seed box: every seed, and a new value only once typing is done (each one renders)."""
    s = QSpinBox()
    s.setRange(0, MAX_SEED)
    s.setValue(value)
    s.setKeyboardTracking(False)
    s.setMinimumWidth(90)
    return s


def reset_button(tooltip: str) -> QToolButton:
    b = QToolButton()
    b.setText("↺")
    b.setToolTip(tooltip)
    b.setAutoRaise(True)
    b.setFixedWidth(22)
    return b


class SliderRow(QWidget):
    """label | slider | spin box | reset.  ``log=True`` maps the slider to log2(value).

    The label is plain text: it may be the name of a direction read from a file."""

    valueChanged = Signal(float)

    def __init__(self, label: str, minimum: float, maximum: float, default: float, decimals: int = 2,
                 log: bool = False, label_width: int = 70, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.minimum, self.maximum, self.default, self.log = minimum, maximum, default, log
        self.label = plain_label(label)
        self.label.setFixedWidth(label_width)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(decimals)
        self.spin.setRange(minimum, maximum)
        self.spin.setSingleStep(10 ** -decimals * 10 if decimals else 1)
        self.spin.setKeyboardTracking(False)
        self.spin.setFixedWidth(78)
        if log:
            self.spin.setStepType(QAbstractSpinBox.AdaptiveDecimalStepType)
        self.reset = reset_button(f"Reset to {default:g}")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        for w in (self.label, self.slider, self.spin, self.reset):
            lay.addWidget(w)
        self.slider.valueChanged.connect(lambda pos: self._user_set(self._from_slider(pos)))
        self.spin.valueChanged.connect(self._user_set)
        self.reset.clicked.connect(lambda: self._user_set(self.default))
        self.set_value(default)

    def _to_slider(self, v: float) -> int:
        lo, hi = (math.log2(self.minimum), math.log2(self.maximum)) if self.log else (self.minimum, self.maximum)
        x = math.log2(max(v, self.minimum)) if self.log else v
        return round((min(max(x, lo), hi) - lo) / (hi - lo) * SLIDER_STEPS)

    def _from_slider(self, pos: int) -> float:
        lo, hi = (math.log2(self.minimum), math.log2(self.maximum)) if self.log else (self.minimum, self.maximum)
        x = lo + (hi - lo) * pos / SLIDER_STEPS
        return 2.0 ** x if self.log else x

    def value(self) -> float:
        return self.spin.value()

    def set_value(self, v: float) -> None:
        with QSignalBlocker(self.slider), QSignalBlocker(self.spin):
            self.spin.setValue(v)
            self.slider.setValue(self._to_slider(v))
        self.reset.setEnabled(not math.isclose(v, self.default, rel_tol=1e-9, abs_tol=1e-12))

    def _user_set(self, v: float) -> None:
        v = min(max(v, self.minimum), self.maximum)
        self.set_value(v)
        self.valueChanged.emit(v)


class RangeSlider(QWidget):
    """Select [low, high) of 0..count with two handles (style-mixing layers)."""

    rangeChanged = Signal(int, int)

    def __init__(self, count: int = 1, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.count, self.low, self.high = count, 0, count
        self._drag: str | None = None
        self.setMinimumHeight(22)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_count(self, count: int) -> None:
        self.count = max(1, count)
        self.set_range(min(self.low, self.count), min(self.high, self.count))

    def set_range(self, low: int, high: int) -> None:
        self.low, self.high = low, high
        self.update()

    def _x(self, i: int) -> float:
        return 8 + (self.width() - 16) * i / self.count

    def _index_at(self, x: float) -> int:
        return max(0, min(self.count, round((x - 8) / max(1, self.width() - 16) * self.count)))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        mid = self.height() / 2
        p.setPen(Qt.NoPen)
        p.setBrush(pal.color(QPalette.Mid))
        p.drawRoundedRect(QRectF(8, mid - 2, self.width() - 16, 4), 2, 2)
        p.setBrush(pal.color(QPalette.Highlight) if self.isEnabled() else pal.color(QPalette.Dark))
        p.drawRect(QRectF(self._x(self.low), mid - 3, self._x(self.high) - self._x(self.low), 6))
        p.setPen(pal.color(QPalette.Dark))
        for i in range(self.count + 1):
            p.drawLine(round(self._x(i)), round(mid + 5), round(self._x(i)), round(mid + 8))
        p.setBrush(pal.color(QPalette.Button))
        p.setPen(QColor(90, 90, 90))
        for i in (self.low, self.high):
            p.drawEllipse(QRectF(self._x(i) - 6, mid - 6, 12, 12))
        p.end()

    def mousePressEvent(self, e: QMouseEvent) -> None:
        i = self._index_at(e.position().x())
        self._drag = "low" if abs(i - self.low) <= abs(i - self.high) and i <= self.high else "high"
        self.mouseMoveEvent(e)

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._drag is None:
            return
        i = self._index_at(e.position().x())
        low, high = (min(i, self.high), self.high) if self._drag == "low" else (self.low, max(i, self.low))
        if (low, high) != (self.low, self.high):
            self.set_range(low, high)
            self.rangeChanged.emit(low, high)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self._drag = None


def ask_to_go_on(parent, what: str, remedy: str) -> bool:
    """Ask whether a job may replace what it found in its way (``force``) or discard another job's
    unfinished work (``fresh``); the default answer keeps everything."""
    if remedy == "fresh":
        title, text, yes = "Discard the unfinished work?", f"{what}.\n\nDiscard it and start again?", "Discard"
    else:
        title, text, yes = "Replace?", f"{what}.\n\nReplace it?", "Replace"
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)  # names from the disk
    go = box.addButton(yes, QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is go
