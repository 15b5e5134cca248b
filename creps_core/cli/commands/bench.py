"""``creps bench``: time full frames of any view; JSON with the share of this machine's matmul roofline.

``--change`` says what differs between two timed frames, i.e. which of the engine's reuses a user
gets: ``latent`` (a new seed: every line new, the default), ``none`` (the same frame again: lines
cached), ``layers:A-B`` (ws layers A..B mixed from a new seed: an edit of those layers, e.g. style
mixing; the layers before A are resumed) and ``pan:FRACTION`` (the view moved by that fraction of
its width: only the exposed columns' lines are new). ``--warp-quality`` says how a rotated or warped
view's lines are got in every timed frame (draft, fine: line tables; exact: every pixel's own); the
JSON carries both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

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
    parse_layers,
    positive_int,
)
from creps_core.vocabulary import DEFAULT_WARP_QUALITY

if TYPE_CHECKING:
    from creps_core.cli.terminal import ItemsProgress

MAX_BENCH_REPEAT = 1000  # timed frames; more is a typo, and the median is settled long before
CHANGES = ("none", "latent", "layers:A-B", "pan:FRACTION")


@dataclass(frozen=True)
class Change:
    """What differs between two timed frames (see the module docstring)."""

    kind: str  # none, latent, layers, pan
    layers: tuple[int, int] | None = None
    fraction: float = 0.0

    def __str__(self) -> str:
        if self.kind == "layers":
            assert self.layers is not None  # parse_change makes a layers change with its range
            return f"layers:{self.layers[0]}-{self.layers[1]}"
        return f"pan:{self.fraction:g}" if self.kind == "pan" else self.kind


def parse_change(text: str) -> Change:
    """'none', 'latent', 'layers:8-14' or 'pan:0.1' -> Change."""
    kind, sep, value = str(text).partition(":")
    if kind in ("none", "latent") and not sep:
        return Change(kind)
    if kind == "layers" and sep:
        return Change("layers", layers=parse_layers(value))
    if kind == "pan" and sep:
        try:
            fraction = float(value)
        except ValueError:
            fraction = float("nan")
        if not 0 < fraction < 1:
            raise UsageError(f"bad change {text!r}: a pan moves by a FRACTION of the width in (0, 1), e.g. pan:0.1")
        return Change("pan", fraction=fraction)
    raise UsageError(f"bad change {text!r} (expected one of {', '.join(CHANGES)})")


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
    b.add_argument("--change", type=parse_change, default=Change("latent"), metavar="|".join(CHANGES),
                   help="what differs between timed frames: a new latent (default), nothing, an edit of ws "
                        "layers A-B (mixed from a new seed each frame), or a pan by FRACTION of the width")
    b.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
    from creps_core.cli.terminal import ItemsProgress
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
    change: Change = args.change
    if change.layers is not None and change.layers[1] >= model.cfg.num_ws:
        raise UsageError(f"--change {change}: this model has ws layers 0-{model.cfg.num_ws - 1}")
    with ItemsProgress(f"bench {view.width}x{view.height} {engine.precision} --change {change}",
                       args.repeat + warmup_frames(change), "frame") as bar:
        times = time_frames(engine, latent, view, change, args.repeat, bar, warp_quality=args.warp_quality)
        bar.start("the machine's matmul roofline")
        roofline = matmul_gflops(compute_dtype(engine.precision, engine.device, engine.policy),
                                 device=engine.device, workers=engine.workers)
    med = statistics.median(times)
    # The work of a frame computed from scratch: with --change none/layers/pan the rate and the
    # roofline share say how fast that frame arrives (they may pass 1 where the engine reuses work).
    gflop = frame_flops(model.cfg, view.width, view.height) / 1e9
    print(json.dumps({
        "network": str(model.path), "size": [view.width, view.height], "zoom": view.zoom,
        "rotate": view.rotation, "warp": None if view.warp is None else view.warp.kind,
        "warp_quality": args.warp_quality,
        "precision": engine.precision, "device": str(engine.device), "workers": engine.workers,
        "change": str(change), "warmup_frames": warmup_frames(change), "repeat": args.repeat,
        "median_s": round(med, 4), "frames_per_s": round(1 / med, 3),
        "gflop_per_frame": round(gflop, 2), "gflop_per_s": round(gflop / med, 1),
        "matmul_gflop_per_s": round(roofline, 1), "roofline_share": round(gflop / med / roofline, 3),
        "reuse": asdict(engine.stats)}))
    return 0


def warmup_frames(change: Change) -> int:
    """Untimed frames first: one (first-call costs); for an edit of a layer range also its first
    edit, which keeps the prefix state the later edits resume from (the first touch of a range
    costs a full frame, each later one only its layers)."""
    return 2 if change.kind == "layers" else 1


def time_frames(engine, latent, view, change: Change, repeat: int, bar: ItemsProgress | None = None,
                warp_quality: str = DEFAULT_WARP_QUALITY) -> list[float]:
    """Seconds of ``repeat`` frames of ``view`` after the warm-up, ``change`` applied between frames
    (benchmarks/ interleave several changes through this, so their ratios come from one run);
    ``bar`` hears each frame start and finish; rotated and warped views get their lines at ``warp_quality``."""
    view = view.with_(snap=True) if change.kind == "pan" else view
    warmup, times = warmup_frames(change), []
    for i in range(repeat + warmup):
        spec, frame_view = latent, view
        if change.kind == "latent":
            engine.clear_caches()  # a new latent: nothing of the last one is reused
        elif change.kind == "layers" and i:
            first, last = change.layers  # type: ignore[misc]  # a layers change has its range
            spec = latent.with_(mix_seed=(latent.seed + i) % 2**32, mix_layers=tuple(range(first, last + 1)))
        elif change.kind == "pan":
            step = round(change.fraction * view.width) * view.spacing
            frame_view = view.with_(center=(view.center[0], view.center[1] + i * step))
        if bar is not None:
            bar.start(f"frame {i - warmup + 1} of {repeat}" if i >= warmup else "warm-up frame")
        t0 = time.perf_counter()
        engine.render(spec, frame_view, warp_quality=warp_quality)
        engine.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
        if bar is not None:
            bar.done()
    return times
