"""`creps consistency`'s PSNR and SSIM are the standard ones: checked against scikit-image's on real renders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch.nn import functional as F

from creps_core.cli.main import main
from creps_core.latent.latents import seed_to_z
from creps_core.model.checkpoint import load_checkpoint
from creps_core.train.metrics import psnr, scale_consistency, ssim, to_unit

from ..core_fixtures import tiny_checkpoint


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    return load_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("m") / "tiny.safetensors")).build()


def reference(lo: torch.Tensor, hi: torch.Tensor) -> tuple[float, float]:
    """scikit-image's PSNR and SSIM (Wang et al.: Gaussian window, sigma 1.5, population covariance)."""
    a, b = (x[0].permute(1, 2, 0).double().numpy() for x in (lo, hi))
    return (peak_signal_noise_ratio(a, b, data_range=1.0),
            structural_similarity(a, b, data_range=1.0, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False))


@torch.no_grad()
def renders(g, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two images scale_consistency compares: R, and 2R box-filtered 2x2."""
    r = g.cfg.img_resolution
    ws = g.map(seed_to_z(seed, g.cfg.z_dim).float(), None, 1.0)
    lo = to_unit(g.synthesis(ws, torch.linspace(0, 1, r), torch.linspace(0, 1, r)))
    t2 = torch.linspace(0, 1, 2 * r)
    return lo, to_unit(F.avg_pool2d(g.synthesis(ws, t2, t2), 2))


def test_psnr_and_ssim_equal_scikit_image_on_renders(generator):
    for seed in (0, 1):
        lo, hi = renders(generator, seed)
        other, _ = renders(generator, seed + 10)
        for b in (hi, other, (lo + 0.05 * torch.randn_like(lo)).clamp(0, 1)):
            want_psnr, want_ssim = reference(lo, b)
            assert float(psnr(lo, b)[0]) == pytest.approx(want_psnr, abs=1e-3)
            assert float(ssim(lo, b)[0]) == pytest.approx(want_ssim, abs=1e-4)


def test_the_consistency_table_equals_scikit_image(generator, tmp_path, capsys):
    result = scale_consistency(generator, [0, 3])
    for seed, got_psnr, got_ssim in zip(result.seeds, result.psnr, result.ssim):
        want_psnr, want_ssim = reference(*renders(generator, seed))
        assert got_psnr == pytest.approx(want_psnr, abs=1e-3) and got_ssim == pytest.approx(want_ssim, abs=1e-4)
    path = tiny_checkpoint(tmp_path / "tiny.safetensors")
    assert main(["consistency", "--network", str(path), "--seeds", "0,3"]) == 0
    captured = capsys.readouterr()
    rows = {int(line.split()[0]): line.split()[1:] for line in captured.out.splitlines()
            if line.split() and line.split()[0].isdigit()}
    assert [float(rows[s][0]) for s in (0, 3)] == pytest.approx([round(p, 2) for p in result.psnr], abs=0.006)
    assert "measuring scale consistency" in captured.err and "2/2" in captured.err  # a bar per seed, completed
    assert np.isfinite(result.mean_psnr)
