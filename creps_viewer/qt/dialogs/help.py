"""Help ▸ Keyboard shortcuts and Help ▸ About.

The shortcut list is read from the window's menus, action by action, so it is never out of date:
an action added with a key shows up here by itself. The mouse gestures, which are no actions,
are the viewport's :data:`~creps_viewer.qt.viewport.MOUSE_GESTURES`.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QMenu,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from creps_viewer.qt.plain_text import plain_label
from creps_viewer.qt.screen_fit import fit_to_screen
from creps_viewer.qt.viewport import MOUSE_GESTURES

ARROW = " ▸ "
SIZE = QSize(640, 620)  # the shortcuts' list, as far as the screen allows


def without_mnemonic(text: str) -> str:
    """A menu text as shown ("&Zoom in" -> "Zoom in", "A && B" -> "A & B")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def shortcut_rows(menus: QMenuBar | QMenu, path: str = "") -> list[tuple[str, str]]:
    """(menu path of the action, its keys) for every action with a key, in menu order."""
    rows = []
    for act in menus.actions():
        name = path + without_mnemonic(act.text())
        if act.menu() is not None:
            rows += shortcut_rows(act.menu(), name + ARROW)
        elif act.shortcuts():
            rows.append((name, ", ".join(k.toString(QKeySequence.NativeText) for k in act.shortcuts())))
    return rows


class ShortcutsDialog(QDialog):
    def __init__(self, menubar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(menubar) + list(MOUSE_GESTURES)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["What", "Keys or mouse"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        for i, (what, keys) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(what))
            self.table.setItem(i, 1, QTableWidgetItem(keys))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        note = plain_label("The view's keys work whatever has the focus, except while typing in a text field.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(note)
        lay.addWidget(self.table, 1)
        lay.addWidget(buttons)
        fit_to_screen(self, SIZE)

    def rows(self) -> list[tuple[str, str]]:
        return [(self.table.item(i, 0).text(), self.table.item(i, 1).text()) for i in range(self.table.rowCount())]


class AboutDialog(QDialog):
    """``facts``: (name, value) rows, e.g. the version, torch, the device and the settings file."""

    def __init__(self, facts: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About CREPS Explorer")
        form = QFormLayout()
        for name, value in facts:
            label = plain_label(value)  # a path may hold anything
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            form.addRow(name, label)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(plain_label("CREPS Explorer: explore a CREPS generator in real time."))
        lay.addLayout(form)
        lay.addWidget(buttons)
        self.facts = dict(facts)
