"""The ``creps`` command: render, info, convert, bench (plus export/video/train when present).

Each subcommand is a thin layer over the engine; errors the user can fix (bad
files, bad sizes) print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError, convert_to_safetensors, load_checkpoint
from .demo import open_model
from .engine import PRECISIONS, Engine, RenderCancelled, precision_warning, to_uint8
from .latents import LatentSpec
from .metadata import RenderRecord, read_record, write_png
from .views import WARP_KINDS, View, Warp


# `creps render` holds a whole float image (12 bytes/pixel) in memory; beyond this, export in tiles.
MAX_RENDER_PIXELS = 64_000_000


class UsageError(ValueError):
    """A user-fixable problem with the command line."""


def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise UsageError(f"bad seed list {text!r} (expected e.g. 0-3,7)") from None
    if not seeds or any(s < 0 or s >= 2**32 for s in seeds):
        raise UsageError(f"bad seed list {text!r}: seeds must be in [0, 2^32)")
    return seeds


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"bad size {text!r} (expected WxH, e.g. 640x480)") from None
    if w < 1 or h < 1:
        raise UsageError(f"bad size {text!r}: both sides must be at least 1")
    return w, h


def parse_pair(text: str, what: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"bad {what} {text!r} (expected two numbers, e.g. 0.5,0.5)") from None
    return a, b


def parse_warp(text: str | None) -> Warp | None:
    """'swirl:2.0' or 'lens:-0.3' or 'wave:0.05' -> Warp."""
    if not text:
        return None
    name, _, strength = text.partition(":")
    if name not in WARP_KINDS or name == "custom":
        raise UsageError(f"unknown warp {name!r}; choose swirl, lens or wave")
    try:
        return Warp(name, float(strength or 1.0))
    except ValueError as e:
        raise UsageError(str(e)) from None


def view_from_args(args: argparse.Namespace, resolution: int) -> View:
    if args.scale is not None:
        if args.size or args.center or args.zoom != 1 or args.rotate or args.warp:
            raise UsageError("--scale is the official square grid; it cannot be combined with --size/--center/--zoom/--rotate/--warp")
        try:
            return View.official(resolution, args.scale)
        except ValueError as e:
            raise UsageError(str(e)) from None
    w, h = parse_size(args.size) if args.size else (resolution, resolution)
    center = parse_pair(args.center, "centre") if args.center else (0.5, 0.5)
    try:
        return View(w, h, center=center, zoom=args.zoom, rotation=args.rotate, warp=parse_warp(args.warp))
    except ValueError as e:
        raise UsageError(str(e)) from None


def warn_precision(engine: Engine) -> None:
    msg = precision_warning(engine.precision, engine.device)
    if msg:
        print(f"warning: {msg}", file=sys.stderr)


def cmd_render(args: argparse.Namespace) -> None:
    outdir = Path(args.outdir)
    if args.from_file:
        rec = read_record(args.from_file)
        if (rec.extra or {}).get("kind") == "export" or rec.supersample != 1:
            raise UsageError(f"{args.from_file} is a tiled export; re-render it with `creps export OUT --from {args.from_file}`")
        model = open_model(args.network or rec.checkpoint, rec.network)
        if rec.checkpoint_sha256 and model.sha256 and rec.checkpoint_sha256 != model.sha256:
            print(f"warning: {model.path} differs from the checkpoint that made {args.from_file}", file=sys.stderr)
        jobs = [(rec.latent, rec.view)]
        precision, exact, device = rec.precision, rec.exact, args.device
    else:
        model = open_model(args.network, args.network_kind)
        cfg = model.cfg
        if cfg.c_dim and args.class_idx is None:
            raise UsageError(f"this model is conditional ({cfg.c_dim} classes): pass --class N")
        view = view_from_args(args, cfg.img_resolution)
        jobs = [(LatentSpec(seed=s, psi=args.trunc, cutoff=args.trunc_cutoff, class_idx=args.class_idx), view)
                for s in parse_seeds(args.seeds)]
        precision, exact, device = args.precision, args.exact, args.device
    big = next((v for _, v in jobs if v.width * v.height > MAX_RENDER_PIXELS), None)
    if big is not None:
        raise UsageError(f"{big.width}x{big.height} is too large to hold in memory here; "
                         "`creps export` renders any size in tiles with bounded memory")
    outdir.mkdir(parents=True, exist_ok=True)
    engine = Engine(model, device=device, precision=precision)
    warn_precision(engine)
    for spec, view in jobs:
        t0 = time.perf_counter()
        img = engine.render(spec, view, exact=exact)
        record = RenderRecord(str(model.path), model.sha256, spec, view, precision, exact, model.network)
        out = write_png(outdir / f"seed{spec.seed:04d}.png", to_uint8(img), record)
        if args.save_raw:
            np.save(outdir / f"seed{spec.seed:04d}.npy", img.numpy().astype(np.float32))
        print(f"{out}  {view.shape[1]}x{view.shape[0]}  {time.perf_counter() - t0:.2f}s")


def cmd_info(args: argparse.Namespace) -> None:
    model = load_checkpoint(args.path, args.network_kind)
    info = model.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return
    c = model.cfg
    print(f"{info['path']}\n  format      {info['format']} ({info['network']})\n  sha256      {info['sha256']}")
    print(f"  resolution  {c.img_resolution}  num_ws {c.num_ws}  z/w dims {c.z_dim}/{c.w_dim}")
    print(f"  parameters  {info['parameters']:,}")
    print(f"  conditional {'yes, ' + str(c.c_dim) + ' classes' if c.c_dim else 'no'}")
    print(f"  channels    base {c.channel_base} max {c.channel_max} biline {c.biline_channels} rank {c.rank}")


def cmd_convert(args: argparse.Namespace) -> None:
    dst = Path(args.output)
    if dst.suffix != ".safetensors":
        raise UsageError("the output name must end in .safetensors")
    model = convert_to_safetensors(args.input, dst, args.network_kind)
    print(f"wrote {dst} ({model.num_params:,} parameters, from {model.network})")


def line_macs_per_coordinate(cfg) -> int:
    """Multiply-adds of the line network for one coordinate of one slot (all rank columns)."""
    layers = [(cfg.channels(4), cfg.channels(4))]
    for res in cfg.composed_blocks:
        i, o = cfg.channels(res // 2), cfg.channels(res)
        layers += [(i, o), (o, o), (o, cfg.biline_channels)]
    return cfg.rank * sum(i * o for i, o in layers)


def pixel_macs(cfg) -> int:
    """Multiply-adds per output pixel: composition, decoders, decoder_img, block0/1."""
    b = cfg.biline_channels
    decoder = b * 2 * b + 2 * b * 4 * b + 4 * b * 2 * b + 2 * b * b
    n_dec = len(cfg.composed_blocks)  # decoders after the first composed block, plus decoder_last
    blocks = (b * 4 * b + 16 * b * b + 4 * b * cfg.img_channels) + (4 * b * 2 * b + 4 * b * b + 2 * b * cfg.img_channels)
    return len(cfg.composed_blocks) * cfg.rank * b + n_dec * decoder + b * cfg.img_channels + blocks


def frame_flops(cfg, width: int, height: int) -> float:
    return 2.0 * (line_macs_per_coordinate(cfg) * (width + height) + pixel_macs(cfg) * width * height)


def cmd_bench(args: argparse.Namespace) -> None:
    model = open_model(args.network)
    w, h = parse_size(args.size)
    engine = Engine(model, device=args.device, precision=args.precision)
    warn_precision(engine)
    spec = LatentSpec(seed=0, class_idx=0 if model.cfg.c_dim else None)
    times = []
    for i in range(args.repeat + 1):
        engine.clear_caches()  # a new latent each frame: nothing reused
        t0 = time.perf_counter()
        engine.render(spec, View(w, h))
        if engine.device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first run is the warm-up
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"network": str(model.path), "size": [w, h], "precision": args.precision,
                      "device": str(engine.device), "threads": torch.get_num_threads(), "repeat": args.repeat,
                      "median_s": round(med, 4), "frames_per_s": round(1 / med, 3),
                      "gflop_per_frame": round(frame_flops(model.cfg, w, h) / 1e9, 2),
                      "gflop_per_s": round(frame_flops(model.cfg, w, h) / med / 1e9, 1)}))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="creps", description="CREPS Explorer command line.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="render seeds to PNG (any view, warp, scale)")
    r.add_argument("--network", "--checkpoint", "-c", help="checkpoint (.pkl or .safetensors); default: the demo model")
    r.add_argument("--network-kind", default="G_ema", choices=["G_ema", "G"], help="which generator of a snapshot")
    r.add_argument("--seeds", default="0")
    r.add_argument("--trunc", "--psi", type=float, default=1.0)
    r.add_argument("--trunc-cutoff", "--cutoff", type=int)
    r.add_argument("--class", dest="class_idx", type=int)
    r.add_argument("--scale", type=float, help="official semantics: square, linspace(0,1,int(R*S))")
    r.add_argument("--size", help="WxH")
    r.add_argument("--center", help="U,V (row, column coordinate)")
    r.add_argument("--zoom", type=float, default=1.0)
    r.add_argument("--rotate", "--rotation", type=float, default=0.0, help="degrees")
    r.add_argument("--warp", help="NAME:STRENGTH with NAME in swirl, lens, wave")
    r.add_argument("--exact", action="store_true", help="evaluate lines at every pixel (slow) for warped views")
    r.add_argument("--precision", default="fp32", choices=PRECISIONS)
    r.add_argument("--device", default="auto")
    r.add_argument("--save-raw", action="store_true", help="also write float32 CHW .npy")
    r.add_argument("--from", dest="from_file", help="re-render a PNG/TIFF made by this tool from its metadata")
    r.add_argument("--outdir", default="out")
    r.set_defaults(func=cmd_render)

    i = sub.add_parser("info", help="describe a checkpoint")
    i.add_argument("path")
    i.add_argument("--network-kind", default="G_ema", choices=["G_ema", "G"])
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    c = sub.add_parser("convert", help="official .pkl -> native .safetensors")
    c.add_argument("input")
    c.add_argument("output")
    c.add_argument("--network-kind", default="G_ema", choices=["G_ema", "G"])
    c.set_defaults(func=cmd_convert)

    b = sub.add_parser("bench", help="time full frames (median after a warm-up)")
    b.add_argument("--network")
    b.add_argument("--size", default="256x256")
    b.add_argument("--precision", default="fp32", choices=PRECISIONS)
    b.add_argument("--device", default="auto")
    b.add_argument("--repeat", type=int, default=3)
    b.set_defaults(func=cmd_bench)

    # Subcommands that live in their own modules register themselves when present.
    for module in ("creps_core.export_cli", "creps_core.train.cli"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and module.startswith(e.name):
                continue
            raise
        mod.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except (UsageError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"creps {args.command}: error: {e}", file=sys.stderr)
        return 2
    except RenderCancelled:
        print(f"creps {args.command}: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"creps {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
