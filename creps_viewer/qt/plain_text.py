"""Text from files shown by Qt as text, never as markup.

Qt guesses whether a label's or a tooltip's string is rich text (``Qt.mightBeRichText``), so a
direction named ``<b>x</b>`` or ``<img src=...>``, or a model file named so, would render as HTML.
Every label that can show a name, path or message from a file is made with :func:`plain_label`,
and every such tooltip goes through :func:`plain_tooltip`, every such menu entry through :func:`menu_text`.
(List and combo-box items, window titles and status-bar messages are always plain text in Qt.)
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGui
from PySide6.QtWidgets import QLabel, QWidget

from creps_core.io.untrusted import printable


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    """A QLabel that shows ``text`` (and whatever it is set to later) literally."""
    label = QLabel(parent)
    label.setTextFormat(Qt.PlainText)
    label.setText(text)
    return label


def plain_tooltip(text: str) -> str:
    """``text`` as a tooltip shows it: escaped into rich text, since a tooltip has no plain-text mode
    (escaping alone would leave ``&lt;`` that Qt then takes for plain text and shows as such)."""
    return QtGui.convertFromPlainText(text)


def menu_text(text: str) -> str:
    """``text`` as a menu entry shows it: ``&`` is not a mnemonic and a tab or newline does not split it."""
    return printable(text).replace("&", "&&")
