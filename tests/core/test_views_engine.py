"""Views and the engine: tiles join exactly, rotations and warps, reuse of per-latent work."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View, Warp

from ..core_fixtures import golden_pickle


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path, _ = golden_pickle(tmp_path_factory.mktemp("m"), "small64_golden.npz")
    return load_checkpoint(path)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10 * math.log10(4.0 / mse) if mse > 0 else float("inf")  # peak-to-peak 2 for [-1, 1]


SPEC = LatentSpec(seed=1, psi=0.8)


@pytest.mark.parametrize("view", [
    View(300, 200, center=(0.45, 0.55), zoom=1.3),
    View(300, 200, center=(0.45, 0.55), zoom=1.3, rotation=30, warp=Warp("swirl", 1.5, 0.8)),
], ids=["separable", "rotated+swirl"])
def test_tiles_equal_one_shot(model, view):
    whole = Engine(model).render(SPEC, view)
    assert whole.shape == (3, 200, 300)
    tiled = torch.full_like(whole, float("nan"))
    engine = Engine(model)  # fresh caches: every tile computes its own lines
    for r, c, tile in view.tiles(48, 64):
        h, w = tile.shape
        tiled[:, r:r + h, c:c + w] = engine.render(SPEC, tile)
    assert (tiled - whole).abs().max() <= 1e-6


def test_non_square_view_covers_the_unit_square_on_its_short_side():
    grid = View(300, 200).separable()
    assert grid.rows[0] == 0 and grid.rows[-1] == 1
    assert len(grid.cols) == 300 and grid.cols[0] < 0 < 1 < grid.cols[-1]
    assert View.official(64, 1.5).shape == (96, 96)


def test_rotation_by_90_is_a_transposed_separable_render(model):
    engine = Engine(model)
    view = View(90, 60, center=(0.4, 0.6), zoom=1.7)
    rot = view.with_(rotation=90)
    fast = engine.render(SPEC, rot)  # separable path, transposed
    exact = engine.render(SPEC, rot.with_(rotation=90 + 1e-9), warp_quality="exact")  # per-pixel lines
    assert fast.shape == exact.shape == (3, 60, 90)
    assert (fast - exact).abs().max() <= 1e-4
    # Content: the rotated view's rows run along the unrotated view's columns (reversed).
    square = View(60, 60, center=(0.4, 0.6), zoom=1.7)
    a = engine.render(SPEC, square)
    b = engine.render(SPEC, square.with_(rotation=90))
    assert (b - a.transpose(1, 2).flip(2)).abs().max() <= 1e-4
    assert (engine.render(SPEC, square.with_(rotation=180)) - a.flip(1, 2)).abs().max() <= 1e-4


@pytest.mark.parametrize("warp,rotation", [(None, 30.0), (Warp("swirl", 2.0, 0.7), 0.0),
                                           (Warp("lens", -0.3), 10.0), (Warp("wave", 0.05, frequency=3), 0.0)],
                         ids=["rot30", "swirl", "lens", "wave"])
def test_table_interpolation_is_close_to_exact(model, warp, rotation):
    engine = Engine(model)
    view = View(160, 120, center=(0.5, 0.5), rotation=rotation, warp=warp)
    fast, exact = engine.render(SPEC, view), engine.render(SPEC, view, warp_quality="exact")
    assert psnr(fast, exact) >= 50
    assert (fast - engine.render(SPEC, view.with_(rotation=rotation + 3))).abs().max() > 1e-2  # it does rotate


def test_second_view_reuses_per_latent_work(model):
    engine = Engine(model)
    engine.render(SPEC, View(64, 64))
    assert engine.stats.programs_compiled == 1
    engine.render(SPEC, View(80, 50, zoom=2.0, rotation=15))
    engine.render(SPEC, View(64, 64, center=(0.3, 0.3)))
    assert engine.stats.programs_compiled == 1 and engine.stats.program_cache_hits == 2
    engine.render(LatentSpec(seed=2), View(64, 64))
    assert engine.stats.programs_compiled == 2


def test_pan_by_whole_pixels_only_computes_new_lines(model):
    engine = Engine(model)
    view = View(200, 100, center=(0.5, 0.5), zoom=2, snap=True)
    first = engine.render(SPEC, view)
    computed = engine.stats.line_coords_computed
    assert computed == 300
    s = view.spacing
    panned = view.with_(center=(0.5 + 10 * s, 0.5 - 20 * s))  # 10 rows down, 20 columns left
    second = engine.render(SPEC, panned)
    assert engine.stats.line_coords_computed - computed == 30
    # Shifted content is bit-identical where the views overlap.
    assert torch.equal(second[:, :-10, 20:], first[:, 10:, :-20])


def test_bf16_is_close_to_fp32(model):
    engine = Engine(model)
    view = View(128, 96)
    ref, fast = engine.render(SPEC, view), engine.render(SPEC, view, precision="bf16")
    assert fast.dtype == torch.float32
    assert 25 <= psnr(fast, ref) < float("inf")


@pytest.mark.parametrize("act, clamp", [(True, True), (True, False), (False, False)])
def test_the_fused_bf16_layer_computes_the_plain_one(act, clamp):
    """oneDNN's fused linear (GEMM, bias, leaky ReLU in one pass, used where bf16 is fast) gives the
    plain path's layer to bf16 rounding; it is chosen exactly where it runs fast."""
    from creps_core.render import hardware, program

    torch.manual_seed(0)
    wt, b = torch.randn(64, 48).bfloat16(), torch.randn(48).bfloat16()
    x = (torch.randn(300, 64) * 3).bfloat16()
    plain = program.Dense(wt, b, act, clamp)
    fused = program.Dense(wt, b, act, clamp, w=wt.t().contiguous())
    want, got = plain(x.clone()).float(), fused(x.clone()).float()
    assert got.dtype == torch.float32 and got.shape == (300, 48)
    torch.testing.assert_close(got, want, rtol=2 ** -7, atol=2 ** -6)  # a bf16 ulp or two
    if act:
        assert (got < 0).any() and float(got.min()) > -0.25 * float(want.abs().max())  # the slope, not a clamp to 0
    chosen = program.plain_dense(wt, b, act, clamp).w is not None
    assert chosen == (program.fused_bf16_linear() and hardware.cpu_has_fast_bf16())
    assert program.plain_dense(wt.float(), b.float(), act, clamp).w is None  # fp32 keeps addmm


