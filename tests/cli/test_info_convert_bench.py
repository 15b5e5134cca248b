"""`creps info`, `creps convert` and `creps bench` on an official pickle."""

from __future__ import annotations

import json

from creps_core.cli.main import main

from ..core_fixtures import golden_pickle


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
