"""A dismissable message strip above the viewport.

Errors are shown here instead of in modal boxes: the window stays usable (and
scriptable, and testable) while the message is visible.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

INFO_SECONDS = 10  # how long a note stays
STYLES = {
    "error": "background:#5c1f1f; color:#ffdede; border-radius:3px;",
    "info": "background:#4a4216; color:#fff4c2; border-radius:3px;",
}


class MessageBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = ""
        self.label = QLabel()
        self.label.setWordWrap(True)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 4, 4)
        lay.addWidget(self.label, 1)
        lay.addWidget(close)
        self.hide()

    def show_message(self, text: str, kind: str = "error") -> None:
        """Errors stay until dismissed or superseded; notes ('info') go away by themselves."""
        self.kind = kind
        self.label.setText(text)
        self.setStyleSheet(f"MessageBar {{{STYLES[kind]}}} QLabel {{color: inherit;}}")
        self.show()
        if kind == "info":
            QTimer.singleShot(INFO_SECONDS * 1000, lambda: self.dismiss() if self.label.text() == text else None)

    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self.kind = ""
        self.label.clear()
        self.hide()
