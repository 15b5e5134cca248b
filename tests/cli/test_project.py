"""`creps project`: the files a projector writes (and that the rest of the tool reads back), what it
replaces and keeps, a stop that keeps the best ws, a picture it cannot read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v2 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.jobs.metadata import read_record
from creps_core.latent.files import load_ws

from ..core_fixtures import TINY
from .helpers import exit_code

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def target(tmp_path) -> Path:
    """A 48x32 picture (not square: the centre 32x32 is fitted)."""
    y, x = np.mgrid[0:32, 0:48]
    rgb = np.stack([x * 5, y * 7, 255 - x * 5], axis=2).clip(0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb).save(path)
    return path


def _project(ckpt, target, outdir, *extra) -> int:
    return exit_code(["project", str(target), "--network", str(ckpt), "--outdir", str(outdir), "--steps", "6",
                      "--size", "16", *extra])


def test_project_writes_a_projectors_files_that_the_tool_reads_back(ckpt, target, tmp_path, capsys):
    out = tmp_path / "out"
    assert _project(ckpt, target, out, "--save-video") == 0
    said = capsys.readouterr().out
    assert "projected_w.npz" in said and "PSNR" in said
    with np.load(out / "projected_w.npz", allow_pickle=False) as f:
        assert list(f.keys()) == ["w"] and f["w"].shape == (1, TINY.num_ws, TINY.w_dim)  # the StyleGAN layout
    ws = load_ws(out / "projected_w.npz", TINY.num_ws, TINY.w_dim)
    record = read_record(out / "proj.png")
    assert record.latent.ws == ws and record.view.width == record.view.height == 16
    extra = record.extra or {}
    assert extra["kind"] == "projection" and extra["target"] == str(target)
    assert extra["crop"] == {"width": 48, "height": 32, "left": 8, "top": 0, "side": 32}
    assert extra["options"]["steps"] == 6 and extra["options"]["space"] == "w+" and extra["steps_done"] == 6
    assert 0 < extra["psnr_db"] < 100 and np.asarray(Image.open(out / "target.png")).shape == (16, 16, 3)
    with iio.get_reader(out / "proj.mp4", format="FFMPEG") as reader:  # the target beside the fit, a step a frame
        assert reader.count_frames() == 6 and reader.get_data(0).shape == (256, 512, 3)
    # the record re-renders the picture exactly, and at any size
    assert exit_code(["render", "--from", str(out / "proj.png"), "--outdir", str(tmp_path / "again")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again" / "proj.png")),
                          np.asarray(Image.open(out / "proj.png")))
    assert exit_code(["render", "--ws", str(out / "projected_w.npz"), "--network", str(ckpt), "--size", "64x64",
                      "--outdir", str(tmp_path / "big")]) == 0
    assert np.asarray(Image.open(tmp_path / "big" / "projected_w.png")).shape == (64, 64, 3)
    # a second projection replaces the first one's files (the tool's own)
    assert _project(ckpt, target, out, "--space", "w") == 0
    assert read_record(out / "proj.png").extra["options"]["space"] == "w"


def test_files_the_tool_did_not_write_and_the_target_are_kept(ckpt, target, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "projected_w.npz"
    mine.write_bytes(b"my own file")
    assert _project(ckpt, target, out) == 1
    err = capsys.readouterr().err
    assert "projected_w.npz was not written by this tool: it is kept" in err and err.count("\n") == 1
    assert mine.read_bytes() == b"my own file" and not (out / "proj.png").exists()
    mine.unlink()
    inside = out / "target.png"
    inside.write_bytes(target.read_bytes())
    assert _project(ckpt, inside, out) == 1  # the picture to project is the name of an output
    assert "is an input of this command" in capsys.readouterr().err
    assert inside.read_bytes() == target.read_bytes()
    assert _project(ckpt, target, out, "--force") == 0


@pytest.mark.parametrize("content,message", [(b"not a picture", "not a picture this tool can read"),
                                             (None, "no such file")])
def test_a_picture_it_cannot_read_is_one_line(ckpt, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.png"
    if content is not None:
        bad.write_bytes(content)
    assert _project(ckpt, bad, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,message", [(["--size", "4"], "8..1024"), (["--size", "32x16"], "square"),
                                          (["--space", "z"], "invalid choice"), (["--starts", "-1"], "0 or more")])
def test_impossible_options_are_usage_errors(ckpt, target, tmp_path, capsys, argv, message):
    assert _project(ckpt, target, tmp_path / "out", *argv) == 2
    assert message in capsys.readouterr().err


def test_a_stop_signal_writes_the_best_ws_so_far(ckpt, target, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "creps_core.cli", "project", str(target), "--network", str(ckpt),
                                 "--outdir", str(out), "--steps", "1000000", "--size", "16", "--threads", "1"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            deadline = time.monotonic() + 180
            while "projecting" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.2)
            time.sleep(1.0)  # a few steps
            proc.send_signal(signal.SIGINT)
            said, _ = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert proc.returncode == 130, text
    assert f"the best ws so far are in {out / 'projected_w.npz'}" in text
    assert "projected_w.npz" in said
    extra = read_record(out / "proj.png").extra
    assert extra["stopped"] is True and 1 <= extra["steps_done"] < 1000000
    assert load_ws(out / "projected_w.npz", TINY.num_ws, TINY.w_dim).shape == (TINY.num_ws, TINY.w_dim)
    assert json.loads(json.dumps(extra))  # the record is plain JSON
