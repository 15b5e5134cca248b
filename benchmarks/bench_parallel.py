"""Parallelism that survives a busy neighbour: the chunk pool against torch's own threads.

For the released 256 config (random weights), times a full frame (fresh latent, nothing cached)
with the engine's pool of single-threaded workers and with the previous scheme (one caller
running torch with N OpenMP threads), first on a quiet machine, then with a second process
spinning on one core.  Also prints the roofline measured the same way in the same run.

    python -m benchmarks.bench_parallel [--size 256] [--repeat 3] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.network import PAPER_CONFIGS, CREPSGenerator
from creps_core.render.costs import frame_flops
from creps_core.render.engine import Engine
from creps_core.render.hardware import (
    matmul_gflops,
    usable_cpus,
)
from creps_core.render.views import View


def frame_time(engine: Engine, view: View, repeat: int) -> float:
    times = []
    for i in range(repeat + 1):
        engine.clear_caches()
        t0 = time.perf_counter()
        engine.render(LatentSpec(seed=i), view)
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(g: CREPSGenerator, view: View, workers: int, repeat: int) -> dict:
    torch.set_num_threads(workers)
    openmp = frame_time(Engine(g, device="cpu", workers=1), view, repeat)  # one caller, N torch threads
    torch.set_num_threads(1)
    pool = frame_time(Engine(g, device="cpu", workers=workers), view, repeat)
    single = frame_time(Engine(g, device="cpu", workers=1), view, repeat)
    roof = matmul_gflops(torch.float32, workers=workers)
    gflop = frame_flops(g.cfg, view.width, view.height) / 1e9
    return {"pool_s": round(pool, 3), "openmp_threads_s": round(openmp, 3), "one_thread_s": round(single, 3),
            "pool_gflop_per_s": round(gflop / pool, 1), "matmul_gflop_per_s": round(roof, 1),
            "pool_roofline_share": round(gflop / pool / roof, 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, default=usable_cpus())
    args = p.parse_args()
    torch.manual_seed(0)
    g = CREPSGenerator(PAPER_CONFIGS[256]).eval().requires_grad_(False)
    view = View(args.size, args.size)
    quiet = measure(g, view, args.workers, args.repeat)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        busy = measure(g, view, args.workers, args.repeat)
    finally:
        spinner.kill()
    print(json.dumps({
        "config": "released 256 (random weights)", "size": args.size, "workers": args.workers,
        "quiet": quiet, "busy_neighbour": busy,
        "pool_speedup_vs_one_thread_quiet": round(quiet["one_thread_s"] / quiet["pool_s"], 2),
        "busy_cost_pool": round(busy["pool_s"] / quiet["pool_s"], 2),
        "busy_cost_openmp_threads": round(busy["openmp_threads_s"] / quiet["openmp_threads_s"], 2),
        "pool_vs_openmp_busy": round(busy["openmp_threads_s"] / busy["pool_s"], 2),
    }, indent=1))


if __name__ == "__main__":
    main()
