"""Engine vs a straightforward implementation of the official computation order.

Random weights in the released 256 and 512 configs; both implementations run in
this process on the same weights and latent.  Prints seconds per frame, the
speed-up, GFLOP/s against matmul throughput measured in the same run, the
per-pixel part's share of that throughput, and bf16 speed/PSNR against fp32.

    python -m benchmarks.bench_engine [--res 256 512] [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F

from creps_core.model.network import PAPER_CONFIGS, CREPSGenerator
from creps_core.render.costs import frame_flops, line_macs_per_coordinate, pixel_macs
from creps_core.render.engine import Engine
from creps_core.render.hardware import cpu_has_fast_bf16
from creps_core.render.views import View

SQ2 = math.sqrt(2)


def timed(fn, repeat: int, warmup: bool = True) -> float:
    """Median seconds of ``repeat`` calls of ``fn`` (after one untimed call unless ``warmup`` is False)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---- the official computation order, written plainly (the baseline) -------------------
def _fc(layer, x, act: bool):
    w, b = layer.scaled()
    y = x.matmul(w.t()) + b
    return F.leaky_relu(y, 0.2) * SQ2 if act else y


def _modulated(layer, x, w, demod: bool, lrelu: bool):
    """NIHW einsum form of the official modulated_fc + bias_act(clamp 256)."""
    styles = layer.affine(w)
    if not demod:
        styles = styles / math.sqrt(layer.weight.shape[1])
    wt = layer.weight.unsqueeze(0) * styles.unsqueeze(1)
    if demod:
        wt = wt * (wt.square().sum(2, keepdim=True) + 1e-8).rsqrt()
    x = torch.einsum("nihw,noi->nohw", x, wt)
    x = x + layer.bias.reshape(1, -1, 1, 1)
    if lrelu:
        x = F.leaky_relu(x, 0.2) * SQ2
    return x.clamp(-256, 256)


