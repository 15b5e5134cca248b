"""Projection speed and quality (``creps project``): seconds per step, time to 30 dB, a held-out photograph.

1. **The released 256 config** (random weights, w_dim 512) at ``--size`` (64): seconds per projection
   step (render with autograd, backward, Adam) against a forward render of the same grid measured in the
   same run (a step costs about 2 forwards: the forward, and the backward to the activations; the weights
   are frozen, so no weight gradient is computed), its GFLOP/s (2 x the frame's FLOPs counted from the
   architecture) and their share of this machine's fp32 matmul throughput measured in the same run.
2. **The demo model's seed 5** rendered at ``--size`` and projected back with the default options: the
   steps and seconds until the best PSNR reaches 30 dB, and PSNR/SSIM after ``--steps``.
3. **A held-out photograph** (scikit-image's ``camera``, a grayscale photograph that is in neither demo
   set): PSNR/SSIM after ``--steps``; ``--figure PATH`` writes target | fit | the fit rendered at 4x.

    python -m benchmarks.bench_project [--size 64] [--steps 300] [--threads 1] [--figure assets/figures/...png]

Prints one JSON object per section.  On a shared machine, compare ratios from the same run only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from creps_core.io.images import read_square
from creps_core.latent.latents import Floats, LatentSpec
from creps_core.model.demo import open_model, random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.progress import PROJECTING
from creps_core.render.costs import frame_flops
from creps_core.render.engine import Engine, to_uint8
from creps_core.render.hardware import matmul_gflops
from creps_core.render.views import View
from creps_core.train.project import Projection, ProjectOptions


def released(size: int, steps: int) -> dict:
    cfg = PAPER_CONFIGS[256]
    model = random_model(cfg)
    target = np.asarray(Image.new("RGB", (size, size), (180, 90, 40)))
    projection = Projection(model, target, ProjectOptions(steps=steps + 1, size=size))
    ws = projection.w_avg.expand(cfg.num_ws, -1)
    forward = []
    with torch.no_grad():
        projection.render(ws)  # warm-up
        for _ in range(3):
            t0 = time.perf_counter()
            projection.render(ws)
            forward.append(time.perf_counter() - t0)
    times, last = [], None
    for record in projection.steps():
        now = time.perf_counter()
        if record.stage == PROJECTING and last is not None:
            times.append(now - last)
        last = now
    step_s, forward_s = statistics.median(times), statistics.median(forward)
    flops = 2 * frame_flops(cfg, size, size)
    roofline = matmul_gflops(torch.float32, workers=1)
    return {"section": "released 256 config, random weights", "size": size, "num_ws": cfg.num_ws,
            "threads": torch.get_num_threads(), "s_per_step": round(step_s, 3), "forward_s": round(forward_s, 3),
            "step_over_forward": round(step_s / forward_s, 2), "step_gflops": round(flops / step_s / 1e9, 1),
            "matmul_gflops_1_thread": round(roofline, 1),
            "share_of_matmul": round(flops / step_s / 1e9 / roofline, 3),
            "minutes_for_500_steps": round(500 * step_s / 60, 1)}


def demo_seed(size: int, steps: int) -> dict:
    model = open_model("demo")
    target = to_uint8(Engine(model, precision="fp32", workers=1).render(LatentSpec(seed=5), View(size, size)))
    projection = Projection(model, target, ProjectOptions(steps=steps, size=size))
    t0, reached = time.perf_counter(), None
    for record in projection.steps():
        if reached is None and record.stage == PROJECTING and projection.best_psnr >= 30:
            reached = (record.done, time.perf_counter() - t0)
    total = time.perf_counter() - t0
    return {"section": "demo model seed 5, projected back", "size": size, "space": projection.opts.space,
            "steps": steps, "steps_to_30db": reached and reached[0],
            "seconds_to_30db": reached and round(reached[1], 1), "seconds": round(total, 1),
            **{k: round(v, 4) for k, v in projection.figures().items()}}


def held_out(size: int, steps: int, figure: str | None) -> dict:
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:  # read as `creps project` reads a file: centre crop, Lanczos
        path = Path(tmp) / "camera.png"
        Image.fromarray(data.camera()).save(path)
        target, _ = read_square(path, size)
    model = open_model("demo")
    projection = Projection(model, target, ProjectOptions(steps=steps, size=size))
    t0 = time.perf_counter()
    for _ in projection.steps():
        pass
    out = {"section": "held-out photograph (scikit-image camera, grayscale)", "model": "demo", "size": size,
           "steps": steps, "seconds": round(time.perf_counter() - t0, 1),
           **{k: round(v, 4) for k, v in projection.figures().items()}}
    if figure:
        engine = Engine(model, precision="fp32", workers=1)
        big = to_uint8(engine.render(LatentSpec(ws=Floats.of(projection.best_ws)), View(4 * size, 4 * size)))
        up = 4
        panels = [target.repeat(up, 0).repeat(up, 1), projection.best_render().repeat(up, 0).repeat(up, 1), big]
        gap = np.full((4 * size, 4, 3), 255, np.uint8)
        Image.fromarray(np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)).save(figure,
                                                                                                  optimize=True)
        out["figure"] = figure
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--steps", type=int, default=300, help="steps of the demo and held-out projections")
    p.add_argument("--released-steps", type=int, default=4, help="timed steps on the released config")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    p.add_argument("--figure", default=None, help="write target | fit | 4x render of the held-out photo here")
    p.add_argument("--skip-released", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if not args.skip_released:
        print(json.dumps(released(args.size, args.released_steps)), flush=True)
    print(json.dumps(demo_seed(args.size, args.steps)), flush=True)
    print(json.dumps(held_out(args.size, args.steps, args.figure)), flush=True)


if __name__ == "__main__":
    main()
