"""The wheel scrolls panels; a value control takes it only when it has the keyboard focus.

Without this, scrolling the Controls panel changes whichever slider, spin box or list passes
under the pointer: on a real-size model that starts a long render and adds an undo step. One
application-wide filter does it for every control, in every panel and dialog, including the
rows a panel adds later:

- a slider, spin box or combo box gets ``Qt.StrongFocus`` (a click or Tab focuses it, the wheel
  does not) when it is first shown;
- a wheel event over one that does not have the focus goes to the scroll area around it instead
  (nothing happens where there is none).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QScrollBar,
    QWidget,
)

VALUE_CONTROLS = (QAbstractSlider, QAbstractSpinBox, QComboBox)


def takes_wheel_only_with_focus(widget: QObject) -> bool:
    """A control whose value the wheel would change (a scroll bar scrolls: it keeps the wheel)."""
    return isinstance(widget, VALUE_CONTROLS) and not isinstance(widget, QScrollBar)


class WheelGuard(QObject):
    """The application's event filter (see the module's docstring); :func:`install` adds it once."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish and takes_wheel_only_with_focus(watched):
            assert isinstance(watched, QWidget)
            if watched.focusPolicy() == Qt.WheelFocus:
                watched.setFocusPolicy(Qt.StrongFocus)
        elif kind == QEvent.Type.Wheel and takes_wheel_only_with_focus(watched):
            assert isinstance(watched, QWidget)
            focus = watched.window().focusWidget()  # the window's, active or not
            if focus is None or (focus is not watched and not watched.isAncestorOf(focus)):
                area = scroll_area_around(watched)
                if area is not None:
                    QApplication.sendEvent(area.viewport(), event)
                return True
        return False


def scroll_area_around(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent


def install(app: QApplication) -> WheelGuard:
    """Filter the application's events with the one :class:`WheelGuard` (idempotent)."""
    guard = app.findChild(WheelGuard)
    if guard is None:
        guard = WheelGuard(app)
        app.installEventFilter(guard)
    return guard
