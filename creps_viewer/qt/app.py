"""``creps-explorer [CHECKPOINT]``: the explorer window.

``--screenshot FILE.png`` opens the window, waits for the first fully refined
frame, saves a picture of the whole window and exits (docs, headless checks); without a display
it draws offscreen. ``--reset-settings`` forgets what the explorer remembers and exits.

Without a display, or without the libraries of Qt's xcb platform, the explorer says so in one
line and exits 1 before Qt starts (:mod:`creps_viewer.qt.display_check`), instead of Qt's abort.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from creps_core import __version__
from creps_core.cli.args import (
    HelpFormatter,
    UsageError,
    add_compute,
    add_latent,
    add_network,
    add_seeds,
    add_view,
    parse_size,
)
from creps_core.io.untrusted import printable
from creps_viewer.qt.display_check import display_problem
from creps_viewer.qt.screen_fit import fit_to_screen

SCREENSHOT_TIMEOUT_MS = 600_000
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


def _window_size(text: str) -> tuple[int, int]:
    w, h = parse_size(text)
    if w < 200 or h < 150:
        raise UsageError("the window must be at least 200x150")
    return w, h


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The shared ``creps`` vocabulary (creps_core.cli.args): the same flags mean the same here."""
    p = argparse.ArgumentParser(prog="creps-explorer", formatter_class=HelpFormatter,
                                description="Explore a CREPS generator in real time.")
    p.add_argument("--version", action="version", version=f"creps-explorer {__version__}")
    p.add_argument("checkpoint", nargs="?", default=None, metavar="NETWORK",
                   help="same as --network; or a PNG/TIFF made by this tool, to reopen its model and view")
    add_network(p)
    add_seeds(p, "0", several=False)
    add_latent(p)
    add_view(p, default_size=None)
    p.set_defaults(size=None)
    for action in p._actions:  # the output of the explorer is its window
        if action.dest == "size":
            action.type, action.help = _window_size, "window size, e.g. 1280x800 (default: as last time)"
        if action.dest in ("noise_mode", "translate", "network_kind"):
            action.help = argparse.SUPPRESS
    add_compute(p, precision="auto")
    p.add_argument("--workspace", metavar="FILE", default=None, help="open a saved workspace (default: none)")
    p.add_argument("--screenshot", metavar="FILE.png", default=None,
                   help="save a screenshot of the window after the first refined frame, then exit (default: none)")
    p.add_argument("--reset-settings", action="store_true",
                   help="forget the saved settings (window layout, recent models, folders, bookmarks) and exit")
    args = p.parse_args(argv)
    if args.checkpoint and args.network and args.checkpoint != args.network:
        p.error("give the checkpoint either as an argument or with --network, not both")
    if args.seeds is not None and len(args.seeds) != 1:
        p.error("the explorer opens one seed")
    return args


def _initial_state(win, args: argparse.Namespace) -> None:
    """Apply the latent, view and compute options given on the command line, read as ``creps render``
    reads them (the same functions: an option means the same in both)."""
    # Imported here, when the window starts: torch is not imported for --help and --version.
    from creps_core.cli.common import build_latent, build_view
    from creps_core.render.hardware import pick_device
    from creps_viewer.model.records import Geometry

    state = win.state
    try:
        pick_device(args.device)  # a device that is not here is refused now, not at the first frame
        latent = build_latent(args, args.seeds[0] if args.seeds else None, base=state.latent)
        view = build_view(args, state.view(snap=False))  # --size is the window's: only the geometry is kept
    except (ValueError, RuntimeError) as e:  # UsageError is a ValueError
        raise SystemExit(f"creps-explorer: error: {e}") from None
    state.update_render(device=args.device, precision=args.precision)  # auto stays auto: the engine resolves it
    state.set_latent(latent)  # nothing changes (no undo step) when no latent option was given
    state.set_geometry(Geometry.of(view))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.reset_settings:
        from creps_viewer.qt.preferences import forget_settings

        print(f"creps-explorer: {forget_settings()}")
        return 0
    if QApplication.instance() is None:
        problem = display_problem(os.environ)
        if problem is not None and args.screenshot:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a screenshot needs no screen
        elif problem is not None:
            print(f"creps-explorer: {problem}", file=sys.stderr)
            return 1
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CREPS Explorer")
    app.setOrganizationName("CREPS")
    from creps_viewer.qt.main_window import MainWindow

    win = MainWindow()
    if args.size:
        win.resize(*args.size)
        if args.screenshot:
            win.fits_screen = False  # the picture is the size asked for, whatever the screen
        else:
            fit_to_screen(win)
    _initial_state(win, args)
    status = {"code": 0}
    if args.screenshot:
        _arm_screenshot(app, win, Path(args.screenshot), status)
    win.show()
    source = args.network or args.checkpoint or "demo"
    if Path(source).suffix.lower() in IMAGE_SUFFIXES:  # an image this tool made: its model, latent and view
        win.open_image(source)
    else:
        win.open_model(source)
    if args.workspace:
        win.load_workspace(args.workspace)
    app.exec()
    return status["code"]


def _arm_screenshot(app: QApplication, win, path: Path, status: dict) -> None:
    """Grab the window once the newest request is refined; give up (exit 1) on errors or timeout."""
    def grab() -> None:
        win.grab().save(str(path))
        print(f"saved {path}")
        win.close()
        app.quit()

    def fail(message: str) -> None:
        print(f"creps-explorer: {printable(message)}", file=sys.stderr)
        status["code"] = 1
        win.close()
        app.quit()

    win.refined.connect(lambda: QTimer.singleShot(200, grab))
    win.worker.modelFailed.connect(fail)
    win.worker.renderFailed.connect(fail)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: fail("timed out waiting for the first refined frame"))


if __name__ == "__main__":
    sys.exit(main())
