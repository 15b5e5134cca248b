"""The bi-lines made visible: per-block structure, blocks switched off in the render, `creps lines`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.cli.main import main
from creps_core.jobs.metadata import read_record
from creps_core.jobs.structure import ANALYSING, KINDS, analyse, block_images, bounded_view, contact_sheet
from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine, to_uint8
from creps_core.render.views import View, Warp

from ..core_fixtures import TINY, tiny_checkpoint

SPEC = LatentSpec(seed=5)
SEPARABLE = View(40, 28, center=(0.45, 0.55), zoom=1.3)
WARPED = View(36, 30, rotation=30.0, warp=Warp("swirl", 1.0))


@pytest.fixture(scope="module")
def tiny_engine():
    return Engine(random_model(TINY, seed=2), device="cpu")


@pytest.fixture(scope="module")
def released_engine():
    """The released 256 config (15 ws, 30.5 M parameters) with random weights."""
    return Engine(random_model(PAPER_CONFIGS[256], seed=0), device="cpu")


@pytest.mark.parametrize("which,num_ws,blocks", [("tiny_engine", 9, ["b8", "b16", "b32"]),
                                                 ("released_engine", 15, ["b8", "b16", "b32", "b64", "b128", "b256"])])
def test_one_entry_per_composed_block_with_the_view_s_shapes(request, which, num_ws, blocks):
    engine = request.getfixturevalue(which)
    cfg = engine.cfg
    assert cfg.num_ws == num_ws
    view = View(24, 16)
    s = analyse(engine, SPEC, view)
    assert [b.name for b in s.blocks] == blocks and [b.index for b in s.blocks] == list(range(len(blocks)))
    channels = cfg.rank * cfg.biline_channels
    assert s.image.shape == (16, 24, 3)
    for b in s.blocks:
        assert b.row_lines.shape == (16, channels) and b.col_lines.shape == (24, channels)
        assert b.feature.shape == (16, 24, 3) and b.spectrum.shape == (16, 24)
        assert b.contribution.shape == (16, 24, 3)
        pictures = block_images(b)
        assert list(pictures) == list(KINDS)
        assert pictures["rows"].shape == (16, channels, 3) and pictures["cols"].shape == (channels, 24, 3)
        assert all(p.dtype == np.uint8 and p.shape[2] == 3 for p in pictures.values())


def test_lines_are_the_generator_s_own_row_and_column_embeddings(tiny_engine):
    """Row lines = R_b at the view's row coordinates from the plain network, channel-major."""
    s = analyse(tiny_engine, SPEC, SEPARABLE)
    grid = SEPARABLE.separable()
    ws = tiny_engine.ws(SPEC)[None]
    with torch.no_grad():
        R = tiny_engine.g.synthesis.lines(ws, grid.rows, 0)[0]  # [n, L, rank, c]
        K = tiny_engine.g.synthesis.lines(ws, grid.cols, 1)[0]
    for b, block in enumerate(s.blocks):
        expect_r = R[:, b].transpose(1, 2).reshape(len(grid.rows), -1).numpy()
        expect_k = K[:, b].transpose(1, 2).reshape(len(grid.cols), -1).numpy()
        np.testing.assert_allclose(block.row_lines, expect_r, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(block.col_lines, expect_k, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("view", [SEPARABLE, WARPED], ids=["separable", "warped"])
def test_no_block_off_is_the_normal_render_and_each_block_off_changes_it(tiny_engine, view):
    normal = tiny_engine.render(SPEC, view)
    assert torch.equal(tiny_engine.render(SPEC, view, disabled_blocks=()), normal)
    assert torch.equal(tiny_engine.render(SPEC, view, disabled_blocks=frozenset()), normal)
    s = analyse(tiny_engine, SPEC, view)
    assert np.array_equal(s.image, to_uint8(normal))
    for b, block in enumerate(s.blocks):
        without = tiny_engine.render(SPEC, view, disabled_blocks={b})
        assert float((without - normal).abs().max()) > 1e-2, f"switching {block.name} off changed nothing"
        np.testing.assert_allclose(block.contribution, (normal - without).permute(1, 2, 0).numpy(), atol=1e-6)


def test_released_config_blocks_switch_off_too(released_engine):
    view = View(20, 12)
    normal = released_engine.render(SPEC, view)
    assert torch.equal(released_engine.render(SPEC, view, disabled_blocks=[]), normal)
    assert float((released_engine.render(SPEC, view, disabled_blocks=[5]) - normal).abs().max()) > 1e-3


@pytest.mark.parametrize("blocks", [{3}, {-1}, {"1"}, {True}, {0.5}])
def test_impossible_blocks_are_refused_by_name(tiny_engine, blocks):
    with pytest.raises(ValueError, match=r"blocks are 0\.\.2 \(b8\.\.b32\)"):
        tiny_engine.render(SPEC, SEPARABLE, disabled_blocks=blocks)


def test_structure_is_bounded_to_the_same_region(tiny_engine):
    big = View(1000, 500, center=(0.3, 0.6), zoom=2.0, rotation=90.0).tile(0, 0, 10, 10)
    small = bounded_view(big)
    assert (small.width, small.height, small.window) == (256, 128, None)
    assert (small.center, small.zoom, small.rotation) == (big.center, big.zoom, big.rotation)
    s = analyse(tiny_engine, SPEC, View(300, 90), max_side=60)
    assert s.image.shape == (18, 60, 3) and s.blocks[0].spectrum.shape == (18, 60)
    with pytest.raises(ValueError, match="at least 2"):
        bounded_view(big, 1)


def test_rotated_views_keep_the_image_s_orientation(tiny_engine):
    """A quarter turn swaps which image axis the row lines run along; the maps follow the image."""
    view = View(30, 20, rotation=90.0)
    s = analyse(tiny_engine, SPEC, view)
    assert s.image.shape == (20, 30, 3) and s.blocks[0].feature.shape == (20, 30, 3)
    assert s.blocks[0].row_lines.shape[0] == 30 and s.blocks[0].col_lines.shape[0] == 20
    sheet = contact_sheet(s, cell=32)
    assert sheet.ndim == 3 and sheet.shape[2] == 3 and sheet.shape[0] > 4 * 32


def test_creps_lines_writes_a_sheet_and_every_block_s_pictures_with_provenance(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    out = tmp_path / "lines"
    assert main(["lines", "--network", str(ckpt), "--seeds", "1,4", "--size", "40x30", "--zoom", "1.5",
                 "--outdir", str(out)]) == 0
    names = {f"seed{s:04d}_{b}_{k}.png" for s in (1, 4) for b in ("b8", "b16", "b32") for k in KINDS}
    assert {p.name for p in out.iterdir()} == names | {"seed0001_lines.png", "seed0004_lines.png"}
    channels = TINY.rank * TINY.biline_channels
    assert np.asarray(Image.open(out / "seed0004_b16_rows.png")).shape == (30, channels, 3)
    assert np.asarray(Image.open(out / "seed0004_b16_cols.png")).shape == (channels, 40, 3)
    assert np.asarray(Image.open(out / "seed0004_b32_contribution.png")).shape == (30, 40, 3)
    rec = read_record(out / "seed0004_b16_spectrum.png")
    assert rec.latent.seed == 4 and rec.view.zoom == 1.5 and (rec.view.width, rec.view.height) == (40, 30)
    assert rec.extra == {"kind": "lines", "image": "spectrum", "block": "b16"} and len(rec.checkpoint_sha256) == 64
    # a structure picture is not a render: `creps render --from` says so instead of drawing something else
    capsys.readouterr()
    assert main(["render", "--from", str(out / "seed0001_lines.png"), "--outdir", str(tmp_path / "r")]) == 2
    assert "creps lines" in capsys.readouterr().err


def test_creps_lines_bounds_big_views_and_refuses_a_side_below_two(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "tiny.safetensors")
    assert main(["lines", "--network", str(ckpt), "--size", "800x400", "--max-side", "50",
                 "--outdir", str(tmp_path / "o")]) == 0
    assert "structure computed at 50x25" in capsys.readouterr().err  # a note about the work: stderr
    assert np.asarray(Image.open(tmp_path / "o" / "seed0000_b8_feature.png")).shape == (25, 50, 3)
    assert main(["lines", "--network", str(ckpt), "--max-side", "1", "--outdir", str(tmp_path / "p")]) == 2
    assert "--max-side" in capsys.readouterr().err and not (tmp_path / "p").exists()


def test_warped_views_interpolate_the_same_features(tiny_engine):
    """The per-pixel path (any warp) reads the lines from the engine's line table, as the render does:
    a square view turned by a hair agrees with the straight one (its own rows and columns) within the
    table's interpolation error. The fine lattice is set in coordinate units (line_table.py: the
    error comes from the line network's kinks, not the view), so zooming in does not change it."""
    errors = []
    for zoom in (1.0, 8.0):
        square = View(32, 32, center=(0.4, 0.6), zoom=zoom)
        exact = analyse(tiny_engine, SPEC, square)
        turned = analyse(tiny_engine, SPEC, square.with_(rotation=1e-7))
        assert not square.with_(rotation=1e-7).is_separable
        errors.append(max(np.abs(b.spectrum - a.spectrum).max() / a.spectrum.max()
                          for a, b in zip(exact.blocks, turned.blocks)))
        for a, b in zip(exact.blocks, turned.blocks):
            np.testing.assert_allclose(b.feature, a.feature, atol=0.05 * np.abs(a.feature).max())
    assert max(errors) < 0.05


def test_the_analysis_reports_each_block_and_stops_on_cancel(tiny_engine):
    seen = []
    s = analyse(tiny_engine, SPEC, SEPARABLE, report=seen.append)
    assert [(p.stage, p.done, p.total) for p in seen] == [(ANALYSING, i, 3) for i in range(4)]
    assert len(s.blocks) == 3
    seen.clear()
    with pytest.raises(Cancelled):
        analyse(tiny_engine, SPEC, WARPED, report=seen.append, cancel=lambda: len(seen) >= 2)
    assert [p.done for p in seen] == [0, 1]
