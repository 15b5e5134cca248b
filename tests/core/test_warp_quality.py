"""Warp quality (draft | fine | exact): the decibels each promises, straight views untouched, tiles
that agree at their seams, an export's line count for its estimate, and older files that said
``exact: true/false``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from creps_core.jobs import export as ex
from creps_core.jobs.export.cluster import spec_from_dict
from creps_core.jobs.metadata import RenderRecord, read_record
from creps_core.jobs.video.keyframes import VideoSpec
from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import SMALL_RANDOM_CONFIG, random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.engine import Engine
from creps_core.render.line_table import LineTable, composed_lattice_pays, composed_samples, field_spacing
from creps_core.render.views import View, Warp
from creps_core.vocabulary import read_warp_quality

from ..core_fixtures import TINY

SPEC = LatentSpec(seed=0)
FLOORS = {"draft": 40.0, "fine": 55.0}  # dB against exact (vocabulary.WARP_QUALITIES)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def probe(engine: Engine, view: View, quality: str, side: int) -> torch.Tensor:
    """Two tiles of ``view`` (a corner and the middle): exact costs two line evaluations per
    pixel, and tiles sample the same table lattice as the whole view, so their pixels are its."""
    tiles = [view.tile(0, 0, side, side), view.tile(view.height // 2, view.width // 2, side, side)]
    return torch.cat([engine.render(SPEC, t, warp_quality=quality).flatten(1) for t in tiles], 1)


@pytest.fixture(scope="module")
def released():
    return Engine(random_model(PAPER_CONFIGS[256], seed=0), device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def small():
    return Engine(random_model(SMALL_RANDOM_CONFIG, seed=0), device="cpu", precision="fp32")


@pytest.mark.parametrize("view", [View(256, 256, rotation=30), View(384, 384, warp=Warp("swirl", 1.0))],
                         ids=["rotate30-256", "swirl1-384"])
def test_released_config_reaches_each_quality_floor(released, view):
    exact = probe(released, view, "exact", 24)
    for quality, floor in FLOORS.items():
        assert psnr(probe(released, view, quality, 24), exact) >= floor, quality


@pytest.mark.parametrize("view", [View(128, 96, rotation=15), View(96, 96, rotation=45, zoom=3),
                                  View(128, 128, rotation=30, zoom=0.8), View(96, 128, warp=Warp("swirl", 1.0))])
def test_small_config_reaches_each_quality_floor(small, view):
    exact = small.render(SPEC, view, warp_quality="exact")
    for quality, floor in FLOORS.items():
        assert psnr(small.render(SPEC, view, warp_quality=quality), exact) >= floor, quality


def test_finer_quality_is_closer_to_exact(released):
    view = View(256, 256, rotation=30)
    exact = probe(released, view, "exact", 24)
    assert psnr(probe(released, view, "draft", 24), exact) < psnr(probe(released, view, "fine", 24), exact)


def test_straight_views_are_the_same_at_every_quality(small):
    view = View(90, 60, center=(0.3, 0.7), zoom=2.5, rotation=90)
    ref = small.render(SPEC, view, warp_quality="fine")
    for quality in ("draft", "exact"):
        assert torch.equal(small.render(SPEC, view, warp_quality=quality), ref)


def test_an_unknown_quality_is_refused(small):
    with pytest.raises(ValueError, match="warp quality"):
        small.render(SPEC, View(32, 32, rotation=10), warp_quality="best")


@pytest.fixture(scope="module")
def tiny():
    return Engine(random_model(TINY, seed=1), device="cpu")


@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.bfloat16, 0.1)])
def test_the_composed_lattice_gives_the_product_of_the_sampled_lines(dtype, tolerance):
    """Interpolating the lattice's composed features (16 taps of blocks x c) equals interpolating
    each factor (4 taps of blocks x rank x c) and composing per pixel: the same sum, reordered."""
    blocks, rank, c = 3, 4, 5
    gen = torch.Generator().manual_seed(0)
    rows = LineTable(-3, 1 / 64, torch.randn(80, blocks * rank * c, generator=gen).to(dtype))
    cols = LineTable(5, 1 / 64, torch.randn(60, blocks * rank * c, generator=gen).to(dtype))
    u = 0.1 + 0.6 * torch.rand(500, generator=gen)
    v = 0.2 + 0.5 * torch.rand(500, generator=gen)
    per_pixel = (rows.sample(u).float() * cols.sample(v).float()).reshape(-1, blocks, rank, c).sum(2)
    composed = composed_samples(rows, cols, u, v, blocks, rank).float().reshape(-1, blocks, c)
    torch.testing.assert_close(composed, per_pixel, rtol=0, atol=tolerance)


@pytest.mark.parametrize("view", [View(256, 256, zoom=3.5, rotation=30),
                                  View(256, 256, zoom=3.5, warp=Warp("swirl", 1.0))], ids=["rotate30", "swirl1"])
def test_zoomed_in_views_take_the_composed_lattice_and_keep_each_quality_floor(released, view):
    for quality in FLOORS:
        assert composed_lattice_pays(view.spacing, field_spacing(view, quality)), quality
    exact = probe(released, view, "exact", 24)
    for quality, floor in FLOORS.items():
        assert psnr(probe(released, view, quality, 24), exact) >= floor, quality


@pytest.mark.parametrize("quality", ["draft", "fine", "exact"])
@pytest.mark.parametrize("zoom", [1.0, 16.0], ids=["sampled-lines", "composed-lattice"])
def test_a_tiled_rotated_export_equals_the_one_shot_render(tiny, tmp_path, quality, zoom):
    view = View(72, 56, rotation=30, center=(0.45, 0.55), zoom=zoom)
    if quality != "exact":
        assert composed_lattice_pays(view.spacing, field_spacing(view, quality)) == (zoom > 1)
    out = ex.export_image(tiny, SPEC, view, tmp_path / "a.png", tile=16, warp_quality=quality)
    assert np.array_equal(ex.read_image(out), tiny.render_u8(SPEC, view, warp_quality=quality))
    assert read_record(out).warp_quality == quality


@pytest.mark.parametrize("view", [View(96, 80), View(96, 80, rotation=30), View(96, 80, warp=Warp("swirl", 1.0))],
                         ids=["straight", "rotated", "swirled"])
def test_an_exports_line_count_is_what_its_tiles_compute(tiny, tmp_path, view):
    """The estimate printed before an export counts its line coordinates: the engine computes
    exactly those (tiles share rows, columns and table lattice points through the cache)."""
    spec = ex.ExportSpec(latent=SPEC, view=view, fmt="png", tile=32)
    counted = ex.export_line_coords(tiny, spec, ex.plan_tiles(spec.shape, spec.tile))
    tiny.clear_caches()
    before = tiny.stats.line_coords_computed
    ex.export_image(tiny, SPEC, view, tmp_path / "a.png", tile=32)
    assert tiny.stats.line_coords_computed - before == counted


@pytest.mark.parametrize("stored,quality", [({"exact": True}, "exact"), ({"exact": False}, "fine"), ({}, "fine"),
                                            ({"warp_quality": "draft"}, "draft")])
def test_older_files_that_say_exact_still_read(stored, quality):
    assert read_warp_quality(stored) == quality
    record = RenderRecord("m.safetensors", "", SPEC, View(8, 8)).to_json()
    d = {k: v for k, v in json.loads(record).items() if k != "warp_quality"} | stored
    assert RenderRecord.from_json(json.dumps(d)).warp_quality == quality
    video = VideoSpec((), 8, 8).to_dict()
    video.pop("warp_quality")
    assert VideoSpec.from_dict(video | stored).warp_quality == quality
    cluster = {"latent": SPEC.to_dict(), "view": View(8, 8).to_dict(), "supersample": 1, "precision": "fp32",
               "tile": 16} | stored
    assert spec_from_dict(cluster).warp_quality == quality


@pytest.mark.parametrize("stored", [{"exact": "yes"}, {"warp_quality": "best"}, {"warp_quality": 1}])
def test_a_damaged_quality_in_a_file_is_refused(stored):
    with pytest.raises(ValueError, match="exact|warp quality"):
        read_warp_quality(stored)


def test_pixels_a_warp_spreads_over_the_plane_are_composed_in_bounded_boxes(monkeypatch):
    """Two far-apart pixels would need a box of ~250,000 lattice points: they are composed apart,
    to the same values, and no call composes more than the bound."""
    from creps_core.render import line_table

    blocks, rank, c = 2, 3, 4
    gen = torch.Generator().manual_seed(1)
    rows = LineTable(-2, 1 / 512, torch.randn(520, blocks * rank * c, generator=gen))
    cols = LineTable(-2, 1 / 512, torch.randn(520, blocks * rank * c, generator=gen))
    u, v = torch.tensor([0.01, 0.99, 0.5]), torch.tensor([0.02, 0.97, 0.5])
    boxes: list[int] = []
    real_bmm = torch.bmm
    monkeypatch.setattr(line_table.torch, "bmm", lambda a, b: boxes.append(a.shape[1] * b.shape[2]) or real_bmm(a, b))
    composed = composed_samples(rows, cols, u, v, blocks, rank).reshape(-1, blocks, c)
    per_pixel = (rows.sample(u) * cols.sample(v)).reshape(-1, blocks, rank, c).sum(2)
    torch.testing.assert_close(composed, per_pixel, rtol=0, atol=1e-5)
    assert boxes and max(boxes) <= line_table.MAX_BOX_POINTS
