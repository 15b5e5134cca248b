"""``creps export`` and ``creps video``: the command-line faces of export.py and video.py.

``creps_core.cli`` registers them with :func:`add_commands`.  Errors print one clear line and raise
SystemExit(2), which passes through any host CLI's handlers; Ctrl-C stops an export
with its finished tiles kept (run the same command again to resume): SystemExit(130).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, NoReturn

from tqdm import tqdm

from . import video as vid
from .checkpoint import CheckpointError
from .demo import open_model
from .engine import PRECISIONS, Engine, RenderCancelled
from .export import DiskFullError, export_image, format_of
from .metadata import read_record
from .latents import LatentSpec
from .views import WARP_KINDS, View, Warp


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``export`` and ``video`` on a ``creps`` subparsers object (handler in ``func``)."""
    p = subparsers.add_parser("export", help="render a view at any size, tile by tile (TIFF/PNG/JPEG)",
                              description="Render any view at any size (e.g. 20000x14000) tile by tile. "
                                          "Interrupted exports resume when the same command is run again.")
    p.add_argument("out", type=Path, help="output file: .tif (tiled BigTIFF), .png or .jpg")
    _model_args(p)
    p.add_argument("--from", dest="from_file", type=Path, metavar="FILE",
                   help="re-render an exported file from its metadata (size and view options still apply)")
    _latent_args(p)
    _view_args(p, default_size=None)
    p.add_argument("--tile", type=int, default=512, help="tile size in pixels, a multiple of 16 (default 512)")
    p.add_argument("--supersample", "-k", type=int, default=None, help="k x k samples per pixel (anti-aliasing)")
    p.add_argument("--pyramid", type=int, default=None, metavar="LEVELS",
                   help="half-size levels for deep-zoom viewers (TIFF; -1: down to one tile)")
    p.add_argument("--format", choices=("tiff", "png", "jpeg"), help="default: from the extension")
    p.add_argument("--compression", default="zlib", help="TIFF tile compression (zlib, lzma or none)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    p.add_argument("--workers", type=int, metavar="N", help="render tiles on a local Dask cluster of N processes")
    p.add_argument("--scheduler", metavar="ADDRESS", help="render tiles on a running Dask cluster")
    p.set_defaults(func=run_export)

    v = subparsers.add_parser("video", help="zoom/pan/orbit/latent-walk videos (mp4, webm, gif)",
                              description="Render a keyframed video: a preset, or keyframes from a JSON file.")
    v.add_argument("out", type=Path, help="output file: .mp4, .webm or .gif (a .json sidecar records it)")
    _model_args(v)
    v.add_argument("--preset", choices=("zoom", "orbit", "pan", "walk"), default="zoom")
    v.add_argument("--keyframes", type=Path, metavar="FILE",
                   help="video spec JSON (see --save-spec); overrides --preset")
    v.add_argument("--save-spec", type=Path, metavar="FILE", help="also write the video spec as JSON")
    _latent_args(v)
    v.add_argument("--seeds", default="0,1,2,3", help="seeds of a latent walk, comma-separated")
    _view_args(v, default_size=(512, 512))
    v.add_argument("--to", nargs=2, type=float, metavar=("U", "V"), default=(0.5, 0.5),
                   help="point to zoom into, or centre to pan to")
    v.add_argument("--factor", type=float, default=100.0, help="zoom preset: magnification (default 100)")
    v.add_argument("--turns", type=float, default=1.0, help="orbit preset: turns (default 1)")
    v.add_argument("--duration", type=float, default=8.0, help="seconds (per seed for a walk; default 8)")
    v.add_argument("--fps", type=float, default=30.0)
    v.add_argument("--quality", type=float, default=8.0, help="0 (smallest) .. 10 (best), default 8")
    v.add_argument("--latent-mode", choices=("slerp", "lerp", "spline"), default=None,
                   help="latent interpolation (default: spline for walks, else slerp)")
    v.add_argument("--loop", action="store_true", help="return to the first keyframe at the end")
    v.set_defaults(func=run_video)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", "--network", "-c", type=Path, help="official .pkl or .safetensors (default: the demo model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    p.add_argument("--precision", choices=PRECISIONS, default=None, help="fp32 (reference), bf16 (CPU), fp16 (CUDA)")


def _latent_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--psi", "--trunc", type=float, default=None, help="truncation psi")
    p.add_argument("--cutoff", "--trunc-cutoff", type=int, default=None, help="truncation cutoff (ws index)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class of a conditional model")


def _view_args(p: argparse.ArgumentParser, default_size: tuple[int, int] | None) -> None:
    default = "4096x4096" if default_size is None else "x".join(map(str, default_size))
    p.add_argument("--size", type=_size, default=default_size, metavar="WxH",
                   help=f"output size, e.g. 20000x14000 (default {default})")
    p.add_argument("--center", nargs=2, type=float, metavar=("U", "V"), help="view centre (row, column coordinate)")
    p.add_argument("--zoom", type=float)
    p.add_argument("--rotation", "--rotate", type=float, help="degrees")
    p.add_argument("--warp", choices=WARP_KINDS[:-1])
    p.add_argument("--warp-strength", type=float, default=1.0)
    p.add_argument("--warp-radius", type=float, default=1.0)
    p.add_argument("--warp-frequency", type=float, default=2.0)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 20000x14000, got {text!r}") from None
    return w, h


def _latent(args: argparse.Namespace, base: LatentSpec | None = None) -> LatentSpec:
    spec = base or LatentSpec()
    changes = {k: getattr(args, k) for k in ("seed", "psi", "cutoff", "class_idx") if getattr(args, k) is not None}
    return spec.with_(**changes)


def _view(args: argparse.Namespace, base: View | None = None) -> View:
    view = base or View(*(args.size or (4096, 4096)))
    changes: dict = {}
    if args.size:
        changes.update(width=args.size[0], height=args.size[1])
    if args.center:
        changes["center"] = tuple(args.center)
    for name in ("zoom", "rotation"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.warp:
        changes["warp"] = Warp(args.warp, args.warp_strength, args.warp_radius, args.warp_frequency)
    return view.with_(**changes)


def _fail(command: str, message: str, code: int = 2) -> NoReturn:
    print(f"creps {command}: {message}", file=sys.stderr)
    raise SystemExit(code)


def _progress_bar(unit: str) -> tuple[tqdm, Callable[[int, int, float | None], None]]:
    bar = tqdm(unit=unit, dynamic_ncols=True)

    def update(done: int, total: int, eta: float | None) -> None:
        if bar.total != total:
            bar.reset(total=total)
        bar.n = done
        bar.refresh()

    return bar, update


def run_export(args: argparse.Namespace) -> int:
    try:
        record = read_record(args.from_file) if args.from_file else None
        ckpt = args.checkpoint or (record.checkpoint if record and record.checkpoint else None)
        model = open_model(None if ckpt is None else str(ckpt))
        if record and record.checkpoint_sha256 and model.sha256 != record.checkpoint_sha256:
            raise ValueError(f"{model.path} is not the checkpoint {args.from_file} was rendered with "
                             f"(sha256 {model.sha256[:12]}... vs {record.checkpoint_sha256[:12]}...)")
        extra = (record.extra or {}) if record else {}
        precision = args.precision or (record.precision if record else "fp32")
        kw = dict(tile=args.tile, fmt=args.format or format_of(args.out),
                  supersample=args.supersample or (record.supersample if record else 1),
                  pyramid=args.pyramid if args.pyramid is not None else int(extra.get("pyramid_levels", 0)),
                  precision=precision, exact=record.exact if record else False,
                  compression=None if args.compression == "none" else args.compression, quality=args.quality)
        engine = Engine(model, device=args.device, precision=precision)
        latent = _latent(args, record.latent if record else None)
        view = _view(args, record.view.with_(window=None) if record else None)
        bar, progress = _progress_bar("tile")
        with bar:
            if args.workers or args.scheduler:
                from .cluster import cluster_export

                out = cluster_export(engine, latent, view, args.out, workers=args.workers, scheduler=args.scheduler,
                                     progress=progress, **kw)
            else:
                out = export_image(engine, latent, view, args.out, progress=progress, **kw)
    except (KeyboardInterrupt, RenderCancelled):
        _fail("export", "interrupted; finished tiles are kept - run the same command to resume", 130)
    except (ValueError, CheckpointError, DiskFullError, FileNotFoundError) as e:
        _fail("export", f"error: {e}")
    h, w = view.shape
    print(f"wrote {out} ({w}x{h})")
    return 0


def run_video(args: argparse.Namespace) -> int:
    try:
        model = open_model(None if args.checkpoint is None else str(args.checkpoint))
        engine = Engine(model, device=args.device, precision=args.precision or "fp32")
        if args.keyframes:
            spec = vid.load_spec(args.keyframes)
        else:
            spec = _preset_spec(args)
        if args.save_spec:
            vid.save_spec(args.save_spec, spec)
        bar, progress = _progress_bar("frame")
        with bar:
            for done, total, eta in vid.video_steps(engine, spec, args.out):
                progress(done, total, eta)
    except (KeyboardInterrupt, RenderCancelled):
        _fail("video", "interrupted", 130)
    except (ValueError, CheckpointError, OSError) as e:
        _fail("video", f"error: {e}")
    print(f"wrote {args.out} ({spec.n_frames} frames, {spec.width}x{spec.height} at {spec.fps:g} fps)")
    return 0


def _preset_spec(args: argparse.Namespace) -> vid.VideoSpec:
    view, latent = _view(args), _latent(args)
    if args.preset == "zoom":
        kfs = vid.zoom_into(view, latent, tuple(args.to), args.factor, args.duration)
    elif args.preset == "orbit":
        kfs = vid.orbit(view, latent, args.turns, args.duration)
    elif args.preset == "pan":
        kfs = vid.pan(view, latent, tuple(args.to), args.duration)
    else:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        kfs = vid.latent_walk(view, seeds, args.duration, latent.psi, latent.class_idx)
    mode = args.latent_mode or ("spline" if args.preset == "walk" else "slerp")
    return vid.VideoSpec(tuple(kfs), view.width, view.height, args.fps, mode, args.loop, args.quality,
                         args.precision, False)
