"""Opening a checkpoint of the released 256 config (random weights): the official pickle and the
native safetensors, with the loader as shipped (torch on one thread while it loads) against the
same loader on torch's default threads, alternating in this process.

    python -m benchmarks.bench_load [--repeat 3]

Prints the median seconds of each and their ratio; the file's read rate gives a floor (the hash
alone reads the file once)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from creps_core.model import checkpoint
from creps_core.model.network import PAPER_CONFIGS, CREPSGenerator
from tests.official_pickle import write_official_pickle


def files(folder: Path) -> tuple[Path, Path]:
    cfg = PAPER_CONFIGS[256]
    torch.manual_seed(0)
    state = CREPSGenerator(cfg).state_dict()
    kwargs = dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
                  img_channels=cfg.img_channels, mapping_kwargs=dict(num_layers=cfg.mapping_layers),
                  channel_base=cfg.channel_base, channel_max=cfg.channel_max, biline_channels=cfg.biline_channels)
    pkl, st = folder / "released256.pkl", folder / "released256.safetensors"
    write_official_pickle(pkl, state, kwargs)
    checkpoint.save_safetensors(st, cfg, state)
    return pkl, st


def default_threads(path: Path) -> None:
    """The loader's body without its one-thread guard (the baseline)."""
    with open(path, "rb") as f:
        head = f.read(16)
    checkpoint._load(path, head, "G_ema", None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for path in files(Path(tmp)):
            shipped: list[float] = []
            baseline: list[float] = []
            hashed: list[float] = []
            for _ in range(args.repeat):  # alternating, so a busy neighbour weighs on both alike
                for fn, times in ((checkpoint.load_checkpoint, shipped), (default_threads, baseline),
                                  (checkpoint.file_sha256, hashed)):
                    t0 = time.perf_counter()
                    fn(path)
                    times.append(time.perf_counter() - t0)
            s, b, h = (statistics.median(t) for t in (shipped, baseline, hashed))
            size = path.stat().st_size / 1e6
            print(f"{path.suffix:13} {size:6.0f} MB  one thread {s:6.2f} s  torch's {torch.get_num_threads()} "
                  f"threads {b:6.2f} s  speed-up x{b / s:.2f}  (hash alone {h:.2f} s: {size / h:.0f} MB/s)")


if __name__ == "__main__":
    main()
