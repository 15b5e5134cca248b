"""Why the window cannot open, said in one line before Qt tries.

Without a display, or without the X11 libraries its xcb platform plugin needs, Qt prints a
paragraph about "platform plugins" and aborts (exit 134), blaming a library even when the real
cause is that no display exists. This module finds out first, without importing Qt: which
platform Qt will use (``QT_QPA_PLATFORM``, else Wayland when ``WAYLAND_DISPLAY`` is set, else
xcb), whether its display answers, and which shared libraries of the xcb plugin the system lacks
(``ldd`` of the plugin, and ``libxcb-cursor``, which Qt loads at run time). The README lists the
Debian/Ubuntu packages; :data:`DEBIAN_PACKAGES` names them in the message too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

NO_DISPLAY = "no display: run under xvfb-run, or use --screenshot"
# The libraries Qt's xcb plugin needs beyond a desktop's usual ones, by the Debian/Ubuntu package
# that ships each (Qt >= 6.5 also needs libxcb-cursor, which it opens by itself at start).
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def platform_names(environ: Mapping[str, str]) -> list[str]:
    """The platforms ``QT_QPA_PLATFORM`` asks for, in order, without their options
    (``"offscreen:size=900x600;xcb"`` -> ``["offscreen", "xcb"]``)."""
    return [p.split(":", 1)[0].strip() for p in environ.get("QT_QPA_PLATFORM", "").split(";") if p.strip()]


def not_found(ldd_output: str) -> list[str]:
    """The libraries ``ldd`` could not find (each once, in the order it printed them)."""
    names: list[str] = []
    for line in ldd_output.splitlines():
        name, _, where = line.strip().partition("=>")
        if "not found" in where and name.strip() not in names:
            names.append(name.strip())
    return names


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin inside the installed PySide6 (None: not there)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_xcb_libraries(plugin: Path | None = None) -> list[str]:
    """The shared libraries the xcb plugin needs and the system lacks ([] when ldd is not there:
    Qt will then say it by itself)."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    missing = []
    if plugin is not None and ldd is not None:
        try:
            run = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False)
            missing = not_found(run.stdout)
        except (OSError, subprocess.SubprocessError):
            missing = []
    if ctypes.util.find_library("xcb-cursor") is None:
        missing.append("libxcb-cursor.so.0")
    return missing


def x_display_answers(display: str) -> bool:
    """Whether an X server accepts a connection at ``display`` (through libxcb, as Qt would)."""
    name = ctypes.util.find_library("xcb")
    if name is None:
        return True  # the library check names libxcb itself
    try:
        xcb = ctypes.CDLL(name)
    except OSError:
        return True
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


def missing_libraries_line(missing: list[str]) -> str:
    packages = sorted({DEBIAN_PACKAGES[m] for m in missing if m in DEBIAN_PACKAGES})
    advice = f" (Debian/Ubuntu: apt install {' '.join(packages)})" if packages else ""
    return f"Qt's X11 (xcb) platform needs {', '.join(missing)}: install {'it' if len(missing) == 1 else 'them'}" \
           f"{advice}, or use --screenshot"


def display_problem(environ: Mapping[str, str]) -> str | None:
    """One line saying why Qt could not open a window here (None: it should, or another platform
    than xcb and Wayland was asked for, which Qt checks by itself)."""
    names = platform_names(environ)
    wayland = environ.get("WAYLAND_DISPLAY", "")
    x11 = environ.get("DISPLAY", "")
    if names and names[0].startswith("wayland"):
        return None if wayland else f"{NO_DISPLAY} (QT_QPA_PLATFORM={names[0]} but WAYLAND_DISPLAY is not set)"
    if names and names[0] != "xcb":
        return None  # offscreen, vnc, eglfs...: not a desktop display
    if not names and wayland:
        return None  # Qt prefers Wayland then
    if not x11:
        return NO_DISPLAY
    missing = missing_xcb_libraries()
    if missing:
        return missing_libraries_line(missing)
    if not x_display_answers(x11):
        return f"no display answers at DISPLAY={x11}: start the X server, run under xvfb-run, or use --screenshot"
    return None
