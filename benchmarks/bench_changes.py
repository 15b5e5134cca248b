"""What a user's change costs, ``creps bench --change`` for several changes in one run.

Released 256 config, random weights. The changes are measured in turns (round after round, each
on a fresh engine), so a busy neighbour weighs on all of them alike, and each is reported as a
ratio to a new latent's frame (every line and pixel new) measured in the same rounds.
Issue 19's target: an edit of layers 8-14 (style mixing of the fine layers) <= 0.6x a new latent.

Run: python -m benchmarks.bench_changes [--size 894x754] [--rounds 2] [--repeat 2]
"""

from __future__ import annotations

import argparse
import statistics

from creps_core.cli.commands.bench import parse_change, time_frames
from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.costs import frame_flops
from creps_core.render.engine import Engine
from creps_core.render.hardware import compute_dtype, matmul_gflops, usable_cpus
from creps_core.render.views import View


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="894x754")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2, help="timed frames of each change per round")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--changes", nargs="+", default=["latent", "layers:8-14", "none", "pan:0.1"])
    args = p.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    model = random_model(PAPER_CONFIGS[256])
    view, latent = View(width, height), LatentSpec(seed=0)
    changes = [parse_change(c) for c in args.changes]
    times: dict[str, list[float]] = {str(c): [] for c in changes}
    precision = args.precision
    for r in range(args.rounds):
        for change in changes:
            engine = Engine(model, device="cpu", precision=precision)
            precision = engine.precision
            times[str(change)] += time_frames(engine, latent, view, change, args.repeat)
            print(f"round {r + 1}: {change}: {', '.join(f'{t:.2f}' for t in times[str(change)][-args.repeat:])} s",
                  flush=True)
    engine = Engine(model, device="cpu", precision=precision)
    roofline = matmul_gflops(compute_dtype(precision, engine.device), workers=engine.workers)
    gflop = frame_flops(model.cfg, width, height) / 1e9
    base = statistics.median(times[str(changes[0])])
    print(f"released 256 config, random weights, {width}x{height}, {precision}, {usable_cpus()} chunk workers, "
          f"matmul roofline now {roofline:.0f} GFLOP/s; a frame from scratch is {gflop:.0f} GFLOP")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"--change {name:12s} median {med:7.2f} s  ({len(ts)} frames)  {med / base:5.2f}x {changes[0]}  "
              f"{gflop / med:6.1f} GFLOP/s effective = {gflop / med / roofline:5.2f} of the roofline")


if __name__ == "__main__":
    main()
