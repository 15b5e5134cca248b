"""Render the pictures of assets/README.md for one demo model (or any checkpoint).

    python docs/make_demo_figures.py demo:photos assets/figures/photos

writes ``grid.png`` (``--seeds``, 0-15 by default, at ``--cell`` pixels, 4x the training grid by
default), ``poster.jpg`` (2048x1024 at zoom 0.25: what lies around the training square),
``zoom_strip.png`` (8 frames of a x16 zoom into one point), ``mix.png`` (``--mix A B``: seed A, seed B,
A's coarse layers with B's fine ones, B's coarse with A's fine, and the W midpoint of the two) and
``consistency.json`` (R vs 2R PSNR/SSIM over seeds 0-7).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from creps_core.jobs import video as vid
from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import open_model
from creps_core.render.engine import Engine
from creps_core.render.views import View
from creps_core.train.metrics import scale_consistency


def grid(engine: Engine, seeds: range, cell: int, columns: int = 4) -> np.ndarray:
    rows = -(-len(seeds) // columns)
    out = np.zeros((rows * cell, columns * cell, 3), np.uint8)
    for k, seed in enumerate(seeds):
        r, c = divmod(k, columns)
        image = engine.render_u8(LatentSpec(seed=seed), View(cell, cell))
        out[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = image
    return out


def zoom_strip(engine: Engine, seed: int, point: tuple[float, float], factor: float, frames: int = 8,
               side: int = 128) -> np.ndarray:
    kfs = vid.zoom_into(View(side, side), LatentSpec(seed=seed), point, factor, duration=1.0)
    spec = vid.VideoSpec(tuple(kfs), side, side, fps=frames, frames=frames)
    images = [engine.render_u8(f.latent, f.view) for f in vid.frames(engine, spec)]
    return np.concatenate(images, axis=1)


def mix_strip(engine: Engine, a: int, b: int, cell: int) -> np.ndarray:
    """Seed a, seed b, a with b's fine layers, b with a's fine layers, and the W midpoint (a row)."""
    num_ws = engine.model.cfg.num_ws
    fine = tuple(range(num_ws // 2, num_ws))
    specs = [LatentSpec(seed=a), LatentSpec(seed=b), LatentSpec(seed=a, mix_seed=b, mix_layers=fine),
             LatentSpec(seed=b, mix_seed=a, mix_layers=fine), LatentSpec(seed=a, interp_seed=b, interp_t=0.5)]
    return np.concatenate([engine.render_u8(spec, View(cell, cell)) for spec in specs], axis=1)


def seed_range(text: str) -> range:
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("network", help="demo:NAME, a path, ...")
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--poster-seed", type=int, default=1)
    ap.add_argument("--zoom-to", type=float, nargs=2, default=(0.45, 0.55), metavar=("U", "V"))
    ap.add_argument("--seeds", type=seed_range, default=range(16), help="the grid's seeds, A-B (default 0-15)")
    ap.add_argument("--cell", type=int, default=None, help="grid cell side in pixels (default 4x the training grid)")
    ap.add_argument("--columns", type=int, default=4)
    ap.add_argument("--mix", type=int, nargs=2, default=(0, 1), metavar=("A", "B"))
    args = ap.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    model = open_model(args.network)
    engine = Engine(model, device="cpu", precision="fp32")
    res = model.cfg.img_resolution
    cell = args.cell or 4 * res
    Image.fromarray(grid(engine, args.seeds, cell, args.columns)).save(args.outdir / "grid.png")
    Image.fromarray(mix_strip(engine, *args.mix, cell)).save(args.outdir / "mix.png")
    poster = engine.render_u8(LatentSpec(seed=args.poster_seed), View(2048, 1024, zoom=0.25))
    Image.fromarray(poster).save(args.outdir / "poster.jpg", quality=90)
    strip = zoom_strip(engine, args.poster_seed, tuple(args.zoom_to), 16.0)
    Image.fromarray(strip).save(args.outdir / "zoom_strip.png")
    report = scale_consistency(model.build("cpu"), list(range(8)))
    figures = {"seeds": report.seeds, "psnr": report.psnr, "ssim": report.ssim, "mean_psnr": report.mean_psnr,
               "mean_ssim": report.mean_ssim}
    (args.outdir / "consistency.json").write_text(json.dumps(figures, indent=1))
    print(report.table())


if __name__ == "__main__":
    main()
