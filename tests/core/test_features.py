"""A block's features at a view's pixels (creps_core/render/features.py): what the explorer's feature
view draws, on a tiny model and on the released 256 architecture (random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.features import FeatureView, PixelLines, feature_picture, spectrum
from creps_core.render.views import View, Warp
from creps_core.vocabulary import FEATURE_MODES

from ..core_fixtures import TINY

SPEC = LatentSpec(seed=5)
STRAIGHT = View(24, 24, center=(0.4, 0.6), zoom=1.3)


@pytest.fixture(scope="module")
def engine():
    return Engine(random_model(TINY, seed=2), device="cpu")


def features(engine, view: View, block: int = 1) -> np.ndarray:
    return PixelLines(engine, engine.program(engine.ws(SPEC)), view, block).feature().numpy()


def test_features_follow_pans_and_quarter_turns_exactly(engine):
    f = features(engine, STRAIGHT)
    assert f.shape == (24, 24, TINY.biline_channels) and np.abs(f).max() > 0
    cu, cv = STRAIGHT.center
    panned = features(engine, STRAIGHT.with_(center=(cu + 3 * STRAIGHT.spacing, cv)))  # 3 rows down
    np.testing.assert_array_equal(panned[:-3], f[3:])
    np.testing.assert_array_equal(features(engine, STRAIGHT.with_(rotation=90.0)), np.rot90(f, -1))
    np.testing.assert_array_equal(features(engine, STRAIGHT.tile(3, 2, 10, 12)), f[3:13, 2:14])


def test_each_block_and_mode_draws_its_own_picture(engine):
    pictures = {(b, m): feature_picture(engine, SPEC, STRAIGHT, FeatureView(b, m, 2))
                for b in range(3) for m in FEATURE_MODES}
    for picture in pictures.values():
        assert picture.shape == (24, 24, 3) and picture.dtype == np.uint8 and picture.std() > 1
    keys = list(pictures)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            assert not np.array_equal(pictures[a], pictures[b]), (a, b)


def test_row_lines_run_along_rows_and_turn_with_the_view(engine):
    rows = feature_picture(engine, SPEC, STRAIGHT, FeatureView(0, "rows"))
    cols = feature_picture(engine, SPEC, STRAIGHT, FeatureView(0, "cols"))
    assert (rows == rows[:, :1]).all() and not (rows == rows[:1]).all()  # R(u): one colour per image row
    assert (cols == cols[:1]).all() and not (cols == cols[:, :1]).all()
    turned = feature_picture(engine, SPEC, STRAIGHT.with_(rotation=90.0), FeatureView(0, "rows"))
    assert (turned == turned[:1]).all()  # a quarter turn: the row lines now run down the picture
    tilted = feature_picture(engine, SPEC, STRAIGHT.with_(rotation=30.0), FeatureView(0, "rows"))
    assert not (tilted == tilted[:, :1]).all() and not (tilted == tilted[:1]).all()


def test_the_channel_mode_is_red_where_the_channel_is_positive_and_blue_where_negative(engine):
    f = features(engine, STRAIGHT, 2)[:, :, 3]
    picture = feature_picture(engine, SPEC, STRAIGHT, FeatureView(2, "channel", 3)).astype(int)
    strong = np.abs(f) > 0.2 * np.abs(f).max()
    redder = picture[:, :, 0] > picture[:, :, 2]
    assert strong.any() and (redder[strong] == (f[strong] > 0)).all()


@pytest.mark.parametrize("quality,view", [
    ("draft", View(40, 30, rotation=30.0)), ("draft", View(36, 30, rotation=10.0, warp=Warp("swirl", 1.0))),
    ("fine", View(160, 120, rotation=30.0)), ("fine", View(150, 120, rotation=10.0, warp=Warp("swirl", 1.0))),
])
def test_rotated_and_warped_views_read_the_lines_the_render_computed(engine, quality, view):
    """The feature view costs no line evaluation after the image of the same view at the same warp
    quality (the same table lattice); another quality's lattice is another set of lines."""
    engine.clear_caches()
    engine.render(SPEC, view, warp_quality=quality)
    before = engine.stats.line_coords_computed
    picture = feature_picture(engine, SPEC, view, FeatureView(1, "pcs"), warp_quality=quality)
    assert picture.shape == (view.height, view.width, 3) and picture.std() > 1
    assert engine.stats.line_coords_computed == before
    other = "fine" if quality == "draft" else "draft"
    feature_picture(engine, SPEC, view, FeatureView(1, "pcs"), warp_quality=other)
    assert engine.stats.line_coords_computed > before


def test_quality_exact_pictures_read_the_fine_lattice(engine):
    """Where the image evaluates every pixel's own lines (exact), the pictures read fine tables (all
    pixels' lines at once would be [pixels, lines] wide): the same picture as at fine."""
    view = View(160, 120, rotation=30.0)
    exact = feature_picture(engine, SPEC, view, FeatureView(2, "channel", 1), warp_quality="exact")
    assert np.array_equal(exact, feature_picture(engine, SPEC, view, FeatureView(2, "channel", 1)))


def test_impossible_choices_are_one_line_and_cancel_stops(engine):
    with pytest.raises(ValueError, match=r"no block 3: this model's blocks are 0\.\.2 \(b8\.\.b32\)"):
        feature_picture(engine, SPEC, STRAIGHT, FeatureView(3))
    with pytest.raises(ValueError, match="no channel 8"):
        feature_picture(engine, SPEC, STRAIGHT, FeatureView(0, "channel", 8))
    for bad in ({"mode": "fft"}, {"block": -1}, {"channel": True}):
        with pytest.raises(ValueError, match="feature"):
            FeatureView(**bad)
    with pytest.raises(Cancelled):
        feature_picture(engine, SPEC, View(30, 30, rotation=20.0, center=(0.1, 0.9)), FeatureView(0),
                        cancel=lambda: True)


def test_the_released_256_config_shows_every_block_rotated():
    engine = Engine(random_model(PAPER_CONFIGS[256], seed=0), device="cpu")
    view = View(48, 40, rotation=30.0, zoom=1.5)
    shown = []
    for block in range(len(engine.cfg.composed_blocks)):
        picture = feature_picture(engine, SPEC, view, FeatureView(block, "pcs"))
        assert picture.shape == (40, 48, 3) and picture.std() > 1
        shown.append(picture)
    assert all(not np.array_equal(a, b) for a, b in zip(shown, shown[1:]))
    spectrum = feature_picture(engine, SPEC, view, FeatureView(5, "spectrum"))
    assert spectrum.shape == (40, 48, 3) and spectrum.std() > 1


@pytest.mark.parametrize("shape", [(7, 9, 5), (8, 10, 3), (30, 41, 17)])
def test_the_spectrum_is_the_windowed_fft_of_every_channel(shape):
    """The half-spectrum mirrored (real input) equals the full FFT's power, odd and even sizes alike."""
    f = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    h, w, _ = shape
    window = torch.hann_window(h, periodic=False)[:, None, None] * torch.hann_window(w, periodic=False)[None, :, None]
    x = ((f - f.mean((0, 1))) * window).permute(2, 0, 1)
    want = torch.fft.fftshift(torch.log1p(torch.fft.fft2(x).abs().square().sum(0).sqrt()))
    torch.testing.assert_close(spectrum(f), want, atol=1e-5, rtol=1e-5)
