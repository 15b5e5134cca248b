"""Projection (``creps project``): a render of the demo model is recovered, the fit renders at any size
without seams, a cancel keeps the best ws, the schedule is the StyleGAN2 projector's, hostile pictures
are one line."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.io.images import read_square
from creps_core.jobs.export import ExportSpec, export_steps, read_image
from creps_core.latent.files import load_ws, save_ws
from creps_core.latent.latents import Floats, LatentSpec
from creps_core.model.demo import open_model, random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.progress import DONE, PROJECTING, Cancelled, run_job
from creps_core.render.engine import Engine, to_uint8
from creps_core.render.views import View
from creps_core.train.metrics import psnr
from creps_core.train.project import Projection, ProjectOptions, learning_rate, noise_scale, to_rgb

from ..core_fixtures import TINY


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Single-threaded, as the fit tests: two OpenMP threads stall at every barrier on a loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _seed_render(model, seed: int, size: int) -> np.ndarray:
    """What the engine renders for ``seed`` at ``size`` x ``size`` (uint8 HWC): a target the model can reach."""
    return to_uint8(Engine(model, precision="fp32", workers=1).render(LatentSpec(seed=seed), View(size, size)))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    def unit(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(x)).permute(2, 0, 1)[None].float() / 255
    return float(psnr(unit(a), unit(b))[0])


@pytest.fixture(scope="module")
def demo_projection():
    """The demo model's seed 5 at 64^2, projected from w_avg with the default options (w+) in 80 steps."""
    torch.set_num_threads(1)
    model = open_model("demo:photos")
    target = _seed_render(model, 5, 64)
    projection = Projection(model, target, ProjectOptions(steps=80, size=64))
    records = list(projection.steps())
    return model, target, projection, records


def test_a_render_of_the_demo_model_is_recovered_at_30_db(demo_projection):
    model, target, projection, records = demo_projection
    probe = Projection(model, target, ProjectOptions(size=64))
    with torch.no_grad():
        start = _psnr(to_rgb(probe.render(probe.start().expand(model.cfg.num_ws, -1))), target)
    assert start < 20  # w_avg's picture is far from seed 5's: the fit did the work
    assert [r.stage for r in records] == [PROJECTING] * 80 + [DONE]
    assert records[-2].done == 80 and dict(records[-2].figures)["PSNR"] > 0
    figures = projection.figures()
    assert figures["psnr_db"] >= 30.0, figures
    assert 0.5 < figures["ssim"] <= 1.0
    # what the engine renders for the written ws is the picture the fit reached (the file round-trips)
    ws = projection.best_ws
    assert ws.shape == (model.cfg.num_ws, model.cfg.w_dim)
    rendered = to_uint8(Engine(model, precision="fp32", workers=1).render(LatentSpec(ws=Floats.of(ws)), View(64, 64)))
    assert _psnr(rendered, target) >= 30.0
    assert np.abs(rendered.astype(int) - projection.best_render().astype(int)).max() <= 1


def test_the_projection_renders_at_four_times_its_size_without_seams(demo_projection, tmp_path):
    """A 256^2 poster of the 64^2 fit, exported in 96-pixel tiles (uneven at the edges), equals the
    one-shot render pixel for pixel, and box-filtered back to 64^2 it is the fit's own picture."""
    model, target, projection, _ = demo_projection
    path = save_ws(tmp_path / "projected_w.npz", projection.best_ws)
    spec = LatentSpec(ws=load_ws(path, model.cfg.num_ws, model.cfg.w_dim))
    engine = Engine(model, precision="fp32", workers=1)
    whole = to_uint8(engine.render(spec, View(256, 256)))
    run_job(export_steps(engine, ExportSpec(spec, View(256, 256), fmt="png", tile=96), tmp_path / "poster.png"))
    tiled = read_image(tmp_path / "poster.png")
    assert tiled.shape == whole.shape == (256, 256, 3)
    assert np.array_equal(tiled, whole)
    # the 4x render is the same picture, denser: its 4x4 means are close to the 64^2 render
    small = whole.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3)).round().astype(np.uint8)
    assert _psnr(small, projection.best_render()) > 25


def test_a_cancel_keeps_the_best_ws_so_far():
    model = random_model(TINY)
    target = _seed_render(model, 3, 16)
    projection = Projection(model, target, ProjectOptions(steps=50, size=16))
    steps = projection.steps(cancel=lambda: projection.step_idx >= 4)
    with pytest.raises(Cancelled):
        run_job(steps)
    assert projection.step_idx == 4
    assert projection.best_ws is not None and np.isfinite(projection.best_ws).all()
    # the best is the ws rendered at the step with the lowest loss: its render has that step's PSNR
    assert _psnr(projection.best_render(), target) == pytest.approx(projection.best_psnr, abs=0.3)


def test_w_space_keeps_one_w_for_every_layer():
    model = random_model(TINY)
    projection = Projection(model, _seed_render(model, 1, 16), ProjectOptions(steps=5, size=16, space="w"))
    run_job(projection.steps())
    ws = projection.best_ws
    assert np.array_equal(ws, np.broadcast_to(ws[0], ws.shape))


