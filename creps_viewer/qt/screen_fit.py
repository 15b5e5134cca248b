"""Top-level windows that fit the screen they are on.

A window larger than the screen's available area (the screen less panels and docks) hides its
own edges: at 900x600 a 1280x800 explorer puts its Controls dock and status bar off screen, and
a fixed-size dialog its close button. :func:`fit_to_screen` shrinks a window to the available
area and moves it back inside, counting the window manager's title bar and borders: before the
window is shown they are not known yet, so :data:`FRAME_ALLOWANCE` stands for them, and once it
is shown the real ones are used (:func:`refit_when_shown`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QMargins, QObject, QRect, QSize, QTimer
from PySide6.QtGui import QGuiApplication, QScreen
from PySide6.QtWidgets import QWidget

FRAME_ALLOWANCE = QMargins(4, 32, 4, 4)  # a title bar and thin borders, until the real ones are known
SETTLE_MS = (0, 250, 1000)  # when to look again after showing: window managers frame a window late


def fitted(frame: QRect, available: QRect) -> QRect:
    """``frame`` (a window with its decorations) shrunk to ``available`` and moved inside it."""
    w, h = min(frame.width(), available.width()), min(frame.height(), available.height())
    x = min(max(frame.x(), available.x()), available.x() + available.width() - w)
    y = min(max(frame.y(), available.y()), available.y() + available.height() - h)
    return QRect(x, y, w, h)


def centred(size: QSize, available: QRect) -> QRect:
    """A frame of ``size`` (at most the available area) in the middle of ``available``."""
    w, h = min(size.width(), available.width()), min(size.height(), available.height())
    return QRect(available.x() + (available.width() - w) // 2, available.y() + (available.height() - h) // 2, w, h)


def screen_of(window: QWidget) -> QScreen:
    """The screen the window is on (its centre's), else the primary screen."""
    return (QGuiApplication.screenAt(window.geometry().center()) or window.screen()
            or QGuiApplication.primaryScreen())


def decorations(window: QWidget) -> QMargins:
    """The window manager's frame around ``window``: measured once shown, else the allowance."""
    inner, outer = window.geometry(), window.frameGeometry()
    if window.isVisible() and outer != inner:
        return QMargins(inner.left() - outer.left(), inner.top() - outer.top(),
                        outer.right() - inner.right(), outer.bottom() - inner.bottom())
    return FRAME_ALLOWANCE


def fit_to_screen(window: QWidget, size: QSize | None = None) -> None:
    """Shrink ``window`` to its screen's available area and move it inside. ``size`` (a first
    start's wish) centres a window of that size, as far as the screen allows, instead."""
    available = screen_of(window).availableGeometry()
    margins = decorations(window)
    if size is not None:
        frame = centred(size.grownBy(margins), available)
    else:
        frame = fitted(QRect(window.frameGeometry().topLeft(), window.size().grownBy(margins)), available)
    inner = frame.size().shrunkBy(margins)
    inner = inner.expandedTo(window.minimumSize())  # a window never gets smaller than it can be
    if inner != window.size():
        window.resize(inner)
    if frame.topLeft() != window.frameGeometry().topLeft():
        window.move(frame.topLeft())  # a top-level window's position is its frame's


class _RefitWhenShown(QObject):
    """Fits its window again at each of the first show's settling moments, when the window
    manager's real frame is known (a frame taller than the allowance would push the bottom out),
    unless someone has resized the window meanwhile: that size was chosen after the fit."""

    def __init__(self, window: QWidget, enabled: Callable[[], bool]) -> None:
        super().__init__(window)
        self.enabled = enabled
        self.size = QSize()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show and isinstance(watched, QWidget):
            watched.removeEventFilter(self)
            self.size = watched.size()
            for ms in SETTLE_MS:
                QTimer.singleShot(ms, watched, lambda w=watched: self.refit(w))
        return False

    def refit(self, window: QWidget) -> None:
        if self.enabled() and window.size() == self.size:
            fit_to_screen(window)
            self.size = window.size()


def refit_when_shown(window: QWidget, enabled: Callable[[], bool] = lambda: True) -> None:
    """Fit ``window`` again once it is shown and framed (its first show only; not while
    ``enabled()`` is False)."""
    window.installEventFilter(_RefitWhenShown(window, enabled))
