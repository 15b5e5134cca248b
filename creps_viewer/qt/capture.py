"""File ▸ Capture window: a picture of the whole window (view, panels, status bar) as PNG in the
user's Pictures folder, under a new name each time: a capture never replaces any file."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QStandardPaths
from PySide6.QtWidgets import QWidget

from creps_core.io.safe_files import open_exclusive

MAX_TRIES = 1000  # names tried in one second before giving up


def pictures_folder() -> Path:
    """The user's Pictures folder (made if missing), else the home folder."""
    found = QStandardPaths.writableLocation(QStandardPaths.PicturesLocation)
    if not found:
        return Path.home()
    folder = Path(found)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def png_bytes(widget: QWidget) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.WriteOnly)
    if not widget.grab().save(buffer, "PNG"):
        raise OSError("the window could not be drawn as PNG")
    buffer.close()
    return bytes(data.data())


def capture(widget: QWidget, folder: Path | None = None) -> Path:
    """Save a picture of ``widget`` in ``folder`` (default: Pictures) as creps-explorer-DATE-TIME.png,
    or -2, -3... when that name is taken (by anything, even a link): created exclusively, never over
    a file. Raises OSError when it cannot be written."""
    folder = folder or pictures_folder()
    data = png_bytes(widget)
    stem = time.strftime("creps-explorer-%Y%m%d-%H%M%S")
    for n in range(1, MAX_TRIES + 1):
        path = folder / (f"{stem}.png" if n == 1 else f"{stem}-{n}.png")
        try:
            f = open_exclusive(path)
        except FileExistsError:
            continue
        try:
            with f:
                f.write(data)
        except OSError:
            path.unlink(missing_ok=True)  # the file just created, part written (a full disk)
            raise
        return path
    raise OSError(f"{MAX_TRIES} pictures named {stem} are in {folder} already")
