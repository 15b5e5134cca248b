"""Explorer responsiveness on the released 256 config (random weights), on this machine.

Prints figures and ratios, asserts nothing:
- slider change (new latent: new program, new lines) -> first preview and -> refined frame,
  against a one-shot full render of the same latent;
- previews per second while a truncation slider is dragged (a new latent at every event);
- preview frame rate during simulated drags (mouse events at 60 Hz, real worker thread),
  at a moderate and a fast drag speed (new line coordinates per frame grow with speed);
- the fraction of pixels recomputed when panning by 10 % of the viewport.

Rendering runs on the engine's pool of single-threaded chunk workers, one per core;
`--busy` adds a second process spinning on one core, `--precision auto` what this CPU does
fast.  Run: python -m benchmarks.bench_viewer [--size 894x754] [--busy] [--precision auto]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import torch
from PySide6.QtCore import QCoreApplication, Qt

from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.engine import Engine
from creps_core.render.hardware import resolve_precision, usable_cpus
from creps_viewer.model.records import Geometry
from creps_viewer.render.frame_plan import FULL, PREVIEW, Frame, RenderRequest
from creps_viewer.render.worker import RenderWorker


class Collector:
    """Frames delivered by the worker (direct connection: recorded in the worker thread)."""

    def __init__(self, worker: RenderWorker) -> None:
        self.frames: list[tuple[float, Frame]] = []
        self.event = threading.Event()
        worker.frameReady.connect(self.add, Qt.DirectConnection)

    def add(self, frame: Frame) -> None:
        self.frames.append((time.perf_counter(), frame))
        self.event.set()

    def wait_for(self, level: str, since: float, timeout: float = 600.0) -> tuple[float, Frame]:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for t, f in self.frames:
                if t >= since and f.level == level:
                    return t, f
            self.event.wait(0.01)
            self.event.clear()
        raise TimeoutError(level)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="512x384")
    p.add_argument("--drag-seconds", type=float, default=4.0)
    p.add_argument("--precision", default="fp32", help="fp32, bf16 or auto (what this CPU does fast)")
    p.add_argument("--busy", action="store_true", help="with a second process spinning on one core")
    args = p.parse_args()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        run(args)
    finally:
        if spinner is not None:
            spinner.kill()


def run(args: argparse.Namespace) -> None:
    width, height = (int(x) for x in args.size.split("x"))
    QCoreApplication.instance() or QCoreApplication([])

    model = random_model(PAPER_CONFIGS[256])
    worker = RenderWorker(sync=False)
    precision = resolve_precision(args.precision, torch.device("cpu"))
    print(f"256 config, random weights, {model.num_params / 1e6:.1f} M parameters; viewport {width}x{height}; "
          f"precision {precision}; chunk workers {usable_cpus()}; busy neighbour: {'yes' if args.busy else 'no'}")
    frames = Collector(worker)
    worker.load_model(model, device="cpu")
    worker.wait_idle(120)

    def request(spec: LatentSpec, g: Geometry, interactive: bool = False) -> RenderRequest:
        return RenderRequest(spec, g.view(width, height), precision, False, 4, interactive)

    # Warm up the process (first-call overheads), then time a fresh latent.
    worker.submit(request(LatentSpec(seed=100), Geometry()))
    worker.wait_idle(600)

    spec = LatentSpec(seed=0, psi=0.7)
    t0 = time.perf_counter()
    worker.submit(request(spec, Geometry()))
    t_prev, _ = frames.wait_for(PREVIEW, t0)
    t_full, full = frames.wait_for(FULL, t0)
    worker.wait_idle(600)
    eng = Engine(model, device="cpu", precision=precision)
    t1 = time.perf_counter()
    eng.render(spec.with_(psi=0.69), Geometry().view(width, height))
    oneshot = time.perf_counter() - t1
    print(f"slider change -> first preview: {1000 * (t_prev - t0):7.0f} ms   "
          f"-> refined frame: {1000 * (t_full - t0):7.0f} ms   (one-shot full render: {1000 * oneshot:.0f} ms; "
          f"preview arrives {oneshot / (t_prev - t0):.1f}x sooner)")

    # A truncation slider dragged for a few seconds: a new latent at every mouse event (60 Hz).
    start, n_events, psi = time.perf_counter(), 0, 0.7
    while time.perf_counter() - start < args.drag_seconds:
        psi -= 0.002
        worker.submit(request(spec.with_(psi=psi), Geometry(), interactive=True))
        n_events += 1
        time.sleep(1 / 60)
    drag_end = time.perf_counter()
    shown = [f for t, f in frames.frames if start <= t <= drag_end and f.level == PREVIEW]
    print(f"psi slider drag: {n_events} values in {drag_end - start:.1f} s -> {len(shown)} previews = "
          f"{len(shown) / (drag_end - start):.1f} previews/s (target >= 10)")
    worker.wait_idle(600)

    # Simulated drags: a mouse event every 1/60 s; the content follows by (dx, dy) px per event.
    for name, (dx, dy) in (("moderate drag, 180 px/s  ", (3, 0)), ("fast diagonal, 360+120 px/s", (6, 2))):
        g = Geometry()
        worker.submit(request(spec, g))
        worker.wait_idle(600)
        start = time.perf_counter()
        n_events = 0
        while time.perf_counter() - start < args.drag_seconds:
            g = g.with_(center=(g.center[0] - dy * full.view.spacing, g.center[1] - dx * full.view.spacing))
            worker.submit(request(spec, g, interactive=True))
            n_events += 1
            time.sleep(1 / 60)
        drag_end = time.perf_counter()
        shown = [f for t, f in frames.frames if start <= t <= drag_end]
        previews = [f for f in shown if f.level == PREVIEW]
        fps = len(shown) / (drag_end - start)
        mean_ms = sum(f.ms for f in shown) / max(1, len(shown))
        print(f"{name}: {n_events} mouse events in {drag_end - start:.1f} s -> {len(shown)} frames "
              f"({len(previews)} previews) = {fps:.1f} fps (target >= 15), {mean_ms:.0f} ms each")
        t_rel = time.perf_counter()
        t_ref, _ = frames.wait_for(FULL, t_rel)
        print(f"    release -> refined frame: {1000 * (t_ref - t_rel):.0f} ms")
        worker.wait_idle(600)

    # Pan by 10 % of the viewport (refined frames, pixel reuse).
    base = Geometry()
    worker.submit(request(spec, base))
    worker.wait_idle(600)
    for name, (dx, dy) in (("horizontal", (0.1 * width, 0)), ("vertical", (0, 0.1 * height)),
                           ("diagonal", (0.1 * width, 0.1 * height))):
        s = full.view.spacing
        moved = base.with_(center=(base.center[0] - round(dy) * s, base.center[1] - round(dx) * s))
        t0 = time.perf_counter()
        worker.submit(request(spec, moved))
        t_done, f = frames.wait_for(FULL, t0)
        worker.wait_idle(600)
        share = f.pixels_rendered / f.pixels_total
        print(f"pan 10% {name:10s}: {share:6.1%} of pixels recomputed (target <= 15%), "
              f"{1000 * (t_done - t0):.0f} ms vs {1000 * oneshot:.0f} ms one-shot ({oneshot / (t_done - t0):.1f}x)")
        worker.submit(request(spec, base))  # back to the base frame for the next direction
        worker.wait_idle(600)
    worker.shutdown()


if __name__ == "__main__":
    main()
