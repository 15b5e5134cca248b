"""Edits that touch only later ws layers reuse the earlier blocks' work, and the pixels are exactly a
fresh render's: style mixing of the fine layers, a changed truncation cutoff, a direction on a layer
range, on a tiny config and on the released 256 config (random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from creps_core.latent.latents import DirectionEdit, Floats, LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.engine import Engine
from creps_core.render.prefix_reuse import prefix_rows, resume_layer, shared_rows
from creps_core.render.views import View

from ..core_fixtures import TINY

TINY_MODEL = random_model(TINY, seed=5)


@pytest.fixture(scope="module")
def released():
    return random_model(PAPER_CONFIGS[256], seed=0)


def direction(num_ws: int, w_dim: int, amount: float, first: int, last: int) -> DirectionEdit:
    vector = np.random.RandomState(3).randn(w_dim).astype(np.float32)
    return DirectionEdit("d", amount, Floats.of(vector), (first, last))


def edits(num_ws: int, w_dim: int) -> dict[str, list[LatentSpec]]:
    """Sequences of latents a user walks through with one control; each differs from the one
    before it only in the fine layers (from about two thirds of the ws on)."""
    first = 2 * num_ws // 3 - 2  # 8 of the released 256 config's 15 ws
    base = LatentSpec(seed=1, psi=0.7)
    mix = [base.with_(mix_seed=s, mix_layers=tuple(range(first, num_ws))) for s in (11, 12, 13)]
    cutoff = [base.with_(cutoff=c) for c in (num_ws, first, first + 1)]
    moved = [base.with_(edits=(direction(num_ws, w_dim, a, first, num_ws - 1),)) for a in (0.0, 1.5, -2.0)]
    return {"mixing": [base, *mix], "psi cutoff": cutoff, "direction on a layer range": [base, *moved]}


def check_sequence(model, view: View, specs: list[LatentSpec], precision: str = "fp32") -> Engine:
    """Render ``specs`` in turn on one engine; each frame must equal a fresh engine's bit for bit."""
    engine = Engine(model, device="cpu", precision=precision)
    for spec in specs:
        got = engine.render(spec, view)
        assert torch.equal(got, Engine(model, device="cpu", precision=precision).render(spec, view)), spec
    return engine


@pytest.mark.parametrize("kind", ["mixing", "psi cutoff", "direction on a layer range"])
def test_fine_layer_edits_are_bit_identical_to_fresh_renders_tiny(kind):
    cfg = TINY_MODEL.cfg
    engine = check_sequence(TINY_MODEL, View(40, 30, center=(0.4, 0.6), zoom=1.5), edits(cfg.num_ws, cfg.w_dim)[kind])
    assert engine.stats.line_coords_resumed > 0 and engine.stats.pixels_resumed > 0


@pytest.mark.parametrize("kind", ["mixing", "psi cutoff", "direction on a layer range"])
def test_fine_layer_edits_are_bit_identical_to_fresh_renders_released_256(released, kind):
    cfg = released.cfg
    assert cfg.num_ws == 15
    view = View(36, 28, center=(0.45, 0.5), zoom=1.2)
    engine = check_sequence(released, view, edits(cfg.num_ws, cfg.w_dim)[kind])
    # The third and fourth latents resumed: every line from the stem, every pixel from the kept state.
    assert engine.stats.line_coords_resumed >= 36 + 28 and engine.stats.pixels_resumed >= 36 * 28


def test_mixing_layers_8_to_14_resumes_after_the_first_four_blocks(released):
    """On the released 256 config ws 8 is b64's fc1: b8, b16 and b32 and b64's fc0 are shared."""
    engine = Engine(released, device="cpu")
    base = LatentSpec(seed=2)
    prog = engine.program(engine.ws(base))
    assert prog.resume is None and prog.fill is None  # nothing to share with yet
    layers = prog.line_ws
    assert resume_layer(layers, 8) == 11 and prog.line_layers[11][0].wt.shape == (1024, 1024)
    assert prefix_rows(layers, 11) == 8 and prog.done_before(11) == 3
    mixed = [engine.program(engine.ws(base.with_(mix_seed=s, mix_layers=tuple(range(8, 15))))) for s in (5, 6)]
    assert mixed[0].fill is not None and mixed[0].fill.layer == 11 and mixed[0].resume is None
    # compiled once: the layers reading ws 0..7 are the base program's own
    assert mixed[0].amps is prog.amps and all(a is b for a, b in zip(mixed[0].line_layers[:11], prog.line_layers))
    assert not any(a is b for a, b in zip(mixed[0].line_layers[11:], prog.line_layers[11:]))
    assert mixed[1].resume is mixed[0].fill and mixed[1].fill is mixed[1].resume  # new coordinates go there too
    assert shared_rows(mixed[0].ws, mixed[1].ws) == 8


