"""The export work folder cannot be subverted: planted links are never followed, damaged tiles are
never trusted (they are re-rendered, and the user is told which)."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
import torch

from creps_core.cli.main import main
from creps_core.io.safe_files import UnsafePathError
from creps_core.jobs import export as ex
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint, save_safetensors
from creps_core.model.network import CREPSGenerator
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View

from ..core_fixtures import TINY

LATENT = LatentSpec(seed=5)

VIEW = View(48, 32)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(4)
    return save_safetensors(tmp_path_factory.mktemp("m") / "tiny.safetensors", TINY, CREPSGenerator(TINY).state_dict())


@pytest.fixture(scope="module")
def engine(ckpt):
    return Engine(load_checkpoint(ckpt), device="cpu")


def digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture
def victim(tmp_path):
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("do not touch")
    (folder / "L0_0_0.npy").write_bytes(b"someone else's file")
    return folder


def interrupted(engine, out):
    """An export stopped after its first tile, leaving a work folder to resume from."""
    with pytest.raises(Cancelled):
        ex.export_image(engine, LATENT, VIEW, out, tile=16, cancel=lambda: any(ex.work_dir(out).glob("L0_*.npy")))
    return ex.work_dir(out)


def test_a_work_folder_planted_as_a_link_is_refused(engine, tmp_path, victim):
    out = tmp_path / "out" / "poster.tif"
    out.parent.mkdir()
    before = digest(victim)
    ex.work_dir(out).symlink_to(victim, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="not a folder of ours"):
        ex.export_image(engine, LATENT, VIEW, out, tile=16)
    assert digest(victim) == before and not out.exists()


def test_links_planted_inside_the_work_folder_are_never_followed(engine, tmp_path, victim):
    out = tmp_path / "poster.tif"
    wd = interrupted(engine, out)
    before = digest(victim)
    (kept,) = wd.glob("L0_*.npy")
    kept.unlink()
    kept.symlink_to(victim / "L0_0_0.npy")  # a tile that points elsewhere
    (wd / "L0_1_1.npy").symlink_to(victim / "precious.txt")  # a tile to be written through a link
    (wd / "manifest.json").rename(wd / "m.json")
    (wd / "manifest.json").symlink_to(victim / "precious.txt")  # the manifest too
    ex.export_image(engine, LATENT, VIEW, out, tile=16)
    assert digest(victim) == before
    assert np.array_equal(ex.read_image(out), engine.render_u8(LATENT, VIEW))
    assert not ex.work_dir(out).exists()


def test_damaged_tiles_are_rerendered_and_named(engine, tmp_path, capsys, ckpt):
    out = tmp_path / "p.tif"
    wd = interrupted(engine, out)
    (kept,) = wd.glob("L0_*.npy")
    np.save(kept, np.zeros((3, 3, 3), np.uint8))  # the wrong shape
    (wd / "L0_1_0.npy").write_bytes(b"\x93NUMPY garbage")  # not an array at all
    assert main(["export", str(out), "-c", str(ckpt), "--seed", "5", "--size", "48x32", "--tile", "16",
                 "--trunc", "1"]) == 0
    err = capsys.readouterr().err
    assert "damaged tile" in err and kept.name in err and "L0_1_0.npy" in err
    assert np.array_equal(ex.read_image(out), engine.render_u8(LATENT, VIEW))


def test_tiles_claiming_a_huge_shape_or_another_dtype_are_rerendered(engine, tmp_path, capsys, ckpt):
    """A header can claim any shape (reading it would allocate that much); a float tile of the right
    shape is still not an RGB tile."""
    out = tmp_path / "p.tif"
    wd = interrupted(engine, out)
    with open(wd / "L0_1_0.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                                 "shape": (10**9, 10**9, 3)})
    np.save(wd / "L0_1_1.npy", np.zeros((16, 16, 3), np.float32))
    assert main(["export", str(out), "-c", str(ckpt), "--seed", "5", "--size", "48x32", "--tile", "16",
                 "--trunc", "1"]) == 0
    err = capsys.readouterr().err
    assert "damaged tile" in err and "L0_1_0.npy" in err and "L0_1_1.npy" in err
    assert np.array_equal(ex.read_image(out), engine.render_u8(LATENT, VIEW))


def test_cli_says_one_line_for_a_planted_link(tmp_path, victim, ckpt, capsys):
    out = tmp_path / "x.tif"
    ex.work_dir(out).symlink_to(victim, target_is_directory=True)
    assert main(["export", str(out), "-c", str(ckpt), "--size", "32x32", "--tile", "16"]) == 1
    err = capsys.readouterr().err
    assert "not a folder of ours" in err and len(err.strip().splitlines()) == 1
    assert os.path.islink(ex.work_dir(out)) and (victim / "precious.txt").read_text() == "do not touch"


def test_temporaries_of_dead_processes_are_cleaned_and_live_ones_kept(engine, tmp_path):
    out = tmp_path / "p.tif"
    dead = tmp_path / ".p.partial-999999999-abcd.tif"  # no such process
    live = tmp_path / f".p.partial-{os.getpid()}-beef.tif"  # this process: perhaps another export writing
    dead.write_bytes(b"x")
    live.write_bytes(b"y")
    ex.export_image(engine, LATENT, VIEW, out, tile=16)
    assert not dead.exists() and live.read_bytes() == b"y" and out.exists()
