"""What a render costs, said before it is paid (creps_core/render/costs.py): the line coordinates a
view's render evaluates are counted as the engine counts them, rotated and warped views included."""

from __future__ import annotations

import pytest

from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.costs import frame_macs, view_line_coords, view_macs
from creps_core.render.engine import Engine
from creps_core.render.views import View, Warp
from creps_core.vocabulary import WARP_QUALITIES

from ..core_fixtures import TINY


@pytest.fixture(scope="module")
def engine():
    return Engine(random_model(TINY, seed=1), device="cpu")


@pytest.mark.parametrize("view", [
    View(90, 70), View(90, 70, rotation=90.0), View(90, 70, rotation=30.0),
    View(90, 70, rotation=30.0, warp=Warp("swirl", 1.0)), View(300, 200, zoom=4.0, rotation=70.0, center=(0.2, 0.7)),
    View(40, 30, rotation=30.0), View(600, 500, zoom=0.25, rotation=20.0),
])
@pytest.mark.parametrize("quality", WARP_QUALITIES)
def test_the_estimate_counts_the_lines_the_engine_computes(engine, view, quality):
    """At every warp quality: the same lattice (its spacing and whether tables pay) as the engine's."""
    engine.clear_caches()
    engine.stats.reset()
    engine.render(LatentSpec(), view, warp_quality=quality)
    assert view_line_coords(view, quality) == engine.stats.line_coords_computed


def test_rotated_frames_of_the_released_config_cost_more_at_finer_qualities():
    cfg = PAPER_CONFIGS[256]
    straight = View(894, 754)
    assert {view_macs(cfg, straight, q) for q in WARP_QUALITIES} == {frame_macs(cfg, 894, 754)}
    turned = straight.with_(rotation=30.0)
    draft, fine, exact = (view_macs(cfg, turned, q) for q in WARP_QUALITIES)
    assert view_macs(cfg, turned) == fine  # the default quality
    # draft's lattice is coarser than these pixels (1/341 against 1/754): fewer lines than the straight view's
    assert draft < frame_macs(cfg, 894, 754) < fine < exact / 100
