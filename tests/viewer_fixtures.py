"""Shared pieces of the GUI tests (tests/viewer and the security tests): a window on a tiny model.

Offscreen drawing is chosen by the callers before Qt starts (tests/viewer/conftest.py).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from creps_viewer.qt.main_window import MainWindow


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
