"""Rotated and warped views at each warp quality: time against a straight view, decibels against exact.

For the released 256 config (random weights) and the demo model, at 15, 30 and 45 degrees and a
swirl of strength 1: the median time of a full frame (nothing cached, as `creps bench`) at draft
and fine divided by a straight frame of the same size timed in the same run, and the PSNR of draft
and fine against exact. Exact costs two line evaluations per pixel (minutes for a whole frame of the
released config on a CPU), so the decibels are measured on three tiles of each view (corners and
middle): tiles sample the same table lattice as the whole frame, so their pixels are the frame's.
Decibels are measured in fp32, where the table's error stands alone; bf16 itself is ~43 dB from
fp32 on the released config, which no table can beat.

    python -m benchmarks.bench_warps [--size 384] [--repeat 3] [--tile 40] [--models paper256 demo]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import open_model, random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.engine import Engine
from creps_core.render.views import View, Warp

SPEC = LatentSpec(seed=0)
CASES = {"rotate 15": {"rotation": 15.0}, "rotate 30": {"rotation": 30.0}, "rotate 45": {"rotation": 45.0},
         "swirl:1": {"warp": Warp("swirl", 1.0)}}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 100.0 if mse == 0 else 10 * math.log10(4.0 / mse)


def frame_seconds(engine: Engine, view: View, quality: str) -> float:
    engine.clear_caches()  # a fresh latent: every line is computed, as `creps bench` does
    t0 = time.perf_counter()
    engine.render(SPEC, view, warp_quality=quality)
    return time.perf_counter() - t0


def probe_tiles(view: View, side: int) -> list[View]:
    s = min(side, view.width, view.height)
    return [view.tile(r, c, s, s) for r, c in ((0, 0), ((view.height - s) // 2, (view.width - s) // 2),
                                                 (view.height - s, view.width - s))]


def bench(name: str, model, size: int, repeat: int, tile: int) -> dict:
    timing = Engine(model, device="cpu", precision="auto")
    ref32 = Engine(model, device="cpu", precision="fp32")
    straight = View(size, size)
    frame_seconds(timing, straight, "fine")  # warm-up
    views = {case: View(size, size, **kw) for case, kw in CASES.items()}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeat):  # interleaved, so a busy neighbour slows every entry alike
        times.setdefault(("straight", "fine"), []).append(frame_seconds(timing, straight, "fine"))
        for case, view in views.items():
            for quality in ("draft", "fine"):
                times.setdefault((case, quality), []).append(frame_seconds(timing, view, quality))
    base = statistics.median(times[("straight", "fine")])
    rows = []
    for case, view in views.items():
        tiles = probe_tiles(view, tile)

        def render(quality: str, tiles: list[View] = tiles) -> torch.Tensor:
            return torch.cat([ref32.render(SPEC, t, warp_quality=quality).flatten(1) for t in tiles], 1)

        exact = render("exact")
        row = {"model": name, "view": case, "size": size}
        for quality in ("draft", "fine"):
            row[f"{quality}_x_straight"] = round(statistics.median(times[(case, quality)]) / base, 2)
            row[f"{quality}_db"] = round(psnr(render(quality), exact), 1)
        rows.append(row)
    return {"model": name, "precision_timed": timing.precision, "straight_s": round(base, 3), "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=384, help="frame side in pixels (default: 384, as the issue's bench)")
    p.add_argument("--repeat", type=int, default=3, help="timed frames per entry (default: 3)")
    p.add_argument("--tile", type=int, default=40, help="side of the three tiles the decibels are measured on")
    p.add_argument("--models", nargs="+", default=["paper256", "demo"], choices=["paper256", "demo"])
    args = p.parse_args()
    models = {"paper256": lambda: random_model(PAPER_CONFIGS[256], seed=0), "demo": lambda: open_model("demo")}
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'model':<9} {'view':<10} {'draft x':>8} {'fine x':>7} {'draft dB':>9} {'fine dB':>8}")
    for name in args.models:
        result = bench(name, models[name](), args.size, args.repeat, args.tile)
        for r in result["rows"]:
            print(f"{r['model']:<9} {r['view']:<10} {r['draft_x_straight']:>8} {r['fine_x_straight']:>7} "
                  f"{r['draft_db']:>9} {r['fine_db']:>8}", flush=True)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
