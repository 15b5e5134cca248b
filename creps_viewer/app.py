"""``creps-explorer [CHECKPOINT]``: the explorer window.

``--screenshot FILE.png`` opens the window, waits for the first fully refined
frame, saves a picture of the whole window and exits (docs, headless checks).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

SCREENSHOT_TIMEOUT_MS = 600_000


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1280x800, got {text!r}") from None
    if w < 200 or h < 150:
        raise argparse.ArgumentTypeError("the window must be at least 200x150")
    return w, h


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="creps-explorer", description="Explore a CREPS generator in real time.")
    p.add_argument("checkpoint", nargs="?", help=".pkl or .safetensors (default: the demo model)")
    p.add_argument("--network", metavar="PATH", help="same as CHECKPOINT")
    p.add_argument("--seed", type=int, help="initial seed")
    p.add_argument("--size", type=_size, metavar="WxH", help="window size, e.g. 1280x800")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument("--workspace", metavar="FILE", help="open a saved workspace")
    p.add_argument("--screenshot", metavar="FILE.png", help="save a screenshot of the window after the first "
                   "refined frame, then exit")
    args = p.parse_args(argv)
    if args.checkpoint and args.network and args.checkpoint != args.network:
        p.error("give the checkpoint either as an argument or with --network, not both")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("CREPS Explorer")
    app.setOrganizationName("CREPS")
    from creps_core.demo import default_model

    from .main_window import MainWindow

    win = MainWindow()
    if args.size:
        win.resize(*args.size)
    win.state.update_render(device=args.device, precision=args.precision)
    if args.seed is not None:
        win.state.update_latent(seed=args.seed)
    status = {"code": 0}
    if args.screenshot:
        _arm_screenshot(app, win, Path(args.screenshot), status)
    win.show()
    source = args.network or args.checkpoint
    win.open_model(source if source else default_model())
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
        print(f"creps-explorer: {message}", file=sys.stderr)
        status["code"] = 1
        win.close()
        app.quit()

    win.refined.connect(lambda: QTimer.singleShot(200, grab))
    win.worker.modelFailed.connect(fail)
    win.worker.renderFailed.connect(fail)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, lambda: fail("timed out waiting for the first refined frame"))


if __name__ == "__main__":
    sys.exit(main())
