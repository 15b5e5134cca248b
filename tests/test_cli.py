"""The `creps` command as a user runs it: files written, metadata, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from creps_core.cli import main, parse_seeds
from creps_core.metadata import read_record

from .core_fixtures import golden_pickle, tiny_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.safetensors")


def test_seed_lists():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]


def test_render_writes_png_npy_and_metadata(tmp_path, ckpt):
    out = tmp_path / "out"
    assert main(["render", "--network", str(ckpt), "--seeds", "2,7", "--size", "40x24", "--center", "0.4,0.6",
                 "--zoom", "2", "--rotate", "15", "--warp", "swirl:1.0", "--save-raw", "--outdir", str(out)]) == 0
    png = out / "seed0007.png"
    assert png.exists() and (out / "seed0002.png").exists()
    img = np.asarray(Image.open(png))
    raw = np.load(out / "seed0007.npy")
    assert img.shape == (24, 40, 3) and raw.shape == (3, 24, 40) and raw.dtype == np.float32
    expect = np.clip(raw * 127.5 + 128, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert (img == expect).all()
    rec = read_record(png)
    assert rec.latent.seed == 7 and rec.view.rotation == 15 and rec.view.warp.kind == "swirl"
    assert len(rec.checkpoint_sha256) == 64
    # Re-rendering from the file's metadata gives identical pixels.
    assert main(["render", "--from", str(png), "--outdir", str(tmp_path / "again")]) == 0
    assert (np.asarray(Image.open(tmp_path / "again" / "seed0007.png")) == img).all()


def test_official_scale_semantics(tmp_path):
    path, g = golden_pickle(tmp_path, "small64_golden.npz")
    assert main(["render", "--network", str(path), "--seeds", "1", "--trunc", "0.7", "--scale", "2",
                 "--outdir", str(tmp_path / "o")]) == 0
    img = np.asarray(Image.open(tmp_path / "o" / "seed0001.png"))
    ref = g["img_u8_psi0.7_scale2"][1]
    assert img.shape == ref.shape
    assert np.abs(img.astype(int) - ref.astype(int)).max() <= 1  # float ties at .5 may round apart


def test_conditional_model_needs_a_class(tmp_path, capsys):
    path, _ = golden_pickle(tmp_path, "small32_cond_golden.npz")
    assert main(["render", "--network", str(path), "--seeds", "0", "--outdir", str(tmp_path / "o")]) == 2
    assert "--class" in capsys.readouterr().err
    assert main(["render", "--network", str(path), "--seeds", "0", "--class", "3", "--outdir", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize("args,message", [
    (["--size", "0x10"], "bad size"),
    (["--size", "abc"], "bad size"),
    (["--seeds", "5-2"], "bad seed list"),
    (["--warp", "twirl:1"], "unknown warp"),
    (["--scale", "2", "--zoom", "3"], "--scale"),
    (["--zoom", "-1"], "zoom"),
    (["--size", "20000x14000"], "creps export"),
])
def test_render_usage_errors(tmp_path, ckpt, capsys, args, message):
    assert main(["render", "--network", str(ckpt), "--outdir", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list((tmp_path / "o").glob("*.png")) if (tmp_path / "o").exists() else True


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["render", "--network", str(tmp_path / "nope.pkl"), "--outdir", str(tmp_path)]) == 2
    assert "nope.pkl: no such file" in capsys.readouterr().err


def test_info_convert_and_bench(tmp_path, capsys):
    path, _ = golden_pickle(tmp_path, "small32_cond_golden.npz")
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["resolution"] == 32 and info["num_ws"] == 9 and info["conditional"] and info["classes"] == 4
    assert info["parameters"] > 0 and len(info["sha256"]) == 64
    dst = tmp_path / "conv.safetensors"
    assert main(["convert", str(path), str(dst)]) == 0
    capsys.readouterr()
    assert main(["info", str(dst), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"] == info["config"]
    assert main(["bench", "--network", str(dst), "--size", "32x24", "--repeat", "1"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["median_s"] > 0 and bench["gflop_per_s"] > 0 and bench["size"] == [32, 24]
