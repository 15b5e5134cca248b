"""The engine reproduces the official implementation's outputs (golden references)."""

from __future__ import annotations

import pytest
import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint
from creps_core.render.engine import Engine
from creps_core.render.views import View

from ..core_fixtures import golden_pickle, golden_state

GOLDENS = ["small64_golden.npz", "small32_cond_golden.npz"]


def _class_of(g: dict, i: int) -> int | None:
    c = g["c"][i]
    return int(c.argmax()) if c.size else None


@pytest.mark.parametrize("name", GOLDENS)
def test_official_pickle_matches_golden_ws_and_images(tmp_path, name):
    path, g = golden_pickle(tmp_path, name)
    engine = Engine(load_checkpoint(path), device="cpu")
    res = engine.cfg.img_resolution
    for psi in (1.0, 0.7):
        for i, seed in enumerate(g["seeds"].tolist()):
            spec = LatentSpec(seed=seed, psi=psi, class_idx=_class_of(g, i))
            ws = engine.ws(spec)
            assert (ws - torch.from_numpy(g[f"ws_psi{psi}"][i])).abs().max() <= 1e-5
            for scale in (1, 2):
                img = engine.render(spec, View.official(res, scale))
                ref = torch.from_numpy(g[f"img_psi{psi}_scale{scale}"][i])
                assert img.shape == ref.shape
                assert (img - ref).abs().max() <= 1e-4, (psi, seed, scale)


@pytest.mark.parametrize("name", GOLDENS)
def test_line_network_matches_golden_intermediates(tmp_path, name):
    path, g = golden_pickle(tmp_path, name)
    gen = load_checkpoint(path).build()
    cfg = gen.cfg
    ws = gen.map(torch.from_numpy(g["z"][:1]), torch.from_numpy(g["c"][:1]) if cfg.c_dim else None)
    t = torch.linspace(0, 1, cfg.img_resolution)
    with torch.no_grad():
        rows, cols = gen.synthesis.lines(ws, t, 0), gen.synthesis.lines(ws, t, 1)  # [1, n, L, rank, c]
    for k, res in enumerate(cfg.composed_blocks):
        ref = torch.from_numpy(g[f"inter/biline_b{res}"])[0]  # [c, n, 2*rank]
        ours = torch.cat([rows[0, :, k], cols[0, :, k]], dim=1).permute(2, 0, 1)  # [c, n, 2*rank]
        assert (ours - ref).abs().max() <= 1e-4, res


def test_training_copy_G_is_selectable(tmp_path):
    _, g = golden_pickle(tmp_path, "small64_golden.npz")
    g_state = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() and "coords" not in k else v
               for k, v in golden_state(g).items()}
    path, _ = golden_pickle(tmp_path, "small64_golden.npz", g_state=g_state)
    ema, train = load_checkpoint(path, "G_ema"), load_checkpoint(path, "G")
    assert train.network == "G"
    assert all(torch.equal(train.state[k], g_state[k].float()) for k in train.state)
    view = View.official(64)
    img_ema = Engine(ema).render(LatentSpec(seed=0), view)
    img_train = Engine(train).render(LatentSpec(seed=0), view)
    ref = torch.from_numpy(g["img_psi1.0_scale1"][0])
    assert (img_ema - ref).abs().max() <= 1e-4
    assert (img_train - img_ema).abs().max() > 1e-2
    # The training copy renders what its own weights say (reference: the batched module path).
    gen = train.build()
    with torch.no_grad():
        expect = gen.synthesis(gen.map(torch.from_numpy(g["z"][:1]), None))[0]
    assert (img_train - expect).abs().max() <= 1e-4


def test_module_forward_matches_engine(tmp_path):
    path, g = golden_pickle(tmp_path, "small64_golden.npz")
    model = load_checkpoint(path)
    gen, engine = model.build(), Engine(model)
    spec = LatentSpec(seed=1, psi=0.7)
    view = View(56, 40, center=(0.4, 0.45), zoom=1 / 1.5)  # non-square, zoomed out past the domain
    grid = view.separable()
    with torch.no_grad():
        ref = gen.synthesis(engine.ws(spec)[None], grid.rows, grid.cols)[0]
    assert (engine.render(spec, view) - ref).abs().max() <= 1e-4
