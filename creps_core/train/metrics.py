"""Scale consistency (the CREPS paper's table): is the 2R render a faithful upsample of R?

A coordinate-based generator can be rendered on a denser grid of the same domain
(official scale 2: ``linspace(0, 1, 2R)`` for rows and columns).  Box-filtering that
2R image by 2x2 should give back the R render; PSNR and SSIM of the two measure how
true that is.  SSIM is the standard one (Wang et al. 2004): 11-tap Gaussian window,
sigma 1.5, K1 0.01, K2 0.03, computed per channel on images mapped to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from creps_core.latent.latents import class_vector, seed_to_z
from creps_core.model.network import CREPSGenerator
from creps_core.progress import Progress

MEASURING = "measuring scale consistency"  # the stage of scale_consistency's records (one per seed)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Generator output [-1, 1] -> [0, 1] (clamped like the uint8 conversion)."""
    return (x.float() * 0.5 + 0.5).clamp(0, 1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of [B, C, H, W] images in [0, 1]."""
    mse = (a - b).square().flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def _gaussian_window(size: int, sigma: float, channels: int) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma**2))
    g = (g / g.sum()).float()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image mean SSIM of [B, C, H, W] images in [0, 1] ('valid' windows, no padding)."""
    C = a.shape[1]
    size = min(window, a.shape[-1], a.shape[-2])
    w = _gaussian_window(size, sigma, C).to(a.device)
    c1, c2 = 0.01**2, 0.03**2

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, groups=C)

    mu_a, mu_b = filt(a), filt(b)
    s_aa = filt(a * a) - mu_a.square()
    s_bb = filt(b * b) - mu_b.square()
    s_ab = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a.square() + mu_b.square() + c1) * (s_aa + s_bb + c2)
    return (num / den).flatten(1).mean(1)


@dataclass
class ConsistencyResult:
    seeds: list[int]
    resolution: int
    psnr: list[float]
    ssim: list[float]

    @property
    def mean_psnr(self) -> float:
        return sum(self.psnr) / len(self.psnr)

    @property
    def mean_ssim(self) -> float:
        return sum(self.ssim) / len(self.ssim)

    def table(self) -> str:
        lines = [f"scale consistency: render {self.resolution}^2 vs {2 * self.resolution}^2 box-filtered 2x2",
                 f"{'seed':>6} {'PSNR dB':>9} {'SSIM':>7}"]
        lines += [f"{s:>6} {p:>9.2f} {q:>7.4f}" for s, p, q in zip(self.seeds, self.psnr, self.ssim)]
        lines.append(f"{'mean':>6} {self.mean_psnr:>9.2f} {self.mean_ssim:>7.4f}")
        return "\n".join(lines)


@torch.no_grad()
def scale_consistency(g: CREPSGenerator, seeds: list[int], psi: float = 1.0, class_idx: int | None = None,
                      device: str | torch.device = "cpu",
                      report: Callable[[Progress], None] | None = None) -> ConsistencyResult:
    """PSNR/SSIM between the R render and the 2x2-box-downsampled 2R render, per seed; ``report``
    hears each seed measured."""
    R = g.cfg.img_resolution
    t1 = torch.linspace(0, 1, R, device=device)
    t2 = torch.linspace(0, 1, 2 * R, device=device)
    c = class_vector(g.cfg.c_dim, class_idx)  # a class the model lacks is one line, not an IndexError
    c = None if c is None else c.to(device)
    ps, ss = [], []
    for s in seeds:
        ws = g.map(seed_to_z(s, g.cfg.z_dim).float().to(device), c, psi)
        lo = to_unit(g.synthesis(ws, t1, t1))
        hi = to_unit(F.avg_pool2d(g.synthesis(ws, t2, t2), 2))
        ps.append(float(psnr(lo, hi)[0]))
        ss.append(float(ssim(lo, hi)[0]))
        if report is not None:
            report(Progress(MEASURING, len(ps), len(seeds)))
    if any(math.isinf(p) for p in ps):
        ps = [min(p, 100.0) for p in ps]
    return ConsistencyResult(list(seeds), R, ps, ss)
