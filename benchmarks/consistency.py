"""Scale consistency of a checkpoint (CREPS paper table): R render vs 2x2-box-filtered 2R render.

    python benchmarks/consistency.py [--network assets/demo.safetensors] [--seeds 0-7]

Prints PSNR / SSIM per seed and their means, then the same for a freshly initialised
generator of the same config as an in-process baseline (so a trained model can be
compared with what the architecture gives before training).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from creps_core.cli.args import parse_seeds  # noqa: E402
from creps_core.model.checkpoint import load_checkpoint  # noqa: E402
from creps_core.model.network import CREPSGenerator  # noqa: E402
from creps_core.train.metrics import scale_consistency  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default=str(Path(__file__).resolve().parents[1] / "assets" / "demo.safetensors"))
    ap.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-7"))
    ap.add_argument("--trunc", type=float, default=1.0)
    args = ap.parse_args()

    model = load_checkpoint(args.network)
    g = model.build("cpu")
    t0 = time.perf_counter()
    res = scale_consistency(g, args.seeds, psi=args.trunc)
    dt = time.perf_counter() - t0
    print(f"{args.network}: {model.cfg.img_resolution}^2, {model.num_params / 1e6:.2f} M params, "
          f"kimg {model.metadata.get('kimg', '?')}")
    print(res.table())
    torch.manual_seed(0)
    base = scale_consistency(CREPSGenerator(model.cfg).eval(), args.seeds, psi=1.0)
    print(f"baseline (untrained, same config): PSNR {base.mean_psnr:.2f} dB, SSIM {base.mean_ssim:.4f}")
    print(f"trained - baseline: PSNR {res.mean_psnr - base.mean_psnr:+.2f} dB, "
          f"SSIM {res.mean_ssim - base.mean_ssim:+.4f}; {dt:.2f} s for {len(args.seeds)} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
