"""The feature view against the image it replaces, on the released 256 config (random weights).

For a straight and a rotated view at the explorer's 894x754 viewport: the image render with its
lines cached (the baseline, what a pan or a re-render costs once lines are known), then each feature
mode of one block from the same cached lines, as seconds and as a ratio to the baseline measured
in this run; and the estimate of a new frame (costs.view_macs) against the lines the engine computed.

The calling thread runs torch with the explorer's render thread's count (all cores but one): the
feature maths runs there, and a multi-threaded torch stalls at OpenMP barriers when another process
holds a core.

    python -m benchmarks.bench_features [--size 894x754] [--block 3] [--repeat 3] [--precision fp32]
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.bench_engine import timed
from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.costs import view_line_coords
from creps_core.render.engine import Engine
from creps_core.render.features import FeatureView, feature_picture
from creps_core.render.hardware import usable_cpus
from creps_core.render.views import View
from creps_core.vocabulary import FEATURE_MODES


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="894x754")
    p.add_argument("--block", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--precision", default="fp32")
    args = p.parse_args()
    w, h = (int(x) for x in args.size.split("x"))
    torch.set_num_threads(max(1, usable_cpus() - 1))  # as the explorer's render thread
    engine = Engine(random_model(PAPER_CONFIGS[256], seed=0), precision=args.precision)
    latent = LatentSpec(seed=1)
    print(f"released 256 config, {w}x{h}, block b{engine.cfg.composed_blocks[args.block]}, {engine.precision}, "
          f"{engine.workers} worker(s)")
    for name, view in (("straight", View(w, h)), ("rotated 30°", View(w, h, rotation=30.0))):
        engine.stats.reset()
        t0 = time.perf_counter()
        engine.render(latent, view)  # every line new
        first = time.perf_counter() - t0
        print(f"{name}: first render {first:.2f} s, {engine.stats.line_coords_computed} line coordinates "
              f"(estimated {view_line_coords(view)})")
        base = timed(lambda v=view: engine.render(latent, v), args.repeat, warmup=False)
        print(f"  image, lines cached: {base:.3f} s (baseline)")
        for mode in FEATURE_MODES:
            choice = FeatureView(args.block, mode, 0)
            s = timed(lambda v=view, c=choice: feature_picture(engine, latent, v, c), args.repeat, warmup=False)
            print(f"  {mode:9s} {s:.3f} s = {s / base:.2f} x the image")


if __name__ == "__main__":
    main()
