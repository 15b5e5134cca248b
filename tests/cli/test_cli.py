"""The `creps` command as a user runs it: files written, metadata, the shared vocabulary, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from creps_core.cli.args import HelpFormatter, UsageError, parse_seeds, parse_warp
from creps_core.cli.main import build_parser, main
from creps_core.jobs.metadata import read_record

from ..core_fixtures import golden_pickle, tiny_checkpoint

SUBCOMMANDS = ("render", "export", "video", "directions", "lines", "bench", "info", "convert", "train",
               "demo-data", "consistency")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.safetensors")


def test_seed_lists_and_warps():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    w = parse_warp("wave:0.05:0.8:3")
    assert (w.name, w.strength, w.radius, w.frequency) == ("wave", 0.05, 0.8, 3.0)
    assert parse_warp("swirl").strength == 1.0
    f = parse_warp("formula:y + 0.1*sin(8*x); x")
    assert f.formula == ("y + 0.1*sin(8*x)", "x") and f.to_warp().kind == "formula"
    for bad in ("formula:y", "formula:;x", "formula"):
        with pytest.raises(UsageError, match="formula:ROW;COL"):
            parse_warp(bad)


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
    """A gen_images.py command line (= spellings, noise mode, translate/rotate 0) gives the official files."""
    path, g = golden_pickle(tmp_path, "small64_golden.npz")
    out = tmp_path / "out"
    assert main(["render", f"--outdir={out}", f"--trunc={psi}", "--seeds=0-2", f"--network={path}",
                 "--noise-mode=const", "--translate=0,0", "--rotate=0"]) == 0
    assert "no effect" in capsys.readouterr().err  # said once: CREPS has no noise inputs
    assert sorted(p.name for p in out.iterdir()) == ["seed0000.png", "seed0001.png", "seed0002.png"]
    for seed in range(3):
        img = np.asarray(Image.open(out / f"seed{seed:04d}.png")).astype(int)
        ref = g[f"img_u8_psi{float(psi)}_scale1"][seed].astype(int)
        assert img.shape == ref.shape
        # identical but for float ties at .5 (one level, on at most a few of the 12288 values)
        diff = np.abs(img - ref)
        assert diff.max() <= 1 and (diff > 0).sum() <= 3


def test_official_scale_semantics(tmp_path):
    path, g = golden_pickle(tmp_path, "small64_golden.npz")
    assert main(["render", "--network", str(path), "--seeds", "1", "--trunc", "0.7", "--scale", "2",
                 "--save-raw", "--outdir", str(tmp_path / "o")]) == 0
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
    assert main(["render", "--network", str(path), "--seeds", "0", "--class", "3", "--outdir", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize("args,message", [
    (["--size", "0x10"], "bad size"),
    (["--size", "abc"], "bad size"),
    (["--seeds", "5-2"], "bad seed list"),
    (["--warp", "twirl:1"], "unknown warp"),
    (["--warp", "swirl:1:0"], "radius"),
    (["--center", "0.5"], "bad pair"),
    (["--zoom", "-1"], "positive"),
    (["--precision", "fp64"], "invalid choice"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, ckpt, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--network", str(ckpt), "--outdir", str(tmp_path / "o"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,message", [
    (["--scale", "2", "--zoom", "3"], "--scale"),
    (["--size", "20000x14000"], "creps export"),
])
def test_impossible_renders_exit_2(tmp_path, ckpt, capsys, args, message):
    assert main(["render", "--network", str(ckpt), "--outdir", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_errors_exit_1_with_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["render", "--network", str(tmp_path / "nope.pkl"), "--outdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "nope.pkl: no such file" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert main(["info", str(bad)]) == 1
    assert "bad.safetensors" in capsys.readouterr().err
    with pytest.raises(Exception):
        main(["--debug", "info", str(bad)])


def test_random_weights_only_when_asked_and_labelled(tmp_path):
    out = tmp_path / "r"
    assert main(["render", "--network", "random:3", "--seeds", "1", "--size", "24x16", "--outdir", str(out)]) == 0
    assert read_record(out / "seed0001.png").checkpoint == "random:3"
    assert main(["render", "--network", "demo:nope", "--outdir", str(out)]) == 1


def test_default_network_is_the_shipped_colour_demo_model(tmp_path):
    """`creps render --seeds 0-7` with no --network: varied colour images, not grey, not one image repeated."""
    out = tmp_path / "d"
    assert main(["render", "--seeds", "0-7", "--outdir", str(out)]) == 0
    rec = read_record(out / "seed0000.png")
    assert "demo_photos" in rec.checkpoint and len(rec.checkpoint_sha256) == 64
    images = [np.asarray(Image.open(out / f"seed{i:04d}.png")).astype(float) for i in range(8)]
    assert images[0].shape == (64, 64, 3)
    colour = [np.abs(im[..., 0] - im[..., 1]).mean() + np.abs(im[..., 1] - im[..., 2]).mean() for im in images]
    assert np.mean(colour) > 10  # grey images have R = G = B
    means = np.array([im.mean(axis=(0, 1)) for im in images])
    assert means.std(axis=0).mean() > 10  # different seeds, different pictures
    assert main(["render", "--network", "demo:faces", "--seeds", "0", "--outdir", str(tmp_path / "f")]) == 0
    assert "demo_faces" in read_record(tmp_path / "f" / "seed0000.png").checkpoint


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


# ----- one vocabulary ---------------------------------------------------------------------------
def _options(command: str) -> dict[str, object]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    parser = sub.choices[command]
    return {s: a for a in parser._actions for s in a.option_strings}


SHARED = {  # option -> (value format shown to the user, or None for a choice list)
    "--network": "PATH", "--seeds": "SEEDS", "--trunc": "PSI", "--trunc-cutoff": "N", "--class": "N",
    "--size": "WxH", "--center": "U,V", "--zoom": "Z", "--rotate": "DEG", "--warp": "NAME[:S[:R[:F]]]",
    "--precision": None, "--device": "DEVICE", "--noise-mode": None, "--translate": "X,Y",
    "--direction": "FILE:INDEX:AMOUNT[:LAYERS]", "--mix": "SEED:LAYERS", "--ws": "FILE.npz", "--grid": "CxR",
}
LATENT_FILES = {"--direction", "--mix", "--ws"}
USES = {  # which shared options each subcommand takes
    "render": set(SHARED),
    "export": set(SHARED) - {"--grid"},
    "video": set(SHARED),
    "directions": {"--network"},
    "lines": set(SHARED) - {"--grid"},  # one picture per seed and block: no grid
    "bench": set(SHARED) - LATENT_FILES - {"--grid"},
    "info": {"--network"},
    "convert": {"--network"},
    "consistency": {"--network", "--seeds", "--trunc", "--trunc-cutoff", "--class", "--device"},
    "train": {"--device"},
    "demo-data": set(),
}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_speaks_the_same_vocabulary(command, capsys):
    options = _options(command)
    reference = _options("render")
    for name in USES[command]:
        assert name in options, f"creps {command} lacks {name}"
        mine, ref = options[name], reference[name]
        assert mine.metavar == ref.metavar == SHARED[name] and mine.type is ref.type and mine.choices == ref.choices
        assert mine.dest == ref.dest
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: creps {command}")
    shown = HelpFormatter(f"creps {command}")
    for action in set(options.values()):
        assert action.help, f"{command} {action.option_strings} has no help"
        if action.nargs == 0:  # switches (--help, --json, --loop ...) are off unless given
            continue
        assert "default" in shown._get_help_string(action) or action.required, \
            f"{command} {action.option_strings} shows no default"


def test_help_and_version_answer_without_importing_torch():
    code = ("import sys\nfrom creps_core.cli.main import main\n"
            "for argv in (['--help'], ['render', '--help'], ['video', '--help'], ['--version']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        assert e.code == 0, argv\n"
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'heavy import on --help'\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "creps-explorer " in run.stdout


def test_sigterm_stops_a_video_with_status_130_keeping_only_its_finished_frames(tmp_path, ckpt):
    out = tmp_path / "long.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "creps_core.cli.main", "video", str(out), "-c", str(ckpt),
                             "--preset", "orbit", "--size", "64x64", "--frames", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".long.mp4.partial/L0_*.npy")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".long.mp4.partial/L0_*.npy")), "the video never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "resume" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == [".long.mp4.partial"]  # only the finished frames, kept for a resume


def exit_code(argv: list[str]) -> int:
    """What the shell would see: main's return value, or argparse's exit status."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv,code,message", [
    (["render", "--seeds", "0-4294967295", "--outdir", "OUT"], 2, "at most 100,000 seeds"),
    (["render", "--trunc", "nan", "--outdir", "OUT"], 2, "finite"),
    (["export", "OUT/x.tif", "--size", "64x64", "--pyramid", "100000"], 1, "pyramid levels"),
    (["video", "OUT/x.mp4", "--preset", "zoom", "--fps", "1e9"], 1, "fps"),
    (["video", "OUT/x.mp4", "--preset", "zoom", "--size", "100000x16"], 1, "16384"),
    (["video", "OUT/x.mp4", "--preset", "zoom", "--frames", "0"], 2, "at least 1"),
])
def test_impossible_values_are_refused_before_any_work(tmp_path, ckpt, capsys, argv, code, message):
    (tmp_path / "OUT").mkdir()
    argv = [a.replace("OUT", str(tmp_path / "OUT")) for a in argv] + ["-c", str(ckpt)]
    assert exit_code(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "about" not in err  # no estimate: refused first
    assert list((tmp_path / "OUT").iterdir()) == []


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
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b" / "seed0000.png")), np.asarray(Image.open(a / "seed0000.png")))
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
