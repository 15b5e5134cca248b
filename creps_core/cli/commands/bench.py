"""``creps bench``: time full frames of any view; JSON with the share of this machine's matmul roofline."""

from __future__ import annotations

import argparse
import json
import statistics
import time

from creps_core.cli.args import (
    Subcommands,
    UsageError,
    add_compute,
    add_latent,
    add_network,
    add_seeds,
    add_threads,
    add_view,
    add_warp_quality,
    new_parser,
    positive_int,
)
from creps_core.vocabulary import DEFAULT_WARP_QUALITY

MAX_BENCH_REPEAT = 1000  # timed frames; more is a typo, and the median is settled long before


def register(sub: Subcommands) -> None:
    b = new_parser(sub, "bench", "time full frames of a view (median after a warm-up), as JSON")
    add_network(b)
    add_seeds(b, "0", several=False)
    add_latent(b)
    add_view(b, default_size="256x256")
    add_compute(b, precision="auto")
    add_warp_quality(b, default=DEFAULT_WARP_QUALITY)
    add_threads(b)
    b.add_argument("--repeat", type=positive_int, default=3, help="timed frames after the warm-up")
    b.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from creps_core.cli.common import (
        build_latent,
        build_view,
        check_class,
        check_in_memory,
        make_engine,
        one_seed,
        open_network,
        set_threads,
    )
    from creps_core.render.costs import frame_flops
    from creps_core.render.hardware import compute_dtype, matmul_gflops
    from creps_core.render.views import View

    if args.repeat > MAX_BENCH_REPEAT:
        raise UsageError(f"--repeat is at most {MAX_BENCH_REPEAT} frames, got {args.repeat}")
    set_threads(args.threads)
    model = open_network(args)
    check_class(args, model)
    view = build_view(args, View(256, 256))
    check_in_memory(view)
    engine = make_engine(model, args.device, args.precision, workers=args.threads)
    seed = one_seed(args)
    latent = build_latent(args, 0 if seed is None else seed)
    times = []
    for i in range(args.repeat + 1):
        engine.clear_caches()  # a fresh latent every frame: nothing reused
        t0 = time.perf_counter()
        engine.render(latent, view, warp_quality=args.warp_quality)
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first frame is the warm-up
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    gflop = frame_flops(model.cfg, view.width, view.height) / 1e9
    roofline = matmul_gflops(compute_dtype(engine.precision, engine.device), device=engine.device,
                             workers=engine.workers)
    print(json.dumps({
        "network": str(model.path), "size": [view.width, view.height], "zoom": view.zoom,
        "rotate": view.rotation, "warp": None if view.warp is None else view.warp.kind,
        "warp_quality": args.warp_quality,
        "precision": engine.precision, "device": str(engine.device), "workers": engine.workers,
        "repeat": args.repeat, "median_s": round(med, 4), "frames_per_s": round(1 / med, 3),
        "gflop_per_frame": round(gflop, 2), "gflop_per_s": round(gflop / med, 1),
        "matmul_gflop_per_s": round(roofline, 1), "roofline_share": round(gflop / med / roofline, 3)}))
    return 0
