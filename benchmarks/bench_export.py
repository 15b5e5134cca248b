"""Export benchmark: peak memory against output size, and throughput in megapixels per second.

Each measurement runs in a fresh subprocess (peak RSS via resource.getrusage
ru_maxrss), so runs never contaminate each other.  Prints a table and the ratios
against the first (baseline) size.

    python -m benchmarks.bench_export memory --sizes 4096 16384 32768      # small random model
    python -m benchmarks.bench_export throughput --config 256 --size 2048  # released 256 config, random weights

Memory is independent of the model's cost per pixel, so the memory run uses the
small demo config (a 32768^2 export of the 256 config takes about an hour on 2 CPU
cores); the throughput run uses the released 256 config.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_checkpoint(config: str, directory: Path) -> Path:
    import torch

    from creps_core.model.checkpoint import save_safetensors
    from creps_core.model.demo import SMALL_RANDOM_CONFIG
    from creps_core.model.network import CREPSConfig, CREPSGenerator

    cfg = CREPSConfig() if config == "256" else SMALL_RANDOM_CONFIG
    path = directory / f"bench_{config}.safetensors"
    if not path.exists():
        torch.manual_seed(0)
        save_safetensors(path, cfg, CREPSGenerator(cfg).state_dict(), {"label": "random weights (benchmark)"})
    return path


def synthetic_renderer(spec, tasks, cancel):
    """Cheap stand-in tiles (no network): measures the tile store, assembly and TIFF writer alone."""
    import numpy as np

    for t in tasks:
        r = np.arange(t.row0, t.row0 + t.rows, dtype=np.uint32)[:, None, None]
        c = np.arange(t.col0, t.col0 + t.cols, dtype=np.uint32)[None, :, None]
        yield t, ((r * 7 + c * 3 + np.arange(3, dtype=np.uint32)) % 251).astype(np.uint8)


def child(args: argparse.Namespace) -> None:
    """One export in this (fresh) process; prints a JSON line of figures."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from creps_core.jobs.export import export_image
    from creps_core.latent.latents import LatentSpec
    from creps_core.model.checkpoint import load_checkpoint
    from creps_core.render.engine import Engine
    from creps_core.render.views import View

    engine = Engine(load_checkpoint(args.checkpoint), device="cpu", precision=args.precision)
    out = Path(args.out)
    t0 = time.perf_counter()
    export_image(engine, LatentSpec(seed=1), View(args.size, args.size), out, tile=args.tile,
                 precision=args.precision, compression=args.compression,
                 renderer=synthetic_renderer if args.synthetic else None)
    seconds = time.perf_counter() - t0
    print(json.dumps({"size": args.size, "precision": args.precision, "seconds": seconds,
                      "mp_per_s": args.size**2 / 1e6 / seconds, "file_mb": out.stat().st_size / 2**20,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    out.unlink()


def run_child(checkpoint: Path, size: int, precision: str, workdir: Path, a: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "_child", "--checkpoint", str(checkpoint), "--size", str(size),
           "--precision", precision, "--out", str(workdir / f"out_{size}_{precision}.tif"), "--tile", str(a.tile),
           "--threads", str(a.threads), "--compression", str(a.compression)] + (["--synthetic"] if a.synthetic else [])
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"benchmark child failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("memory", "throughput", "_child"))
    p.add_argument("--config", choices=("small", "256"), default=None)
    p.add_argument("--sizes", type=int, nargs="+", default=[4096, 16384, 32768])
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--precision", default="fp32")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--compression", default="zlib")
    p.add_argument("--workdir", type=Path, default=None, help="where outputs go (needs ~3 bytes/pixel free twice)")
    p.add_argument("--synthetic", action="store_true", help="memory: stand-in tiles instead of the network")
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--out")
    a = p.parse_args()
    if a.mode == "_child":
        if a.compression == "None" or a.compression == "none":
            a.compression = None
        return child(a)
    with tempfile.TemporaryDirectory(dir=a.workdir) as tmp:
        workdir = Path(tmp)
        ckpt = make_checkpoint(a.config or ("small" if a.mode == "memory" else "256"), workdir)
        label = " (synthetic tiles)" if a.synthetic else ""
        print(f"# {a.mode}{label}: checkpoint {ckpt.name}, tile {a.tile}, threads {a.threads or 'default'}, "
              f"compression {a.compression}, cpus {os.cpu_count()}", flush=True)
        runs = [(s, a.precision) for s in a.sizes] if a.mode == "memory" else [(a.size, p) for p in a.precisions]
        print(f"{'size':>7} {'prec':>5} {'seconds':>9} {'MP/s':>7} {'peak RSS MB':>12} {'RSS ratio':>10} "
              f"{'file MB':>9}", flush=True)
        base = None
        for size, precision in runs:  # one row at a time: long runs show their figures as they come
            r = run_child(ckpt, size, precision, workdir, a)
            base = base or r
            print(f"{r['size']:>7} {r['precision']:>5} {r['seconds']:>9.1f} {r['mp_per_s']:>7.3f} "
                  f"{r['peak_rss_mb']:>12.0f} {r['peak_rss_mb'] / base['peak_rss_mb']:>10.3f} {r['file_mb']:>9.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