def test_random_starts_begin_from_the_closest_seed():
    """With starts, the projection begins from the best of w_avg and K random seeds' ws: a target that is
    one of the candidates is reached before any step."""
    model = random_model(TINY)
    opts = ProjectOptions(steps=1, size=16, starts=4, seed=7)
    probe = Projection(model, np.zeros((16, 16, 3), np.uint8), opts)
    z = torch.randn(4, TINY.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        w = probe.g.mapping(z)[2]
        target = to_rgb(probe.render(w.expand(TINY.num_ws, -1)))
    start = Projection(model, target, opts).start()
    assert torch.allclose(start, w)


def test_the_schedule_is_the_stylegan2_projectors():
    o = ProjectOptions(lr=0.1, noise=0.05)
    assert learning_rate(o, 0.0) == 0.0  # ramps up from 0
    assert learning_rate(o, 0.05) == pytest.approx(0.1)
    assert learning_rate(o, 0.5) == pytest.approx(0.1)
    assert learning_rate(o, 0.875) == pytest.approx(0.05)  # half way down the last quarter's half cosine
    assert learning_rate(o, 0.999) < 1e-4
    assert noise_scale(o, 0.0) == pytest.approx(0.05)
    assert noise_scale(o, 0.375) == pytest.approx(0.05 * 0.25)
    assert noise_scale(o, 0.75) == noise_scale(o, 0.9) == 0.0


def test_the_released_256_config_projects():
    """Random weights of the released architecture (w_dim 512): steps run and the loss falls (at 32^2 here;
    benchmarks.bench_project times it at 64^2)."""
    cfg = PAPER_CONFIGS[256]
    model = random_model(cfg)
    target = np.asarray(Image.new("RGB", (32, 32), (200, 40, 90)))
    projection = Projection(model, target, ProjectOptions(steps=3, size=32))
    losses = [dict(r.figures)["loss"] for r in projection.steps() if r.stage == PROJECTING]
    assert projection.best_ws.shape == (cfg.num_ws, 512)
    assert all(np.isfinite(losses)) and min(losses[1:]) < losses[0]


@pytest.mark.parametrize("bad", [dict(space="z"), dict(size=4), dict(size=4096), dict(steps=0), dict(starts=-1)])
def test_impossible_options_are_refused(bad):
    with pytest.raises(ValueError):
        ProjectOptions(**bad)


def test_a_target_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="uint8 \\[16, 16, 3\\]"):
        Projection(random_model(TINY), np.zeros((32, 32, 3), np.uint8), ProjectOptions(size=16))


# ----- reading the target -----------------------------------------------------------------------
def test_a_picture_is_centre_cropped_and_the_crop_recorded(tmp_path):
    rgb = np.zeros((40, 100, 3), np.uint8)
    rgb[:, 30:70] = 255  # the centre square is white, the sides black
    Image.fromarray(rgb).save(tmp_path / "wide.png")
    pixels, crop = read_square(tmp_path / "wide.png", 20)
    assert pixels.shape == (20, 20, 3) and pixels.dtype == np.uint8
    assert crop.to_dict() == {"width": 100, "height": 40, "left": 30, "top": 0, "side": 40}
    assert pixels.min() == 255


def test_a_large_jpeg_is_read_at_a_reduced_scale_with_the_same_crop(tmp_path):
    y, x = np.mgrid[0:1200, 0:1600]
    rgb = np.stack([x % 256, y % 256, (x // 7) % 256], axis=2).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "big.jpg", quality=95)
    pixels, crop = read_square(tmp_path / "big.jpg", 64)
    assert crop.to_dict() == {"width": 1600, "height": 1200, "left": 200, "top": 0, "side": 1200}
    full = np.asarray(Image.open(tmp_path / "big.jpg").convert("RGB").crop((200, 0, 1400, 1200))
                      .resize((64, 64), Image.Resampling.LANCZOS))
    assert _psnr(pixels, full) > 25  # the drafted decode gives about the same picture


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header claiming ``width`` x ``height`` with one tiny IDAT: a decompression bomb's shape."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name,content,message", [
    ("bomb.png", _png_claiming(50_000, 50_000), "claims too many pixels"),
    ("big.png", _png_claiming(10_000, 8_000), "10000x8000 pixels; a picture to project has at most 64 million"),
    ("text.png", b"hello, not a picture", "not a picture this tool can read"),
    ("empty.jpg", b"", "not a picture this tool can read"),
])
def test_hostile_pictures_are_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as e:
        read_square(path, 64)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_a_truncated_picture_is_one_line(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="damaged or truncated"):
        read_square(tmp_path / "cut.png", 32)


def test_what_is_not_a_plain_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_square(tmp_path / "missing.png", 32)
    with pytest.raises(ValueError, match="not a plain file"):
        read_square(tmp_path, 32)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.png")
        with pytest.raises(ValueError, match="not a plain file"):  # never opened: a FIFO would block
            read_square(tmp_path / "pipe.png", 32)



def test_frozen_weights_give_the_same_render_and_gradient_to_ws():
    """With frozen weights the modulated layers scale activations instead of a modulated copy of W (what makes
    a projection step cheap); the render and the gradient that reaches ws are the per-sample weight's."""
    model = random_model(TINY)
    rows = View(16, 16).separable().rows
    ws = torch.randn(1, TINY.num_ws, TINY.w_dim, generator=torch.Generator().manual_seed(0))
    results = []
    for trainable in (True, False):
        g = model.build().requires_grad_(trainable)
        x = ws.clone().requires_grad_(True)
        img = g.synthesis(x, rows, rows)
        img.square().mean().backward()
        results.append((img.detach(), x.grad))
    (img_a, grad_a), (img_b, grad_b) = results
    assert torch.allclose(img_a, img_b, atol=1e-5, rtol=1e-5)
    assert torch.allclose(grad_a, grad_b, atol=1e-6, rtol=1e-4)


def test_a_model_that_renders_nan_is_one_line():
    model = random_model(TINY)
    name = next(k for k in model.state if k.endswith("decoder_img.bias"))
    model.state[name] = torch.full_like(model.state[name], float("nan"))
    projection = Projection(model, np.zeros((16, 16, 3), np.uint8), ProjectOptions(steps=5, size=16))
    with pytest.raises(ValueError, match="not a finite number at step 1"):
        run_job(projection.steps())
    assert projection.best_ws is None
