"""A dismissable message strip over the top of the viewport.

Errors are shown here instead of in modal boxes: the window stays usable (and
scriptable, and testable) while the message is visible. The strip floats over the
picture instead of taking a row of the layout: showing or dismissing it never resizes
the viewport, which would render the whole frame again.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QToolButton, QWidget

from creps_viewer.qt.plain_text import plain_label

INFO_SECONDS = 10  # how long a note stays
STYLES = {
    "error": "background:#5c1f1f; color:#ffdede; border-radius:3px;",
    "info": "background:#4a4216; color:#fff4c2; border-radius:3px;",
}


MARGIN = 6  # between the strip and the edges of the view it floats over


class MessageBar(QFrame):
    """Floats over the top of ``host`` (the viewport's container), as wide as it."""

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        host.installEventFilter(self)  # follows the host's size
        self.kind = ""
        self.label = plain_label()  # messages name files and quote what is in them
        self.label.setWordWrap(True)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        self._expiry = QTimer(self)
        self._expiry.setSingleShot(True)
        self._expiry.timeout.connect(self.dismiss)
        self.action = QPushButton()  # an optional way out the message offers ("Locate…")
        self.action.hide()
        self._action_fn: Callable[[], None] | None = None
        self.action.clicked.connect(self._run_action)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.action)
        lay.addWidget(close)
        self.hide()

    def show_message(self, text: str, kind: str = "error",
                     action: tuple[str, Callable[[], None]] | None = None) -> None:
        """Errors stay until dismissed or superseded; notes ('info') go away by themselves.
        ``action`` (label, function) adds a button that does something about it."""
        self.kind = kind
        self.label.setText(text)
        self._action_fn = action[1] if action else None
        self.action.setText(action[0] if action else "")
        self.action.setVisible(action is not None)
        self.setStyleSheet(f"MessageBar {{{STYLES[kind]}}} QLabel {{color: inherit;}}")
        self.show()
        self.raise_()
        self._place()
        if kind == "info":
            self._expiry.start(INFO_SECONDS * 1000)  # a child timer: it dies with the window
        else:
            self._expiry.stop()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and watched is self.parentWidget():
            self._place()
        return False

    def _place(self) -> None:
        """Across the top of the host, as tall as the wrapped text needs."""
        host = self.parentWidget()
        width = max(1, host.width() - 2 * MARGIN)
        height = self.heightForWidth(width) if self.hasHeightForWidth() else self.sizeHint().height()
        self.setGeometry(MARGIN, MARGIN, width, min(max(height, self.minimumSizeHint().height()), host.height()))

    def text(self) -> str:
        return self.label.text()

    def retract(self, text: str | None) -> None:
        """Take back ``text`` if it is still what the bar shows (it is no longer true)."""
        if text is not None and self.text() == text:
            self.dismiss()

    def _run_action(self) -> None:
        fn = self._action_fn
        self.dismiss()
        if fn is not None:
            fn()

    def dismiss(self) -> None:
        self._expiry.stop()
        self._action_fn = None
        self.action.hide()
        self.kind = ""
        self.label.clear()
        self.hide()
