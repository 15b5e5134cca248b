"""The viewport: draws the latest frame and turns mouse/keyboard input into geometry.

Mouse: drag = pan, wheel = zoom about the cursor, right-drag or Shift+drag =
rotate about the centre, double-click = centre there.  The keys (arrows pan 10 %, +/- zoom,
[ / ] rotate 15 degrees, 0 or Home resets the view) are the View menu's actions, which call
the steps here: they reach the view whatever widget has the focus, except a text field.

While a new frame renders, the last frame is drawn through the affine map from
its geometry to the current one (:func:`viewmath.frame_to_screen`), so every
gesture answers at once; previews are drawn smoothly scaled.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QTransform, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from creps_viewer.model import viewmath
from creps_viewer.model.records import Geometry
from creps_viewer.model.state import ExplorerState
from creps_viewer.render.frame_plan import Frame

MOUSE_GESTURES = (  # what the mouse does over the view (Help ▸ Keyboard shortcuts lists them)
    ("Pan", "drag"),
    ("Zoom about the pointer", "wheel"),
    ("Rotate about the centre", "right-drag, or Shift+drag"),
    ("Centre there", "double-click"),
)
WHEEL_STEP = 1.25  # zoom factor per wheel notch
KEY_PAN = 0.1  # fraction of the viewport per arrow key
KEY_ROTATE = 15.0


class Viewport(QWidget):
    """Shows frames; edits ``state.geometry``.  ``interacting`` is True during a gesture."""

    sizeChanged = Signal()

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._frame_geometry: Geometry | None = None
        self._qimage: QImage | None = None
        self._press: tuple[Qt.MouseButton, QPointF, bool] | None = None  # button, last pos, rotating
        self.interacting = False
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(False)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setCursor(Qt.OpenHandCursor)
        state.geometryChanged.connect(self.update)

    # ----- frames -----------------------------------------------------------------------
    def show_frame(self, frame: Frame, geometry: Geometry) -> None:
        rgb = frame.rgb
        h, w, _ = rgb.shape
        self._qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy()
        self._frame_geometry = geometry
        self.update()

    def clear_frame(self) -> None:
        self._frame_geometry, self._qimage = None, None
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 36))
        if self._qimage is not None and self._frame_geometry is not None:
            fw, fh = self._qimage.width(), self._qimage.height()
            a, b, c, d, e, f = viewmath.frame_to_screen(self._frame_geometry, fw, fh, self.state.geometry,
                                                        self.width(), self.height())
            # Pixel centres sit at index + 0.5 in Qt's painting coordinates.
            t = QTransform.fromTranslate(-0.5, -0.5) * QTransform(a, d, b, e, c, f) * QTransform.fromTranslate(0.5, 0.5)
            if max(abs(a - 1), abs(b), abs(c), abs(d), abs(e - 1), abs(f)) > 1e-6:  # not the frame's own geometry
                p.setRenderHint(QPainter.SmoothPixmapTransform, True)
                p.setTransform(t)
            p.drawImage(0, 0, self._qimage)
        p.end()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.sizeChanged.emit()

    # ----- mouse ------------------------------------------------------------------------
    def mousePressEvent(self, e: QMouseEvent) -> None:
        rotating = e.button() == Qt.RightButton or bool(e.modifiers() & Qt.ShiftModifier)
        if e.button() in (Qt.LeftButton, Qt.RightButton):
            self._press = (e.button(), e.position(), rotating)
            self.interacting = True
            self.setCursor(Qt.ClosedHandCursor)
        self.setFocus()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._press is None:
            return
        button, last, rotating = self._press
        pos = e.position()
        g = self.state.geometry
        if rotating:
            cx, cy = (self.width() - 1) / 2, (self.height() - 1) / 2
            a0 = math.atan2(last.y() - cy, last.x() - cx)
            a1 = math.atan2(pos.y() - cy, pos.x() - cx)
            # A positive rotation turns the content clockwise on screen (y points down), like the hand.
            g = viewmath.rotated_about_center(g, math.degrees(a1 - a0))
            merge = "rotate-drag"
        else:
            g = viewmath.panned(g, self.width(), self.height(), pos.x() - last.x(), pos.y() - last.y())
            merge = "pan-drag"
        self._press = (button, pos, rotating)
        self.state.set_geometry(g, merge=merge)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        if self._press is not None:
            self._press = None
            self.state.close_merge()
            self.setCursor(Qt.OpenHandCursor)
            self._finish_interaction()

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.LeftButton:
            pos = e.position()
            self.state.set_geometry(viewmath.centred_on(self.state.geometry, self.width(), self.height(),
                                                        pos.x(), pos.y()))

    def wheelEvent(self, e: QWheelEvent) -> None:
        notches = e.angleDelta().y() / 120.0
        if not notches:
            return
        pos = e.position()
        self.interacting = True
        self.state.set_geometry(viewmath.zoomed_about(self.state.geometry, self.width(), self.height(),
                                                      WHEEL_STEP ** notches, pos.x(), pos.y()), merge="wheel")
        self._finish_interaction()

    def _finish_interaction(self) -> None:
        # Interactive requests refine by themselves once the worker sees no newer one.
        self.interacting = False

    # ----- steps (the View menu's keys: window-wide shortcuts, whatever has the focus) ------------
    def pan_step(self, right: float, down: float) -> None:
        """Look ``right`` and ``down`` by those fractions of the viewport (the content moves the other way)."""
        self.state.set_geometry(viewmath.panned(self.state.geometry, self.width(), self.height(),
                                                -right * self.width(), -down * self.height()))

    def zoom_step(self, factor: float) -> None:
        g = self.state.geometry
        self.state.set_geometry(g.with_(zoom=g.zoom * factor))

    def rotate_step(self, degrees: float) -> None:
        self.state.set_geometry(viewmath.rotated_about_center(self.state.geometry, degrees))

    def reset_view(self) -> None:
        """The whole picture, upright; a warp stays (it is part of what is shown, not where)."""
        self.state.set_geometry(Geometry(warp=self.state.geometry.warp))
