"""`creps render` as a user runs it: files written, metadata, official gen_images.py command lines, --from."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from creps_core.cli.main import main
from creps_core.jobs.metadata import read_record

from ..core_fixtures import golden_pickle
from .helpers import exit_code


def test_render_writes_png_npy_and_metadata(tmp_path, ckpt):
    out = tmp_path / "out"
    assert main(["render", "--network", str(ckpt), "--seeds", "2,7", "--size", "40x24", "--center", "0.4,0.6",
                 "--zoom", "2", "--rotate", "15", "--warp", "swirl:1.0:0.7", "--save-raw", "--outdir", str(out)]) == 0
    png = out / "seed0007.png"
    assert png.exists() and (out / "seed0002.png").exists()
    img = np.asarray(Image.open(png))
    raw = np.load(out / "seed0007.npy")
    assert img.shape == (24, 40, 3) and raw.shape == (3, 24, 40) and raw.dtype == np.float32
    expect = np.clip(raw * 127.5 + 128, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    assert (img == expect).all()
    rec = read_record(png)
    assert rec.latent.seed == 7 and rec.view.rotation == 15 and rec.view.warp.kind == "swirl"
    assert rec.view.warp.radius == 0.7 and len(rec.checkpoint_sha256) == 64
    # Re-rendering from the file's metadata gives identical pixels.
    assert main(["render", "--from", str(png), "--outdir", str(tmp_path / "again")]) == 0
    assert (np.asarray(Image.open(tmp_path / "again" / "seed0007.png")) == img).all()


def test_a_formula_warp_renders_and_re_renders_from_its_provenance(tmp_path, ckpt, capsys):
    out = tmp_path / "out"
    assert main(["render", "--network", str(ckpt), "--seeds", "3", "--size", "32x24",
                 "--warp", "formula:y + 0.2*sin(6*x);x - 0.1*r", "--outdir", str(out)]) == 0
    png = out / "seed0003.png"
    assert read_record(png).view.warp.formula == ("y + 0.2*sin(6*x)", "x - 0.1*r")
    assert main(["render", "--from", str(png), "--outdir", str(tmp_path / "again")]) == 0
    assert (np.asarray(Image.open(tmp_path / "again" / "seed0003.png")) == np.asarray(Image.open(png))).all()
    capsys.readouterr()
    assert main(["render", "--network", str(ckpt), "--warp", "formula:y/(x-x);x", "--outdir", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "not finite" in err and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize("psi", ["1", "0.7"])
def test_official_gen_images_command_runs_unchanged(tmp_path, capsys, psi):
    """A gen_images.py command line (= spellings, noise mode, translate/rotate 0) gives the official files:
    the official pixels with --precision fp32, and within the 40 dB that `auto` (the default) keeps."""
    path, g = golden_pickle(tmp_path, "small64_golden.npz")
    official = [f"--trunc={psi}", "--seeds=0-2", f"--network={path}", "--noise-mode=const", "--translate=0,0",
                "--rotate=0"]
    for out, extra in ((tmp_path / "auto", []), (tmp_path / "fp32", ["--precision=fp32"])):
        assert main(["render", f"--outdir={out}", *official, *extra]) == 0
        assert "no effect" in capsys.readouterr().err  # said once: CREPS has no noise inputs
        assert sorted(p.name for p in out.iterdir()) == ["seed0000.png", "seed0001.png", "seed0002.png"]
    for seed in range(3):
        ref = g[f"img_u8_psi{float(psi)}_scale1"][seed].astype(int)
        img = np.asarray(Image.open(tmp_path / "fp32" / f"seed{seed:04d}.png")).astype(int)
        assert img.shape == ref.shape
        # identical but for float ties at .5 (one level, on at most a few of the 12288 values)
        diff = np.abs(img - ref)
        assert diff.max() <= 1 and (diff > 0).sum() <= 3
        auto = np.asarray(Image.open(tmp_path / "auto" / f"seed{seed:04d}.png")).astype(float)
        assert 10 * np.log10(255.0**2 / max(((auto - ref) ** 2).mean(), 1e-12)) > 40


def test_official_scale_semantics(tmp_path):
    path, g = golden_pickle(tmp_path, "small64_golden.npz")
    assert main(["render", "--network", str(path), "--seeds", "1", "--trunc", "0.7", "--scale", "2",
                 "--save-raw", "--precision", "fp32", "--outdir", str(tmp_path / "o")]) == 0
    img = np.asarray(Image.open(tmp_path / "o" / "seed0001.png"))
    ref = g["img_u8_psi0.7_scale2"][1]
    assert img.shape == ref.shape
    raw = np.load(tmp_path / "o" / "seed0001.npy")
    assert np.abs(raw - g["img_psi0.7_scale2"][1]).max() < 1e-4
    # float ties at .5 may round apart: at most one level, on a handful of values
    diff = np.abs(img.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3


def test_translate_moves_the_content(tmp_path, ckpt):
    """--translate X,Y (gen_images.py) moves the content right/down by X/Y image sides."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["render", "-c", str(ckpt), "--seeds", "3", "--size", "64x64", "--save-raw", "--outdir", str(a)]) == 0
    assert main(["render", "-c", str(ckpt), "--seeds", "3", "--size", "64x64", "--translate", "0.25,0",
                 "--save-raw", "--outdir", str(b)]) == 0
    ia, ib = np.load(a / "seed0003.npy"), np.load(b / "seed0003.npy")
    # 0.25 of 64 pixels = 16 columns; pixel lattices coincide up to the (n-1) spacing of the grid
    assert np.abs(ib[:, :, 20:] - ia[:, :, 4:-16]).mean() < np.abs(ib[:, :, 20:] - ia[:, :, 20:]).mean() / 3


