"""The GPU path, proven by one script: fidelity against the CPU, frame times, an export and a video.

Released 256 config (random weights, seed 0). Prints one JSON object:
- fidelity: fp32 on the device vs fp32 on the CPU (max abs difference, target <= 1e-4) and fp16 on
  the device vs the CPU (PSNR, target >= 40 dB), on a 256x256 view;
- frames: seconds per frame at 512x512, 1920x1080 and 3840x2160 - straight (fresh latent), rotated,
  after a latent change (new program, new lines) and after a 10 % pan (cached lines);
- export: a 16384x16384 TIFF (seconds, megapixels per second);
- video: a 100-frame x4 zoom at 512x512 (seconds, frames per second).

    python -m benchmarks.gpu_check                       # on a CUDA machine: everything, a few minutes
    python -m benchmarks.gpu_check --device cpu --quick  # the same steps, small sizes (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from creps_core.jobs import video as vid
from creps_core.jobs.export import export_image
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint, save_safetensors
from creps_core.model.network import PAPER_CONFIGS, CREPSGenerator
from creps_core.render.engine import Engine
from creps_core.render.views import View


def sync(engine: Engine) -> None:
    if engine.device.type == "cuda":
        torch.cuda.synchronize()


def seconds(engine: Engine, fn, repeat: int = 3) -> float:
    fn()
    sync(engine)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(engine)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 4)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 100.0 if mse == 0 else round(10 * math.log10(4.0 / mse), 2)


def fidelity(model, device: str) -> dict:
    view, spec = View(256, 256), LatentSpec(seed=0)
    cpu = Engine(model, device="cpu").render(spec, view)
    dev32 = Engine(model, device=device).render(spec, view)
    out = {"fp32_max_abs_diff": float((dev32 - cpu).abs().max())}
    half = "fp16" if torch.device(device).type == "cuda" else "bf16"
    out[f"{half}_psnr_db"] = psnr(Engine(model, device=device, precision=half).render(spec, view), cpu)
    return out


def frames(engine: Engine, sizes: list[tuple[int, int]]) -> dict:
    result = {}
    seeds = iter(range(1, 10_000))
    for w, h in sizes:
        straight = View(w, h, snap=True)

        def fresh(view: View) -> None:
            engine.clear_caches()
            engine.render(LatentSpec(seed=next(seeds)), view)

        spec = LatentSpec(seed=0)
        engine.render(spec, straight)
        panned = straight.with_(center=(0.5, 0.5 + 0.1 * w * straight.spacing))
        result[f"{w}x{h}"] = {
            "straight_s": seconds(engine, lambda view=straight: fresh(view)),
            "rotated_s": seconds(engine, lambda view=straight: fresh(view.with_(rotation=30.0, snap=False))),
            "latent_change_s": seconds(engine, lambda view=straight: engine.render(LatentSpec(seed=next(seeds)), view)),
            "pan_10pct_s": seconds(engine, lambda spec=spec, view=panned: engine.render(spec, view)),
        }
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="auto")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every step")
    args = p.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device here (use --device cpu --quick for a smoke run)")
    t_start = time.perf_counter()
    torch.manual_seed(0)
    cfg = PAPER_CONFIGS[256]
    with tempfile.TemporaryDirectory() as tmp:
        path = save_safetensors(Path(tmp) / "released256.safetensors", cfg, CREPSGenerator(cfg).state_dict())
        model = load_checkpoint(path)
        report: dict = {"device": args.device, "torch": torch.__version__,
                        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                        "config": "released 256, random weights", "fidelity": fidelity(model, args.device)}
        engine = Engine(model, device=args.device, precision=args.precision)
        report["precision"] = engine.precision
        sizes = [(256, 256), (480, 270)] if args.quick else [(512, 512), (1920, 1080), (3840, 2160)]
        report["frames"] = frames(engine, sizes)
        side = 1024 if args.quick else 16384
        t0 = time.perf_counter()
        export_image(engine, LatentSpec(seed=0), View(side, side), Path(tmp) / "big.tif", tile=1024,
                     precision=engine.precision)
        dt = time.perf_counter() - t0
        report["export"] = {"size": f"{side}x{side}", "seconds": round(dt, 2),
                            "mpx_per_s": round(side * side / dt / 1e6, 2)}
        n = 10 if args.quick else 100
        kfs = vid.zoom_into(View(512, 512), LatentSpec(seed=0), (0.45, 0.55), 4.0, duration=1.0)
        spec = vid.VideoSpec(tuple(kfs), 512, 512, fps=30, precision=engine.precision, frames=n)
        t0 = time.perf_counter()
        for _ in vid.video_steps(engine, spec, Path(tmp) / "zoom.mp4"):
            pass
        dt = time.perf_counter() - t0
        report["video"] = {"frames": n, "seconds": round(dt, 2), "fps": round(n / dt, 2)}
    report["total_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
