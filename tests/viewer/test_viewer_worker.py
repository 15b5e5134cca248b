"""Render worker, pixel reuse and viewport maths (no windows)."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import CREPSConfig
from creps_core.progress import RENDERING
from creps_core.render.engine import Engine
from creps_core.render.views import View, Warp
from creps_viewer.model import viewmath
from creps_viewer.model.records import Geometry
from creps_viewer.render.frame_plan import FULL, PARTIAL, PREVIEW, RenderRequest
from creps_viewer.render.pixel_reuse import plan_reuse, shifted
from creps_viewer.render.worker import RenderWorker, default_threads

TINY = CREPSConfig(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2, channel_base=512, channel_max=32,
                   biline_channels=8)


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(default_threads())  # as the app does; oversubscribed pools crawl here
    return random_model(TINY, seed=1)


def collect(worker: RenderWorker) -> list:
    frames: list = []
    worker.frameReady.connect(frames.append, Qt.DirectConnection)
    return frames


def test_pan_renders_only_exposed_strips_and_matches_a_fresh_render(model):
    engine = Engine(model, device="cpu")
    spec = LatentSpec(seed=3)
    old = View(80, 60, center=(0.4, 0.55), zoom=1.5, snap=True)
    s = old.spacing
    new = old.with_(center=(0.4 + 6 * s, 0.55 - 8 * s))  # 10 % of the width, 10 % of the height
    plan = plan_reuse(old, new)
    assert (plan.dr, plan.dc) == (6, -8)
    assert plan.exposed_pixels() == 6 * 80 + 8 * 54
    img = shifted(engine.render(spec, old), plan)
    before = engine.stats.pixels_rendered
    for r0, c0, h, w in plan.regions:
        img[:, r0:r0 + h, c0:c0 + w] = engine.render(spec, new.tile(r0, c0, h, w))
    assert engine.stats.pixels_rendered - before == plan.exposed_pixels()
    torch.testing.assert_close(img, engine.render(spec, new), rtol=0, atol=1e-5)


@pytest.mark.parametrize("quality", ["draft", "fine", "exact"])
def test_a_turned_view_pans_by_whole_screen_pixels_and_renders_only_the_strips(model, quality):
    """A view turned by 20° anchors its lattice in its own frame: a drag of (5, -7) screen pixels
    repeats every coordinate bit for bit, shifted, so the shifted frame plus the strips equals a
    fresh render (rotated drags in the explorer redraw strips, not whole previews)."""
    engine = Engine(model, device="cpu")
    spec = LatentSpec(seed=3)
    old = View(80, 60, center=(0.4, 0.55), zoom=1.5, rotation=20.0, snap=True)
    x, y = old.coord_at(39.5 - 7, 29.5 + 5)  # the point that moves to the centre
    new = old.with_(center=(x, y))
    plan = plan_reuse(old, new)
    assert plan is not None and (plan.dr, plan.dc) == (5, -7)
    (u0, v0), (u1, v1) = old.field(), new.field()
    assert torch.equal(u1[:-5, 7:], u0[5:, :-7]) and torch.equal(v1[:-5, 7:], v0[5:, :-7])
    img = shifted(engine.render(spec, old, warp_quality=quality), plan)
    for r0, c0, h, w in plan.regions:
        img[:, r0:r0 + h, c0:c0 + w] = engine.render(spec, new.tile(r0, c0, h, w), warp_quality=quality)
    torch.testing.assert_close(img, engine.render(spec, new, warp_quality=quality), rtol=0, atol=1e-5)


def test_no_reuse_across_zoom_rotation_or_warp():
    v = View(64, 48, snap=True)
    assert plan_reuse(v, v.with_(zoom=1.1)) is None
    assert plan_reuse(v, v.with_(rotation=90.0)) is None
    assert plan_reuse(v.with_(rotation=20.0), v.with_(rotation=21.0)) is None
    assert plan_reuse(v.with_(rotation=90.0), v.with_(rotation=90.0)) is None  # a quarter turn: not shifted
    swirl = Warp("swirl", 1.0)
    assert plan_reuse(v.with_(rotation=20.0, warp=swirl), v.with_(rotation=20.0, warp=swirl)) is None
    assert plan_reuse(v, v.with_(center=(5.0, 5.0))) is None  # nothing overlaps
    assert plan_reuse(v, v).regions == ()


def test_worker_refines_preview_then_full(model):
    worker = RenderWorker(sync=True)
    frames = collect(worker)
    worker.load_model(model, device="cpu")
    req = RenderRequest(LatentSpec(seed=1), Geometry().view(96, 64), preview_scale=4)
    worker.submit(req)
    assert [f.level for f in frames] == [PREVIEW, FULL]
    assert frames[0].rgb.shape == (16, 24, 3) and frames[1].rgb.shape == (64, 96, 3)
    # The preview sits on every 4th line of the full lattice: the full frame reuses its lines.
    rows, cols = frames[0].view.separable(), frames[1].view.separable()
    assert set(rows.rows.tolist()) <= set(cols.rows.tolist())
    assert set(rows.cols.tolist()) <= set(cols.cols.tolist())
    # A one-pixel pan is cheaper at full resolution than a preview: no preview, strips only.
    worker.submit(RenderRequest(req.latent, req.view.with_(center=(0.5, 0.5 + req.view.spacing)), preview_scale=4))
    assert frames[2].level == FULL and frames[2].pixels_rendered == 64


def test_full_frame_sharpens_band_by_band_over_the_upscaled_preview(model):
    worker = RenderWorker(sync=True, band_pixels=96 * 16, partial_interval=0.0)
    frames = collect(worker)
    worker.load_model(model, device="cpu")
    worker.submit(RenderRequest(LatentSpec(seed=2), Geometry().view(96, 64), preview_scale=4))
    levels = [f.level for f in frames]
    assert levels == [PREVIEW, PARTIAL, PARTIAL, PARTIAL, FULL]
    first, final = frames[1], frames[-1]
    assert first.pixels_rendered == 96 * 16
    assert torch.equal(first.image[:, :16], final.image[:, :16])  # finished band
    assert first.image[:, 16:].abs().sum() > 0  # the rest shows the upscaled preview, not a hole
    assert not torch.equal(first.image[:, 16:], final.image[:, 16:])


def test_newest_request_wins_and_stale_full_renders_are_cancelled(model):
    import threading

    worker = RenderWorker(sync=False, band_pixels=4096)
    frames = collect(worker)
    started = threading.Event()
    worker.activity.connect(lambda text: text.startswith("refining 1200") and started.set(), Qt.DirectConnection)
    worker.load_model(model, device="cpu")
    assert worker.wait_idle(30)
    big = RenderRequest(LatentSpec(seed=5), Geometry().view(1200, 1200), preview_scale=1)
    worker.submit(big)
    assert started.wait(30)  # the big frame is being rendered now
    last = None
    for seed in range(6, 12):
        last = RenderRequest(LatentSpec(seed=seed), Geometry().view(40, 30), preview_scale=1)
        worker.submit(last)
    assert worker.wait_idle(60)
    worker.shutdown()
    done = [f.request for f in frames]
    assert done[-1] == last
    assert big not in done  # cancelled mid-render
    assert len(done) < 7  # stale requests were dropped


def test_bad_model_keeps_previous_and_failed_render_reports(model, tmp_path):
    worker = RenderWorker(sync=True)
    errors, frames = [], collect(worker)
    worker.modelFailed.connect(errors.append)
    worker.renderFailed.connect(errors.append)
    worker.load_model(model, device="cpu")
    bad = tmp_path / "x.pkl"
    bad.write_bytes(b"\x80\x04garbage")
    worker.load_model(str(bad), device="cpu")
    assert worker.loaded_model is model and "x.pkl" in errors[-1]
    worker.submit(RenderRequest(LatentSpec(), Geometry().view(20, 20), precision="fp16", preview_scale=1))
    assert "fp16" in errors[-1] and not frames
    worker.submit(RenderRequest(LatentSpec(), Geometry().view(20, 20), preview_scale=1))
    assert frames and frames[-1].level == FULL


@pytest.mark.parametrize("rotation", [0.0, 30.0, -135.0])
def test_viewmath_round_trip_and_frame_transform(rotation):
    g = Geometry(center=(0.3, 0.7), zoom=3.0, rotation=rotation)
    u, v = viewmath.pixel_to_coord(g, 200, 120, 17.0, 99.0)
    assert viewmath.coord_to_pixel(g, 200, 120, u, v) == pytest.approx((17.0, 99.0))
    a, b, c, d, e, f = viewmath.frame_to_screen(g, 200, 120, g, 200, 120)
    assert (a, b, c, d, e, f) == pytest.approx((1, 0, 0, 0, 1, 0), abs=1e-9)
    # A quarter-size preview of the same region is scaled by the ratio of pixel spacings.
    a, b, c, d, e, f = viewmath.frame_to_screen(g, 50, 30, g, 200, 120)
    assert (a**2 + b**2) ** 0.5 == pytest.approx(119 / 29)
    panned = viewmath.panned(g, 200, 120, 10, -4)
    assert viewmath.pixel_to_coord(panned, 200, 120, 27.0, 95.0) == pytest.approx((u, v))


def test_out_of_memory_is_reported_and_the_worker_carries_on(model, monkeypatch):
    worker = RenderWorker(sync=True)
    errors, frames = [], collect(worker)
    worker.renderFailed.connect(errors.append)
    worker.load_model(model, device="cpu")
    real_render = worker.engine.render

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(worker.engine, "render", oom)
    worker.submit(RenderRequest(LatentSpec(), Geometry().view(20, 20), preview_scale=1))
    assert errors and errors[-1].startswith("Out of memory rendering 20×20")
    monkeypatch.setattr(worker.engine, "render", real_render)
    worker.submit(RenderRequest(LatentSpec(seed=2), Geometry().view(20, 20), preview_scale=1))
    assert frames[-1].level == FULL


def _grab_rgb(widget):
    import numpy as np
    from PySide6.QtGui import QImage

    img = widget.grab().toImage().convertToFormat(QImage.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, :img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def test_viewport_moves_the_last_frame_at_once_while_the_next_renders(qtbot):
    """Instant feedback: a pan shifts the displayed frame before any new frame exists."""
    import types

    import numpy as np

    from creps_viewer.model.state import ExplorerState
    from creps_viewer.qt.viewport import Viewport

    state = ExplorerState()
    vp = Viewport(state)
    qtbot.addWidget(vp)
    vp.resize(100, 80)
    vp.show()
    qtbot.waitExposed(vp)
    w, h = vp.width(), vp.height()
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    vp.show_frame(types.SimpleNamespace(rgb=rgb), state.geometry)
    np.testing.assert_array_equal(_grab_rgb(vp), rgb)
    state.set_geometry(viewmath.panned(state.geometry, w, h, 10, 5))
    shown = _grab_rgb(vp)
    np.testing.assert_allclose(shown[5 + 1:-1, 10 + 1:-1], rgb[1:-6, 1:-11], atol=2)


def test_progress_moves_during_the_line_phase(model):
    """The bar starts moving while lines are computed (seconds on big models), and ends at 1."""
    worker = RenderWorker(sync=True, band_pixels=96 * 16, partial_interval=None)
    worker.load_model(model)
    records = []
    worker.progress.connect(records.append, Qt.DirectConnection)
    worker.submit(RenderRequest(LatentSpec(seed=3), View(96, 64), preview_scale=1))
    assert {r.stage for r in records} == {RENDERING} and len({r.total for r in records}) == 1
    seen = [r.fraction for r in records]
    bands = 64 // 16
    assert len(seen) > bands and seen[-1] == pytest.approx(1.0)  # more reports than pixel bands
    assert seen == sorted(seen)
    assert seen[-bands - 1] > 0  # the line phase had moved the bar before the first band


def test_a_new_latent_answers_with_a_coarse_preview_whose_lines_the_preview_reuses(model):
    worker = RenderWorker(sync=True, partial_interval=None)  # no partial frame however loaded the machine
    frames = collect(worker)
    worker.load_model(model, device="cpu")
    req = RenderRequest(LatentSpec(seed=4), Geometry().view(480, 400), preview_scale=4)  # preview 120x100
    worker.submit(req)
    assert [f.level for f in frames] == [PREVIEW, PREVIEW, FULL]
    coarse, preview, full = frames
    assert coarse.rgb.shape == (25, 30, 3) and preview.rgb.shape == (100, 120, 3)
    c, p = coarse.view.separable(), preview.view.separable()
    assert set(c.rows.tolist()) <= set(p.rows.tolist()) and set(c.cols.tolist()) <= set(p.cols.tolist())
    # The same latent again (a pan, a zoom): no coarse step, its lines are cached.
    frames.clear()
    worker.submit(RenderRequest(req.latent, req.view.with_(zoom=1.3), preview_scale=4))
    assert [f.level for f in frames] == [PREVIEW, FULL]


def test_refining_a_pan_never_shows_a_flat_grey_strip(model):
    """Issue 20: the exposed strips of a pan show the upscaled preview while they are rendered;
    with no preview of the new position to show, no partial frame is shown at all."""
    worker = RenderWorker(sync=True, band_pixels=96 * 4, partial_interval=0.0)
    frames = collect(worker)
    worker.load_model(model, device="cpu")
    base = RenderRequest(LatentSpec(seed=6), Geometry().view(96, 64), preview_scale=4)
    worker.submit(base)
    cols = 30
    for scale in (4, 1):  # with a preview of the new position first, then with previews off
        frames.clear()
        view = base.view.with_(center=(base.view.center[0], base.view.center[1] - cols * base.view.spacing))
        base = RenderRequest(base.latent, view, preview_scale=scale)
        worker.planner.ms_per_pixel = 1.0  # as slow as a big model: a preview first
        worker.submit(base)
        assert (frames[0].level == PREVIEW) == (scale == 4)
        partials = [f for f in frames if f.level == PARTIAL]
        assert frames[-1].level == FULL and frames[-1].pixels_rendered == cols * 64
        assert bool(partials) == (scale == 4)
        for f in partials:
            strip = f.image[:, :, :cols]
            assert not bool((strip == 0).all(dim=0).any()), "a pixel of the exposed strip was shown flat"


def test_the_gpu_policy_runs_on_the_cpu_whole_frames_one_stream_fp16():
    """Every choice a CUDA device makes, run here: only the device differs (hardware.DevicePolicy)."""
    from creps_core.render.hardware import GPU_POLICY

    gpu_model = random_model(TINY, seed=1)
    engine = Engine(gpu_model, device="cpu", precision="auto", policy=GPU_POLICY)
    assert engine.precision == "fp16" and engine.workers == 1 and engine.chunk_pixels == GPU_POLICY.chunk_pixels
    view, spec = View(48, 40, zoom=1.3), LatentSpec(seed=2)
    reference = Engine(gpu_model, device="cpu").render(spec, view)
    fp16 = engine.render(spec, view)
    engine.synchronize()
    mse = float(((fp16 - reference) ** 2).mean())
    assert fp16.dtype == torch.float32 and 0 < mse < 4e-4  # >= 40 dB on images in [-1, 1]
    exact = Engine(gpu_model, device="cpu", precision="fp32", policy=GPU_POLICY)
    # fp32 in one launch per frame: the CPU's pixels up to the rounding of larger matmuls
    torch.testing.assert_close(exact.render(spec, View(96, 64)), Engine(gpu_model, device="cpu").render(
        spec, View(96, 64)), rtol=0, atol=1e-5)
    # The explorer draws whole frames: no previews, no bands, no partial frames, no prefetch rounds.
    worker = RenderWorker(sync=True, band_pixels=96 * 4, partial_interval=0.0, policy=GPU_POLICY)
    frames = collect(worker)
    worker.load_model(gpu_model, device="cpu")
    assert worker.engine.policy is GPU_POLICY
    req = RenderRequest(spec, Geometry().view(96, 64), precision="fp32", preview_scale=4)
    worker.submit(req)
    assert [f.level for f in frames] == [FULL]
    torch.testing.assert_close(frames[0].image, exact.render(spec, req.view), rtol=0, atol=0)
    worker.submit(RenderRequest(spec, req.view.with_(center=(0.5, 0.5 + 3 * req.view.spacing)),
                                precision="fp32", preview_scale=4, interactive=True))
    assert [f.level for f in frames] == [FULL, FULL] and frames[1].pixels_rendered == 3 * 64  # a pan's strip


def test_a_gpu_draws_drag_frames_of_a_turned_view_at_draft_and_the_resting_frame_sharp():
    """Whole frames while the hand moves are drawn as previews are (draft); the frame after it
    rests is drawn again at the request's quality, never built from the draft frame's pixels."""
    from creps_core.render.hardware import GPU_POLICY

    gpu_model = random_model(TINY, seed=1)
    exact = Engine(gpu_model, device="cpu", precision="fp32", policy=GPU_POLICY)
    worker = RenderWorker(sync=True, partial_interval=0.0, policy=GPU_POLICY)
    frames = collect(worker)
    worker.load_model(gpu_model, device="cpu")
    spec, view = LatentSpec(seed=2), Geometry(rotation=25.0).view(96, 64)
    moving = RenderRequest(spec, view, precision="fp32", warp_quality="exact", interactive=True)
    worker.submit(moving)
    assert [f.level for f in frames] == [FULL]
    draft = exact.render(spec, view, warp_quality="draft")
    torch.testing.assert_close(frames[0].image, draft, rtol=0, atol=0)
    assert not frames[0].is_final  # shown, but a save waits for the frame at the request's quality
    worker.submit(RenderRequest(spec, view, precision="fp32", warp_quality="exact"))
    assert len(frames) == 2 and frames[1].pixels_rendered == 96 * 64
    torch.testing.assert_close(frames[1].image, exact.render(spec, view, warp_quality="exact"), rtol=0, atol=0)
    assert not torch.equal(frames[1].image, draft) and frames[1].is_final
