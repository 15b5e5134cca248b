"""The command line talks during every wait and loses nothing silently.

Loads report their progress (a bar labelled ``loading NAME (SIZE)``); inputs and output folders
are checked before the model loads; multi-image jobs show one k/n bar; a resumed export says what
it found and its bars complete; grids and sweeps are named by what they hold; a name of the
shipped vocabulary (demo, random) works wherever a network is read."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.cli import terminal
from creps_core.cli.commands import render as render_command
from creps_core.cli.main import build_parser, main
from creps_core.jobs import export as ex
from creps_core.jobs.metadata import read_record
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint, save_safetensors
from creps_core.model.network import PAPER_CONFIGS, CREPSGenerator
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View
from creps_core.vocabulary import ZOOM_PRESET_FACTOR

from ..official_pickle import write_official_pickle
from .helpers import SUBCOMMANDS, exit_code


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """The released 256 config with random weights, as an official pickle and as safetensors."""
    cfg = PAPER_CONFIGS[256]
    torch.manual_seed(0)
    state = CREPSGenerator(cfg).state_dict()
    folder = tmp_path_factory.mktemp("released")
    kwargs = dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim, img_resolution=cfg.img_resolution,
                  img_channels=cfg.img_channels, mapping_kwargs=dict(num_layers=cfg.mapping_layers),
                  channel_base=cfg.channel_base, channel_max=cfg.channel_max, biline_channels=cfg.biline_channels)
    write_official_pickle(folder / "released256.pkl", state, kwargs)
    save_safetensors(folder / "released256.safetensors", cfg, state)
    return folder / "released256.pkl", folder / "released256.safetensors"


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path))


# ----- loads talk ---------------------------------------------------------------------------------
def test_a_released_size_load_reports_percent_to_100_under_its_name_and_size(released):
    for path, size in zip(released, ("244 MB", "122 MB")):
        seen = []
        model = load_checkpoint(path, report=seen.append)
        assert model.cfg.num_ws == 15
        assert {s.stage for s in seen} == {f"loading {path.name} ({size})"}
        done = [s.done for s in seen]
        assert done == sorted(set(done)) and done[-1] == 100 and len(done) >= 20 and {s.total for s in seen} == {100}


def test_the_command_line_draws_the_load_as_a_bar_that_completes(released, capsys, monkeypatch):
    monkeypatch.setattr(terminal, "LOAD_BAR_DELAY_S", 0.0)  # the bar of a load over a second, shown at once
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # drawn on a terminal only
    assert main(["info", str(released[1])]) == 0
    err = capsys.readouterr().err
    assert "loading released256.safetensors (122 MB)" in err and "100%" in err
    (released[0].parent / "cut.pkl").write_bytes(released[0].read_bytes()[:50_000_000])
    assert main(["info", str(released[0].parent / "cut.pkl")]) == 1  # a failed load: its bar is wiped
    err = capsys.readouterr().err
    assert "loading cut.pkl (50 MB)" in err and "100%" not in err
    assert err.rstrip("\n").rsplit("\r", 1)[-1].strip().startswith("creps info: error:")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)  # a log: no load bar, the error alone
    assert main(["info", str(released[0].parent / "cut.pkl")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_a_quick_load_prints_nothing(ckpt, capsys):
    assert main(["info", str(ckpt)]) == 0
    assert "loading" not in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["render", "--ws", "missing.npz"], "--ws missing.npz: no such file"),
    (["render", "--direction", "missing.npz:0:1"], "--direction missing.npz: no such file"),
    (["export", "out.png", "--from", "missing.png"], "missing.png: no such file"),
    (["directions", "d.npz", "--import", "missing.npy"], "--import missing.npy: no such file"),
    (["video", "v.mp4", "--keyframes", "missing.json"], "--keyframes missing.json: no such file"),
    (["export", "no/such/folder/out.png"], "no/such/folder does not exist"),
    (["directions", "no/such/folder/d.npz"], "no/such/folder does not exist"),
    (["convert", "no/such/folder/x.safetensors"], "no/such/folder does not exist"),
    (["render", "--outdir", "a-file"], "a-file: not a folder"),
    (["lines", "--outdir", "a-file"], "a-file: not a folder"),
])
def test_inputs_and_output_folders_are_checked_before_the_model_loads(tmp_path, capsys, monkeypatch, argv, message):
    """The checkpoint here is damaged: a check made after the load would report the checkpoint instead."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "damaged.pkl").write_bytes(b"\x80\x04garbage")
    (tmp_path / "a-file").write_text("mine")
    assert exit_code([*argv, "--network", "damaged.pkl"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err and "damaged.pkl" not in err and "loading" not in err


# ----- one progress shape for multi-item jobs -------------------------------------------------------
def test_several_images_show_one_k_of_n_bar_naming_the_current_one(tmp_path, ckpt, capsys, monkeypatch):
    monkeypatch.setattr(render_command, "RENDER_BAR_DELAY_S", 0.0)
    assert main(["render", "-c", str(ckpt), "--seeds", "0-2", "--size", "16x16", "--outdir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "rendering images" in captured.err and "3/3" in captured.err and "seed0002" in captured.err
    assert "0%" not in captured.err.split("3/3")[-1]  # no per-image bar restarting at 0 after the last
    assert sorted(line.split()[1] for line in captured.out.splitlines()) == [
        str(tmp_path / f"seed{s:04d}.png") for s in range(3)]


def test_a_resumed_export_says_what_it_found_and_every_bar_completes(tmp_path, ckpt, capsys):
    engine = Engine(load_checkpoint(ckpt), device="cpu", precision="fp32")
    view, out = View(64, 48), tmp_path / "poster.png"
    with pytest.raises(Cancelled):  # an export stopped after 5 of its 12 tiles
        ex.export_image(engine, LatentSpec(seed=3), view, out, tile=16, fmt="png",
                        cancel=lambda: len(list(ex.work_dir(out).glob("L0_*.npy"))) >= 5)
    capsys.readouterr()
    assert main(["export", str(out), "-c", str(ckpt), "--seed", "3", "--size", "64x48", "--tile", "16",
                 "--precision", "fp32"]) == 0
    err = capsys.readouterr().err
    assert "resuming: 5 of 12 tiles done" in err
    tiles = [part for part in err.replace("\r", "\n").splitlines() if part.startswith("rendering tiles")]
    assert "5/12" in tiles[0] and "12/12" in tiles[-1]  # the bar starts at the kept tiles and completes
    writing = [part for part in err.replace("\r", "\n").splitlines() if part.startswith("writing")]
    assert writing and "1/1" in writing[-1]


# ----- no silent loss ------------------------------------------------------------------------------
def test_grids_are_named_by_their_seeds_and_a_rerun_says_it_replaces_its_own(tmp_path, ckpt, capsys):
    base = ["render", "-c", str(ckpt), "--size", "16x16", "--outdir", str(tmp_path)]
    assert main([*base, "--seeds", "0-3", "--grid", "2x2"]) == 0
    first = pixels(tmp_path / "grid-seeds0-3.png")
    assert main([*base, "--seeds", "4-7", "--grid", "2x2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid-seeds0-3.png", "grid-seeds4-7.png"]
    assert (pixels(tmp_path / "grid-seeds0-3.png") == first).all()  # the first grid is still there
    assert not (pixels(tmp_path / "grid-seeds4-7.png") == first).all()
    capsys.readouterr()
    assert main([*base, "--seeds", "0-3", "--grid", "2x2"]) == 0
    assert f"replacing {tmp_path / 'grid-seeds0-3.png'} (earlier output of this tool)" in capsys.readouterr().err


def test_sweeps_are_named_by_value(tmp_path, ckpt):
    assert main(["render", "-c", str(ckpt), "--seeds", "3", "--sweep", "trunc=0:1:3", "--size", "16x16",
                 "--outdir", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["seed0003-trunc0.00.png", "seed0003-trunc0.50.png", "seed0003-trunc1.00.png"]
    assert read_record(tmp_path / "seed0003-trunc0.50.png").latent.psi == 0.5
    assert main(["render", "-c", str(ckpt), "--seeds", "3", "--sweep", "zoom=1:1.001:3", "--size", "16x16",
                 "--outdir", str(tmp_path / "z")]) == 0  # values that round alike get the decimals they need
    assert sorted(p.name for p in (tmp_path / "z").iterdir()) == [
        "seed0003-zoom1.0000.png", "seed0003-zoom1.0005.png", "seed0003-zoom1.0010.png"]


# ----- one vocabulary, one default -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["demo", "demo:faces", "random:3"])
def test_convert_takes_every_network_name(tmp_path, name, capsys):
    out = tmp_path / "x.safetensors"
    assert main(["convert", name, str(out)]) == 0
    again = load_checkpoint(out)
    assert again.cfg.img_resolution in (32, 64, 128) and "wrote" in capsys.readouterr().out


def test_precision_is_auto_by_default_everywhere_and_the_zoom_preset_is_one_factor():
    parser = build_parser()
    commands = {name: parser._subparsers._group_actions[0].choices[name] for name in SUBCOMMANDS}
    for name, sub in commands.items():
        for action in sub._actions:
            if "--precision" in action.option_strings:
                assert action.default in ("auto", None), name  # None: auto, or a --from file's
    args = parser.parse_args(["export", "x.png"])
    assert args.precision is None  # resolved to auto (or the --from file's) when the export starts
    assert parser.parse_args(["video", "v.mp4", "--preset", "zoom"]).factor == ZOOM_PRESET_FACTOR == 16.0


def test_help_never_says_required_with_a_default_and_one_seed_commands_say_one_number():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in SUBCOMMANDS:
        text = " ".join(commands[name].format_help().split())
        assert "(required) (default" not in text and "(default: none) (required)" not in text, name
    for name in ("export", "bench"):
        text = " ".join(commands[name].format_help().split())
        assert "--seeds SEEDS, --seed SEEDS the seed to render: one number, e.g. 7" in text

