"""The Bookmarks menu: add, jump to, rename, delete and clear the state's bookmarks.

It rebuilds itself whenever the state's list changes; the names come from files and settings,
so entries are plain text (an '&' is not a mnemonic)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from creps_viewer.model.records import Bookmark
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.plain_text import menu_text


class BookmarksMenu(QMenu):
    """``restore`` jumps to a bookmark (the session's, which says how a latent was fitted)."""

    def __init__(self, state: ExplorerState, restore: Callable[[Bookmark], None],
                 parent: QWidget | None = None) -> None:
        super().__init__("&Bookmarks", parent)
        self.state, self.restore = state, restore
        state.bookmarksChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.clear()
        add = QAction("&Add bookmark", self)
        add.setShortcut(QKeySequence("Ctrl+D"))
        add.triggered.connect(lambda: self.state.add_bookmark())
        self.addAction(add)
        marks = self.state.bookmarks
        if not marks:
            return
        self.addSeparator()
        for bm in marks:
            self.addAction(menu_text(bm.name), lambda b=bm: self.restore(b))
        self.addSeparator()
        edit = self.addMenu("&Rename or delete")
        for i, bm in enumerate(marks):
            sub = edit.addMenu(menu_text(bm.name))
            sub.addAction("Rename…", lambda i=i: self.rename(i))
            sub.addAction("Delete", lambda i=i: self.state.delete_bookmark(i))
        self.addAction("&Clear bookmarks", lambda: self.state.set_bookmarks([]))

    def rename(self, index: int) -> None:
        name, ok = QInputDialog.getText(self, "Rename bookmark", "Name:", text=self.state.bookmarks[index].name)
        if ok:
            self.state.rename_bookmark(index, name)
