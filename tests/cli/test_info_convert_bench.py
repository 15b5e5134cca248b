"""`creps info`, `creps convert` and `creps bench` on an official pickle."""

from __future__ import annotations

import json

from creps_core.cli.main import main

from ..core_fixtures import golden_pickle
from .helpers import exit_code


def test_info_convert_and_bench(tmp_path, capsys):
    path, _ = golden_pickle(tmp_path, "small32_cond_golden.npz")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["resolution"] == 32 and info["num_ws"] == 9 and info["conditional"] and info["classes"] == 4
    assert info["parameters"] > 0 and len(info["sha256"]) == 64
    dst = tmp_path / "conv.safetensors"
    assert main(["convert", str(path), str(dst)]) == 0
    capsys.readouterr()
    assert main(["info", "--network", str(dst), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"] == info["config"]
    assert main(["bench", "--network", str(dst), "--class", "1", "--size", "32x24", "--rotate", "30",
                 "--warp", "lens:0.2", "--repeat", "1", "--precision", "auto", "--threads", "1"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["median_s"] > 0 and bench["gflop_per_s"] > 0 and bench["size"] == [32, 24]
    assert bench["rotate"] == 30 and bench["warp"] == "lens" and bench["precision"] in ("fp32", "bf16")
    assert bench["matmul_gflop_per_s"] > 0 and 0 < bench["roofline_share"]


def test_bench_says_what_changes_between_frames(tmp_path, capsys):
    from creps_core.model.checkpoint import save_safetensors
    from creps_core.model.demo import random_model

    from ..core_fixtures import TINY

    model = random_model(TINY, seed=2)
    path = save_safetensors(tmp_path / "tiny.safetensors", model.cfg, model.state)
    results = {}
    for change in ("latent", "none", "layers:4-8", "pan:0.25"):
        assert main(["bench", "--network", str(path), "--size", "24x20", "--repeat", "2", "--precision", "fp32",
                     "--change", change]) == 0
        results[change] = json.loads(capsys.readouterr().out)
        assert results[change]["change"] == change and results[change]["median_s"] > 0
    latent, none, layers, pan = results.values()
    assert latent["reuse"]["line_coords_reused"] == 0 and latent["reuse"]["programs_compiled"] == 3
    assert none["reuse"]["programs_compiled"] == 1 and none["reuse"]["line_coords_computed"] == 24 + 20
    assert layers["warmup_frames"] == 2 and layers["reuse"]["line_coords_resumed"] == 2 * (24 + 20)
    assert layers["reuse"]["pixels_resumed"] == 2 * 24 * 20
    assert pan["reuse"]["line_coords_computed"] == 24 + 20 + 2 * 6  # each pan: 6 new columns
    for bad, why in (("layers:4-9", "ws layers 0-8"), ("pan:1.5", "FRACTION"), ("sideways", "expected one of")):
        assert exit_code(["bench", "--network", str(path), "--size", "24x20", "--change", bad]) == 2
        assert why in capsys.readouterr().err


def test_bench_times_a_change_at_a_warp_quality(tmp_path, capsys):
    """--change and --warp-quality together: the JSON carries both, and the frames computed the lines
    of that quality's lattice (draft: a table, computed once and then reused; exact: every pixel's own,
    computed again by each of the three frames)."""
    from creps_core.model.checkpoint import save_safetensors
    from creps_core.model.demo import random_model
    from creps_core.render.costs import view_line_coords
    from creps_core.render.views import View

    from ..core_fixtures import TINY

    model = random_model(TINY, seed=2)
    path = save_safetensors(tmp_path / "tiny.safetensors", model.cfg, model.state)
    for quality in ("draft", "exact"):
        assert main(["bench", "--network", str(path), "--size", "24x20", "--rotate", "30", "--repeat", "2",
                     "--precision", "fp32", "--change", "none", "--warp-quality", quality]) == 0
        bench = json.loads(capsys.readouterr().out)
        assert bench["change"] == "none" and bench["warp_quality"] == quality
        lines = view_line_coords(View(24, 20, rotation=30.0), quality)
        frames = bench["warmup_frames"] + bench["repeat"]
        assert bench["reuse"]["line_coords_computed"] == (lines if quality == "draft" else frames * lines)
    assert lines == 2 * 24 * 20  # exact: every pixel's own row and column coordinate
