"""Shared pieces of the GUI tests: an offscreen window on a tiny model."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402

from creps_viewer.qt.main_window import MainWindow  # noqa: E402


def make_window(qtbot, tmp_path, ckpt, sync: bool = True) -> MainWindow:
    """A shown 620x400 window with its own settings file, with `ckpt` open."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = MainWindow(sync=sync, settings=settings)
    qtbot.addWidget(win)
    win.resize(620, 400)
    win.show()
    qtbot.waitExposed(win)
    win.open_model(str(ckpt))
    return win
