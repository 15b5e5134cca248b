"""Explorer responsiveness on the released 256 config (random weights), on this machine.

Prints figures and ratios, asserts nothing:
- a new latent (new program, new lines) -> first preview and -> sharp frame, against a one-shot
  render of a frame of the same cost (the straight baseline), in turns in the same run;
- an edit of the fine layers (style mixing of layers 8-14) -> first preview and sharp frame,
  against the new latent's;
- previews per second while a truncation slider is dragged (a new latent at every event);
- preview frame rate during simulated drags (mouse events at 60 Hz, real worker thread),
  at a moderate and a fast drag speed (new line coordinates per frame grow with speed), and of
  a view turned by 15°;
- the fraction of pixels recomputed when panning by 10 % of the viewport.

Rendering runs on the engine's pool of single-threaded chunk workers, one per core;
`--busy` adds a second process spinning on one core, `--precision auto` what this CPU does
fast.  Run: python -m benchmarks.bench_viewer [--size 894x754] [--busy] [--precision auto]
"""

from __future__ import annotations

import argparse
import statistics
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
    p.add_argument("--rounds", type=int, default=2, help="turns of each measured change (medians)")
    p.add_argument("--no-drags", action="store_true", help="only the new latent and the mixing edit")
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
        return RenderRequest(spec, g.view(width, height), precision, preview_scale=4, interactive=interactive)

    def answer(spec: LatentSpec, g: Geometry = Geometry()) -> tuple[float, float]:
        """Seconds from a request to its first preview and to its sharp frame (the explorer's path)."""
        t0 = time.perf_counter()
        worker.submit(request(spec, g))
        t_prev, _ = frames.wait_for(PREVIEW, t0)
        t_full, _ = frames.wait_for(FULL, t0)
        worker.wait_idle(600)
        return t_prev - t0, t_full - t0

    eng = Engine(model, device="cpu", precision=precision)

    def one_shot(spec: LatentSpec) -> float:
        """Seconds of a one-shot render of the same frame on a fresh engine (the straight baseline)."""
        eng.clear_caches()
        t1 = time.perf_counter()
        eng.render(spec, Geometry().view(width, height))
        return time.perf_counter() - t1

    # Warm up the process (first-call overheads). Then, in turns so that a busy neighbour weighs on
    # all of them alike: a new latent in the explorer, a one-shot render of another latent, the
    # first style mix of layers 8-14 of that latent (which keeps the prefix state) and a second
    # mix of those layers (an edit that resumes there).
    answer(LatentSpec(seed=100))
    spec = LatentSpec(seed=0, psi=0.7)
    latent_runs, shots, mix_runs = [], [], []
    for i in range(args.rounds):
        latent_runs.append(answer(spec.with_(seed=i)))
        shots.append(one_shot(spec.with_(seed=50 + i)))
        answer(spec.with_(seed=i, mix_seed=200 + i, mix_layers=tuple(range(8, 15))))
        mix_runs.append(answer(spec.with_(seed=i, mix_seed=300 + i, mix_layers=tuple(range(8, 15)))))
    first_preview = statistics.median(p for p, _ in latent_runs)
    sharp = statistics.median(f for _, f in latent_runs)
    oneshot = statistics.median(shots)
    print(f"new latent -> first preview: {1000 * first_preview:6.0f} ms (target <= 150)   -> sharp frame: "
          f"{1000 * sharp:6.0f} ms = {sharp / oneshot:.2f}x the one-shot render's {1000 * oneshot:.0f} ms "
          f"(target <= 1.15x)   [{args.rounds} rounds, medians]")
    mix_preview = statistics.median(p for p, _ in mix_runs)
    mix_sharp = statistics.median(f for _, f in mix_runs)
    print(f"mixing layers 8-14 -> first preview: {1000 * mix_preview:6.0f} ms (target <= 80; "
          f"{mix_preview / first_preview:.2f}x a new latent's)   -> sharp frame: {1000 * mix_sharp:6.0f} ms = "
          f"{mix_sharp / sharp:.2f}x a new latent's (target <= 0.6x)")

    if args.no_drags:
        worker.shutdown()
        return

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
    spacing = Geometry().view(width, height).spacing
    for name, (dx, dy), turn, target in (("moderate drag, 180 px/s  ", (3, 0), 0.0, 15),
                                         ("fast diagonal, 360+120 px/s", (6, 2), 0.0, 15),
                                         ("rotated 15°, 180 px/s    ", (3, 0), 15.0, 8)):
        g = Geometry(rotation=turn)
        worker.submit(request(spec, g))
        worker.wait_idle(600)
        start = time.perf_counter()
        n_events = 0
        while time.perf_counter() - start < args.drag_seconds:
            g = g.with_(center=(g.center[0] - dy * spacing, g.center[1] - dx * spacing))
            worker.submit(request(spec, g, interactive=True))
            n_events += 1
            time.sleep(1 / 60)
        drag_end = time.perf_counter()
        shown = [f for t, f in frames.frames if start <= t <= drag_end]
        previews = [f for f in shown if f.level == PREVIEW]
        fps = len(shown) / (drag_end - start)
        mean_ms = sum(f.ms for f in shown) / max(1, len(shown))
        print(f"{name}: {n_events} mouse events in {drag_end - start:.1f} s -> {len(shown)} frames "
              f"({len(previews)} previews) = {fps:.1f} fps (target >= {target}), {mean_ms:.0f} ms each")
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
        moved = base.with_(center=(base.center[0] - round(dy) * spacing, base.center[1] - round(dx) * spacing))
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