@torch.no_grad()
def official_order(g: CREPSGenerator, ws: torch.Tensor) -> torch.Tensor:
    syn, cfg = g.synthesis, g.cfg
    inp = syn.b4.input
    n = cfg.img_resolution
    coords = torch.linspace(0, 1, n).reshape(1, -1, 1, 1).repeat(1, 1, 2, 1)
    x = coords @ inp.freqs
    x = x.reshape(1, n, 2, inp.channels // 2, cfg.rank).permute(0, 3, 1, 2, 4) * (np.pi * 2)
    half = x.reshape(1, inp.channels // 2, n, -1)
    x = torch.sin(torch.cat([half, half + np.pi / 2], 1))
    x = x * (inp.weight * inp.affine(ws[:, 0]).reshape(1, inp.channels, 1, -1)) / np.sqrt(inp.channels)
    res, feature = None, None
    for name, layer, wi in syn.line_layers():
        if name.endswith("tores"):
            y = _modulated(layer, x, ws[:, wi], False, False)
            res = y if res is None else res + y
            xl, yl = (res * np.sqrt(0.5)).chunk(2, dim=-1)
            f = (xl @ yl.transpose(-2, -1)).permute(0, 2, 3, 1).reshape(-1, cfg.biline_channels)
            res_idx = int(name.split(".")[0][1:])
            if feature is None:
                feature = f
            else:
                dec = getattr(syn, f"decoder_{res_idx}")
                for layer in dec:
                    feature = _fc(layer, feature, True)
                feature = feature + f
        else:
            x = _modulated(layer, x, ws[:, wi], True, True)
    for layer in syn.decoder_last:
        feature = _fc(layer, feature, True)
    img = _fc(syn.decoder_img, feature, False)
    feature = feature.reshape(1, n, n, -1).permute(0, 3, 1, 2)
    img = img.reshape(1, n, n, -1).permute(0, 3, 1, 2)
    w = ws[:, -1]
    for blk in (syn.block0, syn.block1):
        feature = _modulated(blk.fc0, feature, w, True, True)
        feature = _modulated(blk.fc1, feature, w, True, True)
        img = img + _modulated(blk.tores, feature, w, False, False)
    return img[0]


def matmul_gflops(m: int, k: int, n: int, dtype, repeat: int = 5) -> float:
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    return 2 * m * k * n / timed(lambda: a @ b, repeat) / 1e9


def pixel_gemm_only_s(engine: Engine, ws: torch.Tensor, n_pixels: int) -> float:
    """Time of just the per-pixel GEMMs (same shapes, same chunking), no other work."""
    prog = engine.program(ws)
    layers = [layer for dec in prog.decoders for layer in dec] + prog.decoder_last + [prog.decoder_img]
    layers += [layer for blk in prog.pixel_blocks for layer in blk]
    m = engine.chunk_pixels
    inputs = [torch.randn(m, layer.wt.shape[0]) for layer in layers]
    total = sum(timed(lambda x=x, layer=layer: x @ layer.wt, 5) for x, layer in zip(inputs, layers))
    return total * n_pixels / m


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(4.0 / float(((a - b) ** 2).mean()))


def bench(res: int, repeat: int) -> dict:
    cfg = PAPER_CONFIGS[res]
    torch.manual_seed(0)
    g = CREPSGenerator(cfg).eval().requires_grad_(False)
    engine = Engine(g, device="cpu")
    ws = engine.latents.resolve(__import__("creps_core.latent.latents", fromlist=["LatentSpec"]).LatentSpec(seed=0))
    view = View.official(res)
    flops = frame_flops(cfg, res, res)
    pixel_flops = 2.0 * pixel_macs(cfg) * res * res
    line_flops = 2.0 * line_macs_per_coordinate(cfg) * 2 * res

    ref = official_order(g, ws[None])
    out = engine.render(ws, view)
    max_diff = float((out - ref).abs().max())

    t_base = timed(lambda: official_order(g, ws[None]), repeat)

    def fresh(precision: str):
        engine.clear_caches()
        return engine.render(ws, view, precision=precision)

    t32 = timed(lambda: fresh("fp32"), repeat)
    engine.render(ws, view)  # lines now cached: a second render is the per-pixel part alone
    t32_pixels = timed(lambda: engine.render(ws, view), repeat)
    # Without hardware bf16 (AVX512-BF16/AMX) a full frame takes many minutes: time a
    # 32x32 tile of the same view in both precisions instead, and say so.
    bf16_view = view if cpu_has_fast_bf16() else view.tile(0, 0, 32, 32)
    t32_tile = timed(lambda: (engine.clear_caches(), engine.render(ws, bf16_view)), 1)
    t16 = timed(lambda: (engine.clear_caches(), engine.render(ws, bf16_view, precision="bf16")), 1)
    out16 = engine.render(ws, bf16_view, precision="bf16")
    ref16 = engine.render(ws, bf16_view)

    gemm_only = pixel_gemm_only_s(engine, ws, res * res)
    mm_sq = matmul_gflops(2048, 2048, 2048, torch.float32)
    mm_dec = matmul_gflops(65536, 128, 64, torch.float32)
    mm_sq16 = matmul_gflops(512 if not cpu_has_fast_bf16() else 2048, 2048, 2048, torch.bfloat16, 1)
    return {
        "res": res, "threads": torch.get_num_threads(), "repeat": repeat,
        "max_abs_diff_vs_official_order": max_diff,
        "official_order_s": round(t_base, 3), "engine_fp32_s": round(t32, 3), "speedup_fp32": round(t_base / t32, 2),
        "engine_fp32_gflops": round(flops / t32 / 1e9, 1),
        "engine_fp32_line_part_s": round(t32 - t32_pixels, 3),
        "line_part_gflops": round(line_flops / max(t32 - t32_pixels, 1e-9) / 1e9, 1),
        "pixel_part_s": round(t32_pixels, 3), "pixel_part_gflops": round(pixel_flops / t32_pixels / 1e9, 1),
        "matmul_fp32_square_gflops": round(mm_sq, 1), "matmul_fp32_decoder_shape_gflops": round(mm_dec, 1),
        "pixel_part_share_of_square_matmul": round(pixel_flops / t32_pixels / 1e9 / mm_sq, 2),
        "pixel_part_share_of_decoder_shape_matmul": round(pixel_flops / t32_pixels / 1e9 / mm_dec, 2),
        "pixel_gemms_alone_s": round(gemm_only, 3),
        "pixel_part_share_of_its_own_gemms": round(gemm_only / t32_pixels, 2),
        "cpu_has_fast_bf16": cpu_has_fast_bf16(), "bf16_timed_on": list(bf16_view.shape),
        "bf16_s": round(t16, 3), "fp32_same_view_s": round(t32_tile, 3),
        "bf16_speedup_vs_fp32": round(t32_tile / t16, 3),
        "matmul_bf16_square_gflops": round(mm_sq16, 1), "bf16_psnr_vs_fp32_db": round(psnr(out16, ref16), 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--res", type=int, nargs="+", default=[256, 512])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for res in args.res:
        print(json.dumps(bench(res, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