def test_fp16_on_cpu_is_refused(model):
    with pytest.raises(ValueError, match="fp16"):
        Engine(model, device="cpu", precision="fp16")


@pytest.mark.parametrize("view", [View(128, 96), View(128, 96, rotation=30)], ids=["straight", "rotated"])
def test_progress_moves_during_the_line_phase(model, view):
    """The bar moves while lines are computed (seconds on a big model), in rounds of one chunk per
    worker, and ends at exactly 1."""
    engine = Engine(model, chunk_pixels=128 * 96, line_chunk=16, workers=2)  # one pixel chunk
    seen: list[float] = []
    engine.render(LatentSpec(seed=9), view, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert len(seen) >= 4 and 0 < seen[1] < seen[-2] < 1  # line rounds reported before the pixels


def test_cancel_and_progress(model):
    engine = Engine(model, chunk_pixels=1024)
    seen: list[float] = []
    with pytest.raises(Cancelled):
        engine.render(SPEC, View(128, 128), progress=seen.append, cancel=lambda: len(seen) >= 2)
    assert seen == sorted(seen) and 0 < seen[-1] < 1


def test_bad_views_are_rejected():
    for kwargs in ({"width": 0, "height": 5}, {"width": 5, "height": 5, "zoom": 0},
                   {"width": 5, "height": 5, "zoom": float("nan")}, {"width": 5, "height": 5, "window": (4, 4, 2, 2)}):
        with pytest.raises(ValueError):
            View(**kwargs)
    with pytest.raises(ValueError, match="unknown warp"):
        Warp("twirl", 1.0)


def test_custom_warp_function(model):
    engine = Engine(model)
    flip = Warp("custom", fn=lambda u, v: (1 - u, v))
    a = engine.render(SPEC, View(64, 64))
    b = engine.render(SPEC, View(64, 64, warp=flip), warp_quality="exact")
    assert (b - a.flip(1)).abs().max() <= 1e-4


def test_formula_warp_matches_the_built_in_warp_it_spells():
    two_pi_f = f"{2 * math.pi * 3.0!r}"
    formula = Warp("formula", 1.0, formula=(f"y + 0.05*sin({two_pi_f}*x)", f"x + 0.05*sin({two_pi_f}*y)"))
    built_in = Warp("wave", 0.05, frequency=3.0)
    a, b = (View(60, 40, zoom=1.5, rotation=20, warp=w).field() for w in (formula, built_in))
    assert torch.allclose(a[0], b[0], atol=1e-6) and torch.allclose(a[1], b[1], atol=1e-6)
    half = View(60, 40, warp=Warp("formula", 0.5, formula=("2*y", "x"))).field()[0]
    plain = View(60, 40).field()[0]
    assert torch.allclose(half - 0.5, 1.5 * (plain - 0.5), atol=1e-6)  # strength fades the formula in


def test_formula_identity_renders_the_unwarped_pixels(model):
    engine = Engine(model)
    view = View(48, 40, center=(0.4, 0.6), rotation=30)
    same = view.with_(warp=Warp("formula", 1.0, formula=("y", "x")))
    assert torch.equal(engine.render(SPEC, view, warp_quality="exact"), engine.render(SPEC, same, warp_quality="exact"))


@pytest.mark.parametrize("formula, message", [
    (("__import__('os').system('touch /tmp/pwned')", "x"), "bad warp row formula"),
    (("y", "open"), "bad warp column formula"),
    (("y" * 501, "x"), "longer than 500"),
    ((3, "x"), "must be text"),
])
def test_bad_formulas_are_refused_with_the_reason(formula, message):
    with pytest.raises(ValueError, match=message):
        Warp("formula", 1.0, formula=formula)
    assert not os.path.exists("/tmp/pwned")  # nothing ran
    with pytest.raises(ValueError):
        View.from_dict({"width": 8, "height": 8, "warp": {"kind": "formula", "strength": 1, "formula": formula}})


def test_a_formula_that_is_not_finite_in_the_view_is_refused_before_any_line():
    view = View(8, 8, warp=Warp("formula", 1.0, formula=("y / (x - x)", "x")))  # reading it evaluates nothing
    with pytest.raises(ValueError, match="not finite"):
        view.field()


def test_view_round_trips_through_dict():
    v = View(320, 240, center=(0.2, 0.7), zoom=3.5, rotation=12.5, warp=Warp("lens", -0.2, 0.9), snap=True)
    assert View.from_dict(v.to_dict()) == v
    f = v.with_(warp=Warp("formula", 0.7, formula=("y + 0.1*sin(8*x)", "x*(1 + 0.1*r)")))
    assert View.from_dict(f.to_dict()) == f


def test_uint8_conversion_matches_official():
    from creps_core.render.engine import to_uint8

    img = torch.tensor([-1.5, -1.0, 0.0, 0.999, 1.0]).reshape(1, 1, 5).repeat(3, 1, 1)
    expect = np.clip(np.array([-1.5, -1.0, 0.0, 0.999, 1.0]) * 127.5 + 128, 0, 255).astype(np.uint8)
    assert (to_uint8(img)[0, :, 0] == expect).all()


def test_interpolated_lines_share_work_across_zoom_levels(model):
    engine = Engine(model)
    base = View(96, 96, center=(0.5, 0.5), zoom=1.0)
    exact = engine.render(SPEC, base)
    fast = engine.render(SPEC, base, interpolate=True)
    assert psnr(fast, exact) >= 50
    before = engine.stats.line_coords_computed
    engine.render(SPEC, base.with_(zoom=1.05), interpolate=True)  # a wheel step
    new = engine.stats.line_coords_computed - before
    assert new < 0.25 * 2 * 2 * 96  # most lattice points were already there


def test_views_wider_than_the_line_cache_render(model):
    engine = Engine(model, max_cached_lines=50)
    view = View(120, 80, zoom=0.7)
    assert torch.equal(engine.render(SPEC, view), Engine(model).render(SPEC, view))


def test_line_cache_keeps_the_newest_lines_in_a_bounded_slab():
    from creps_core.render.line_cache import LineCache

    cache = LineCache()
    for start in range(0, 400, 40):  # ten requests of 40 new lines, the cache capped at 100
        keys = [float(k) for k in range(start, start + 40)]
        cache.put(keys, torch.tensor(keys).unsqueeze(1).repeat(1, 3), reserve=140)
        assert torch.equal(cache.get(keys)[:, 0], torch.tensor(keys))
        cache.trim(100)
    assert len(cache) == 100 and 299.0 not in cache and 300.0 in cache
    assert torch.equal(cache.get([399.0, 300.0])[:, 2], torch.tensor([399.0, 300.0]))
    assert cache._slab.shape[0] == 140  # evicted rows were reused: the slab never grew past its reserve
    cache.trim(10)  # a much lower limit gives the memory back
    assert len(cache) == 10 and cache._slab.shape[0] == 10
    assert torch.equal(cache.get([300.0, 399.0])[:, 1], torch.tensor([300.0, 399.0]))


def test_cancel_during_line_evaluation_keeps_finished_lines(model):
    engine = Engine(model, line_chunk=16)
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        engine.render(SPEC, View(200, 200), cancel=cancel)
    assert 0 < engine.stats.line_coords_computed < 400
    done = engine.stats.line_coords_computed
    engine.render(SPEC, View(200, 200))
    assert engine.stats.line_coords_computed == 400  # nothing computed twice
    assert done > 0


def test_expected_shapes_match_the_official_reference():
    import json

    from creps_core.model.network import PAPER_CONFIGS, expected_shapes

    from ..core_fixtures import data_file

    ref = json.loads(data_file("creps_param_shapes.json").read_text())["configs"]
    for res, cfg in PAPER_CONFIGS.items():
        want = {t["name"]: tuple(t["shape"]) for t in ref[str(res)]["tensors"]}
        assert expected_shapes(cfg) == want
        assert cfg.num_ws == ref[str(res)]["num_ws"]


def test_auto_precision_is_what_the_hardware_does_and_only_where_it_holds(tmp_path, monkeypatch):
    from creps_core.render import engine as eng
    from creps_core.render import hardware

    path, _ = golden_pickle(tmp_path, "small64_golden.npz")
    model = load_checkpoint(path)
    auto = Engine(model, device="cpu", precision="auto")
    expected = "bf16" if hardware.cpu_has_fast_bf16() else "fp32"
    assert auto.precision in (expected, "fp32")
    if auto.precision == "bf16":
        assert auto.precision_psnr >= eng.AUTO_MIN_PSNR_DB
        ref = Engine(model, device="cpu").render(SPEC, View(40, 24))
        img = auto.render(SPEC, View(40, 24))
        assert 10 * math.log10(4 / float(((ref - img) ** 2).mean())) >= eng.AUTO_MIN_PSNR_DB
    # A model on which the reduced precision loses too much stays in fp32.
    monkeypatch.setattr(eng, "resolve_precision", lambda p, d, policy=None: "bf16" if p == "auto" else p)
    monkeypatch.setattr(eng.Engine, "measure_precision", lambda self, p, side=48: 30.0)
    assert Engine(model, device="cpu", precision="auto").precision == "fp32"


@pytest.mark.parametrize("view", [View(96, 64), View(70, 50, rotation=30.0, zoom=1.5),
                                  View(40, 40, warp=Warp("swirl", 1.0))])
def test_parallel_chunks_give_the_same_pixels_as_one_worker(model, view):
    one = Engine(model, workers=1, chunk_pixels=512, line_chunk=32)
    many = Engine(model, workers=3, chunk_pixels=512, line_chunk=32)
    a, b = one.render(SPEC, view), many.render(SPEC, view)
    assert torch.allclose(a, b, atol=1e-5)
    assert one.stats.pixels_rendered == many.stats.pixels_rendered == view.width * view.height
    assert one.stats.line_coords_computed == many.stats.line_coords_computed
    exact_one = one.render(SPEC, view, warp_quality="exact")
    assert torch.allclose(exact_one, many.render(SPEC, view, warp_quality="exact"), atol=1e-5)


def test_frozen_layers_keep_their_scaled_weights_until_the_weights_change():
    from creps_core.model.network import FullyConnected

    fc = FullyConnected(8, 4, lr_multiplier=0.5).requires_grad_(False)
    w1, _ = fc.scaled()
    assert fc.scaled()[0] is w1 and torch.equal(w1, fc.weight * fc.weight_gain)
    fc.load_state_dict({"weight": torch.ones(4, 8), "bias": torch.zeros(4)})  # new weights, same tensors
    assert torch.equal(fc.scaled()[0], torch.full((4, 8), fc.weight_gain))
    fc.requires_grad_(True)  # training: the product is part of the graph every time
    w, b = fc.scaled()
    assert w.requires_grad and w is not fc.scaled()[0]


def test_a_rotated_views_table_lines_can_be_prefetched(model):
    """The explorer prefetches a rotated view's line tables in cancellable chunks (its progress bar
    counts them): after that, rendering the view in bands computes no line at all."""
    engine = Engine(model)
    view = View(96, 64, rotation=30, warp=Warp("swirl", 1.0, 0.6))
    spec = LatentSpec(seed=4)
    missing = engine.missing_lines(spec, view)
    assert missing > 96 + 64  # the tables are denser than a straight view's lines
    engine.prefetch_lines(spec, view, chunk=16)
    assert engine.missing_lines(spec, view) == 0
    before = engine.stats.line_coords_computed
    bands = [engine.render(spec, view.tile(r, 0, 16, 96)) for r in range(0, 64, 16)]
    assert engine.stats.line_coords_computed == before
    assert torch.equal(torch.cat(bands, dim=1), Engine(model).render(spec, view))
    assert engine.missing_lines(spec, view, warp_quality="exact") == 0  # the exact mode has no table to prefetch


def test_a_snapped_turned_view_recorded_before_turned_lattices_renders_as_it_did():
    """Records without "lattice" anchored a snapped turned view's lattice on the plane: read back,
    they keep that (their pixels as they were); new records say "turned" and round-trip."""
    view = View(40, 30, center=(0.43, 0.57), zoom=1.7, rotation=20.0, snap=True)
    assert View.from_dict(view.to_dict()) == view and view.to_dict()["lattice"] == "turned"
    old = View.from_dict({k: v for k, v in view.to_dict().items() if k != "lattice"})
    assert old.plane_lattice and not old.pans_by_pixels and View.from_dict(old.to_dict()) == old
    s, (cu, cv) = view.spacing, view.center
    r0, c0 = math.floor(cu / s - 29 / 2 + 0.25), math.floor(cv / s - 39 / 2 + 0.25)
    di = (r0 + torch.arange(30, dtype=torch.float64)) * s - cu
    dj = (c0 + torch.arange(40, dtype=torch.float64)) * s - cv
    ca, sa = math.cos(math.radians(20.0)), math.sin(math.radians(20.0))
    u, v = old.field()
    torch.testing.assert_close(u, (cu + ca * di[:, None] - sa * dj[None, :]).float(), rtol=0, atol=1e-6)
    torch.testing.assert_close(v, (cv + sa * di[:, None] + ca * dj[None, :]).float(), rtol=0, atol=1e-6)
    assert not torch.equal(u, view.field()[0])  # the turned lattice sits elsewhere (by under a pixel)
    with pytest.raises(ValueError, match="lattice"):
        View.from_dict({**view.to_dict(), "lattice": "diagonal"})
