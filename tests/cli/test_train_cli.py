"""`creps train`: snapshots and sample grids named by kimg (as the official ones), and Ctrl-C naming a
snapshot that exists, or saying none was written yet."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.train.dataset import ImageDataset
from creps_core.train.loop import Trainer, TrainOptions

from .helpers import exit_code

RES = 16


@pytest.fixture()
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (RES, RES, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


def test_snapshots_and_sample_grids_are_one_per_kimg(images, tmp_path):
    trainer = Trainer(TrainOptions(resolution=RES, batch=4), ImageDataset(images, RES), torch.device("cpu"))
    out = tmp_path / "run"
    out.mkdir()
    for nimg in (496, 1008, 2000):
        trainer.cur_nimg = nimg
        trainer.save_snapshot(out)
        trainer.save_samples(out, [0, 1, 2, 3], 2)
    assert sorted(p.name for p in out.glob("snapshot-*.safetensors")) == \
        ["snapshot-000000.safetensors", "snapshot-000001.safetensors", "snapshot-000002.safetensors"]
    assert sorted(p.name for p in out.glob("samples-*.png")) == \
        ["samples-000000.png", "samples-000001.png", "samples-000002.png"]
    assert all((out / f"snapshot-00000{k}.state.pt").is_file() for k in range(3))


def _interrupt_at_step(monkeypatch, step: int) -> None:
    """Ctrl-C (SIGINT to this process) when the trainer is about to run minibatch ``step``."""
    calls = []
    real_step = Trainer.step

    def step_then_interrupt(self):
        calls.append(1)
        result = real_step(self)
        if len(calls) == step:
            signal.raise_signal(signal.SIGINT)
        return result

    monkeypatch.setattr(Trainer, "step", step_then_interrupt)


def test_ctrl_c_writes_a_snapshot_and_names_it(images, tmp_path, capsys, monkeypatch):
    _interrupt_at_step(monkeypatch, 1)
    out = tmp_path / "run"
    argv = ["train", "--data", str(images), "--res", str(RES), "--kimg", "1", "--batch", "4", "--outdir", str(out)]
    assert exit_code(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    snapshot = out / "snapshot-000000.safetensors"
    assert err == f"creps train: interrupted; continue with --resume {snapshot}" and snapshot.is_file()


def test_ctrl_c_before_any_minibatch_says_no_snapshot_was_written(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Trainer, "step", lambda self: signal.raise_signal(signal.SIGINT) or {})
    out = tmp_path / "run"
    argv = ["train", "--data", str(images), "--res", str(RES), "--kimg", "1", "--outdir", str(out)]
    assert exit_code(argv) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no snapshot was written yet (the first comes at 10 kimg)" in err
    assert not list(out.glob("snapshot-*"))