def test_conditional_model_needs_a_class(tmp_path, capsys):
    path, _ = golden_pickle(tmp_path, "small32_cond_golden.npz")
    assert main(["render", "--network", str(path), "--seeds", "0", "--outdir", str(tmp_path / "o")]) == 2
    assert "--class" in capsys.readouterr().err
    assert main(["render", "--network", str(path), "--seeds", "0", "--class", "3",
                 "--outdir", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize("args,message", [
    (["--scale", "2", "--zoom", "3"], "--scale"),
    (["--size", "20000x14000"], "creps export"),
])
def test_impossible_renders_exit_2(tmp_path, ckpt, capsys, args, message):
    assert main(["render", "--network", str(ckpt), "--outdir", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_random_weights_only_when_asked_and_labelled(tmp_path):
    out = tmp_path / "r"
    assert main(["render", "--network", "random:3", "--seeds", "1", "--size", "24x16", "--outdir", str(out)]) == 0
    assert read_record(out / "seed0001.png").checkpoint == "random:3"
    assert main(["render", "--network", "demo:nope", "--outdir", str(out)]) == 1


def test_default_network_is_the_fitted_demo_whose_seeds_are_the_photographs(tmp_path):
    """`creps render --seeds 0-9` with no --network: the ten bundled photographs, recognisable (24 dB on
    average against the photos at the fit's 128 px, none below 20 dB, each nearest its own photo); the GAN
    demos stay one name away."""
    from creps_core.train.fit import bundled_photos  # the photographs come with scikit-image/-learn ([test] has them)

    out = tmp_path / "d"
    assert main(["render", "--seeds", "0-9", "--precision", "fp32", "--outdir", str(out)]) == 0
    rec = read_record(out / "seed0000.png")
    assert "demo_photos_fit" in rec.checkpoint and len(rec.checkpoint_sha256) == 64
    photos = bundled_photos(128).images.permute(0, 2, 3, 1).numpy().astype(float)
    psnrs = []
    for i in range(10):
        image = np.asarray(Image.open(out / f"seed{i:04d}.png")).astype(float)
        assert image.shape == (128, 128, 3)
        errors = [((image - photo) ** 2).mean() for photo in photos]
        psnrs.append(10 * np.log10(255 ** 2 / errors[i]))
        assert psnrs[-1] >= 20 and int(np.argmin(errors)) == i, (i, psnrs[-1])
    assert np.mean(psnrs) >= 24, psnrs
    for name, file in (("demo:photos", "demo_photos"), ("demo:faces", "demo_faces")):
        assert main(["render", "--network", name, "--seeds", "0", "--outdir", str(tmp_path / name[5:])]) == 0
        assert file in read_record(tmp_path / name[5:] / "seed0000.png").checkpoint


def test_a_provenance_bomb_is_refused_in_one_line(tmp_path, capsys):
    """A PNG whose compressed metadata chunk inflates to 1 GiB is refused without inflating it."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    bomb = zlib.compress(b" " * (1 << 30), 9)
    png = tmp_path / "bomb.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                    + chunk(b"zTXt", b"creps\0\0" + bomb) + chunk(b"IEND", b""))
    assert main(["render", "--from", str(png), "--outdir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "inflates past" in err and len(err.strip().splitlines()) == 1


def test_rerendering_from_a_file_uses_the_generator_that_made_it(tmp_path):
    """An image made with G (not G_ema) re-renders with G."""
    path, _ = golden_pickle(tmp_path, "small64_golden.npz")
    a = tmp_path / "a"
    assert main(["render", "--network", str(path), "--network-kind", "G", "--seeds", "0", "--outdir", str(a)]) == 0
    assert read_record(a / "seed0000.png").network == "G"
    assert main(["render", "--from", str(a / "seed0000.png"), "--outdir", str(tmp_path / "b")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b" / "seed0000.png")),
                          np.asarray(Image.open(a / "seed0000.png")))
    assert read_record(tmp_path / "b" / "seed0000.png").network == "G"


@pytest.mark.parametrize("damage", [
    lambda r: r["latent"].update(seed="x"),
    lambda r: r["latent"].update(psi=float("nan")),
    lambda r: r["latent"].update(mix_layers=[1, "two"]),
    lambda r: r["view"].update(zoom=-1),
    lambda r: r["view"].update(width=10**12),
    lambda r: r["view"].update(center=["a", 0.5]),
    lambda r: r.update(latent=[1, 2, 3]),
    lambda r: r.pop("view"),
])
def test_tampered_provenance_gives_one_line_and_writes_nothing(tmp_path, ckpt, capsys, damage):
    from PIL.PngImagePlugin import PngInfo

    from creps_core.jobs.metadata import METADATA_KEY

    out = tmp_path / "a"
    assert main(["render", "-c", str(ckpt), "--seeds", "1", "--size", "24x16", "--outdir", str(out)]) == 0
    png = out / "seed0001.png"
    record = json.loads(Image.open(png).text[METADATA_KEY])
    damage(record)
    bad = tmp_path / "bad.png"
    info = PngInfo()
    info.add_text(METADATA_KEY, json.dumps(record))
    Image.open(png).save(bad, pnginfo=info)
    capsys.readouterr()
    assert exit_code(["render", "--from", str(bad), "--outdir", str(tmp_path / "b")]) in (1, 2)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())


def test_seeds_a_sweep_and_a_grid_render_on_dask_workers_as_they_do_here(tmp_path, ckpt, capsys):
    """Two Dask worker processes render the images; every file equals this process's, bit for bit
    (the float .npy too), the grid's cells sit in order whatever order they finished in."""
    common = ["render", "-c", str(ckpt), "--seeds", "1-3", "--size", "24x16", "--rotate", "20", "--save-raw"]
    here, dask = tmp_path / "here", tmp_path / "dask"
    assert main([*common, "--sweep", "trunc=0.5:1:2", "--outdir", str(here)]) == 0
    assert main([*common, "--sweep", "trunc=0.5:1:2", "--outdir", str(dask), "--workers", "2"]) == 0
    assert "on Dask" in capsys.readouterr().err
    names = sorted(p.name for p in here.iterdir())
    assert len(names) == 12 and sorted(p.name for p in dask.iterdir()) == names
    for name in names:
        a, b = here / name, dask / name
        if name.endswith(".npy"):
            assert np.array_equal(np.load(a), np.load(b))
        else:
            assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    grid = ["--grid", "3x2", "--sweep", "trunc=0.5:1:2"]
    common = common[:-1]  # no raw files beside a grid
    assert main([*common, *grid, "--outdir", str(here / "g")]) == 0
    assert main([*common, *grid, "--outdir", str(dask / "g"), "--workers", "2"]) == 0
    [grid_here], [grid_dask] = (list((d / "g").iterdir()) for d in (here, dask))
    assert grid_here.name == grid_dask.name and grid_here.name.startswith("grid-seeds1-3")
    assert np.array_equal(np.asarray(Image.open(grid_here)), np.asarray(Image.open(grid_dask)))
    # the same image twice (a repeated seed) is two cells, not one lost to the other
    assert main([*common, "--seeds", "2,2", "--grid", "2x1", "--outdir", str(dask / "twice"), "--workers", "2"]) == 0
    [twice] = (dask / "twice").iterdir()
    pixels = np.asarray(Image.open(twice))
    assert pixels.shape == (16, 48, 3) and np.array_equal(pixels[:, :24], pixels[:, 24:])


def test_render_workers_without_the_cluster_extra_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    """Refused before the model loads (the checkpoint named here does not even exist)."""
    monkeypatch.setitem(sys.modules, "distributed", None)  # as on an install without the [cluster] extra
    argv = ["render", "-c", str(tmp_path / "none.pkl"), "--seeds", "0-3", "--outdir", str(tmp_path / "out"),
            "--workers", "2"]
    assert exit_code(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "creps-explorer[cluster]"' in err
    assert list(tmp_path.iterdir()) == []