def test_a_resumed_band_by_band_frame_equals_a_fresh_one(released):
    """The explorer renders tiles (bands, exposed strips): each keeps and resumes its own state."""
    spec = LatentSpec(seed=3)
    view = View(30, 24)
    engine = Engine(released, device="cpu")
    for s in (7, 8, 9):
        mixed = spec.with_(mix_seed=s, mix_layers=tuple(range(9, 15)))
        bands = torch.cat([engine.render(mixed, view.tile(r, 0, 8, 30)) for r in range(0, 24, 8)], dim=1)
        assert torch.equal(bands, Engine(released, device="cpu").render(mixed, view))
    assert engine.stats.pixels_resumed == 30 * 24


def test_coordinates_an_edit_computes_from_the_input_serve_the_next_edit(released):
    """A pan while editing: the new columns' stems are kept for the next edit of the same layers."""
    engine = Engine(released, device="cpu")
    base, view = LatentSpec(seed=5), View(20, 16, snap=True)
    panned = view.with_(center=(0.5, 0.5 + 4 * view.spacing))
    specs = [base.with_(mix_seed=s, mix_layers=tuple(range(10, 15))) for s in (1, 2, 3)]
    engine.render(base, view)
    engine.render(specs[0], view)  # the first edit: fills the stem at the view's coordinates
    engine.render(specs[1], panned)  # resumes 16 + 16 coordinates, computes 4 columns from the input
    assert engine.stats.line_coords_resumed == 16 + 16
    engine.render(specs[2], panned)
    assert engine.stats.line_coords_resumed == (16 + 16) + (16 + 20)  # every coordinate resumed
    assert torch.equal(engine.render(specs[2], panned), Engine(released, device="cpu").render(specs[2], panned))


def test_edits_in_bf16_resume_exactly_too(released):
    """bf16 activations are stored as float32, which holds them exactly."""
    torch_bf16 = torch.ones(2, 2, dtype=torch.bfloat16) @ torch.ones(2, 2, dtype=torch.bfloat16)
    assert torch_bf16.dtype == torch.bfloat16
    cfg = TINY_MODEL.cfg
    engine = check_sequence(TINY_MODEL, View(24, 20), edits(cfg.num_ws, cfg.w_dim)["mixing"], precision="bf16")
    assert engine.stats.line_coords_resumed > 0


def test_prefix_memory_stays_within_its_bound(released):
    """A stem too small for the view resumes some coordinates and computes the rest: the rows go
    through the line network in other batches than a fresh render's, and some BLAS libraries round
    a row by the batch it is in (MKL on a Xeon with AMX: below 192 rows of 1024 inputs), so the
    pixels agree to float32 rounding here, not bit for bit."""
    engine = Engine(released, device="cpu")
    engine._prefixes.stem_memory = 4 << 20  # room for ~28 coordinates per slot at b64's fc1
    engine._prefixes.pixel_memory = 16 * 12 * 32 * 4  # one 16x12 state, not one 48x40
    base = LatentSpec(seed=4)
    for view in (View(16, 12), View(48, 40)):
        for s in (1, 2, 3):
            spec = base.with_(mix_seed=s, mix_layers=tuple(range(8, 15)))
            fresh = Engine(released, device="cpu").render(spec, view)
            torch.testing.assert_close(engine.render(spec, view), fresh, rtol=0, atol=1e-4)
    assert engine._prefixes.memory() <= (4 << 20) + 16 * 12 * 32 * 4
    engine.clear_caches()
    assert engine._prefixes.memory() == 0


def test_a_stem_smaller_than_one_request_still_serves_it_exactly():
    """The stem being filled is trimmed to its bound only after a request: the rows it resumes
    from stay while the request computes in rounds (a progress bar listening)."""
    engine = Engine(TINY_MODEL, device="cpu", line_chunk=2, workers=2)
    engine._prefixes.stem_memory = 1  # one coordinate per slot
    base, view = LatentSpec(seed=6), View(12, 10, snap=True)
    specs = [base.with_(mix_seed=s, mix_layers=tuple(range(5, 9))) for s in (1, 2, 3)]
    engine.render(base, view)
    for i, spec in enumerate(specs):
        panned = view.with_(center=(0.5, 0.5 + i * view.spacing))
        got = engine.render(spec, panned, progress=lambda fraction: None)
        assert torch.equal(got, Engine(TINY_MODEL, device="cpu").render(spec, panned))
    assert all(len(cache) <= 1 for stem in engine._prefixes._stems.values() for cache in stem.lines.values())
