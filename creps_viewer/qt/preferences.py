"""What the explorer remembers between runs (QSettings): recent models, folders, bookmarks.

Kept apart from the window so that what is stored, and how a damaged entry is survived, is
in one place. Bookmarks belong to a model: they are kept per checkpoint, by its sha256, and
:meth:`Preferences.keep_bookmarks` makes the state's list follow the open model.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QFileDialog, QWidget

from creps_core.io.untrusted import parse_json
from creps_viewer.model.records import Bookmark, ModelSummary
from creps_viewer.model.state import ExplorerState

MAX_RECENT = 10
MAX_BOOKMARKS_BYTES = 16 << 20  # as much as a workspace, which carries the same bookmarks


def user_settings() -> QSettings:
    """The user's settings file (the same one whether or not a QApplication exists yet)."""
    return QSettings(QSettings.NativeFormat, QSettings.UserScope, "CREPS", "CREPS Explorer")


def forget_settings(settings: QSettings | None = None) -> str:
    """``creps-explorer --reset-settings``: empty the settings file and say where it was."""
    settings = settings or user_settings()
    path = settings.fileName()
    if not settings.allKeys():
        return f"no saved settings (they would be in {path})"
    settings.clear()
    settings.sync()
    return f"forgot the saved settings in {path}"


class Preferences:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.settings = settings or user_settings()

    def value(self, key: str, default=None):
        return self.settings.value(key, default)

    def set_value(self, key: str, value) -> None:
        self.settings.setValue(key, value)

    # ----- models ---------------------------------------------------------------------------
    def recent_models(self) -> list[str]:
        """The recent model paths; a damaged entry (not text) is left out instead of failing the window."""
        value = self.settings.value("recent", [])
        paths = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        return [p for p in paths if isinstance(p, str)]

    def add_recent_model(self, path: str) -> None:
        files = [path] + [p for p in self.recent_models() if p != path]
        self.settings.setValue("recent", files[:MAX_RECENT])
        self.settings.setValue("model_dir", str(Path(path).parent))

    def model_dir(self) -> str:
        """Where to look for models: the folder of the last one opened."""
        return str(self.settings.value("model_dir", str(Path.home())))

    # ----- where files go ---------------------------------------------------------------------
    def output_dir(self, kind: QStandardPaths.StandardLocation) -> Path:
        """Where to save: the last folder saved to, else the user's Pictures or Documents folder
        (never the folder a model came from, which may be inside the installed package)."""
        saved = self.settings.value("output_dir")
        if saved and Path(str(saved)).is_dir():
            return Path(str(saved))
        return Path(QStandardPaths.writableLocation(kind) or str(Path.home()))

    def saved_to(self, path: Path) -> None:
        self.settings.setValue("output_dir", str(path.parent))

    def ask_save_path(self, parent: QWidget, title: str, name: str, suffix: str,
                      kind: QStandardPaths.StandardLocation, filter_: str) -> Path | None:
        """A save dialog that starts in :meth:`output_dir` and remembers the folder chosen; the answer
        always carries ``suffix`` (typing 'ws1' saves 'ws1.creps.json')."""
        path, _ = QFileDialog.getSaveFileName(parent, title, str(self.output_dir(kind) / name), filter_)
        if not path:
            return None
        chosen = Path(path)
        if not chosen.name.lower().endswith(suffix):
            chosen = chosen.with_name(chosen.name + suffix)
        self.saved_to(chosen)
        return chosen

    # ----- bookmarks --------------------------------------------------------------------------
    def store_bookmarks(self, sha256: str, bookmarks: list[Bookmark]) -> None:
        if sha256:
            self.settings.setValue(f"bookmarks/{sha256}", json.dumps([b.to_dict() for b in bookmarks]))

    def bookmarks(self, sha256: str) -> list[Bookmark]:
        """The stored bookmarks of a model; a damaged entry keeps what was readable."""
        marks = []
        try:
            stored = parse_json(str(self.settings.value(f"bookmarks/{sha256}", "[]")), "bookmarks",
                                MAX_BOOKMARKS_BYTES)
            for d in stored:
                marks.append(Bookmark.from_dict(d))
        except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError):
            pass
        return marks

    def keep_bookmarks(self, state: ExplorerState) -> None:
        """The state's bookmarks are the open model's: read when a model opens, stored on every change
        (a model without a sha256, such as a random one, keeps none)."""

        def opened(summary: ModelSummary) -> None:
            state.set_bookmarks(self.bookmarks(summary.sha256) if summary.sha256 else [])

        def changed() -> None:
            if state.model_summary is not None:
                self.store_bookmarks(state.model_summary.sha256, state.bookmarks)

        state.modelChanged.connect(opened)
        state.bookmarksChanged.connect(changed)
