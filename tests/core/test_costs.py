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

from ..core_fixtures import TINY


@pytest.fixture(scope="module")
def engine():
    return Engine(random_model(TINY, seed=1), device="cpu")


@pytest.mark.parametrize("view,exact", [
    (View(90, 70), False), (View(90, 70, rotation=90.0), False), (View(90, 70, rotation=30.0), False),
    (View(90, 70, rotation=30.0, warp=Warp("swirl", 1.0)), False),
    (View(300, 200, zoom=4.0, rotation=70.0, center=(0.2, 0.7)), False), (View(40, 30, rotation=30.0), True),
])
def test_the_estimate_counts_the_lines_the_engine_computes(engine, view, exact):
    engine.clear_caches()
    engine.stats.reset()
    engine.render(LatentSpec(), view, exact=exact)
    assert view_line_coords(view, exact) == engine.stats.line_coords_computed


def test_rotated_and_exact_frames_of_the_released_config_cost_more():
    cfg = PAPER_CONFIGS[256]
    straight = View(894, 754)
    assert view_macs(cfg, straight) == view_macs(cfg, straight, exact=True) == frame_macs(cfg, 894, 754)
    rotated = view_macs(cfg, straight.with_(rotation=30.0))
    exact = view_macs(cfg, straight.with_(rotation=30.0), exact=True)
    assert 1.5 * frame_macs(cfg, 894, 754) < rotated < exact / 100
