"""Training: data loading (folder, zip, broken files), steps change weights, exact resume."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.cli.args import parse_seeds
from creps_core.cli.main import main as train_cli
from creps_core.model.checkpoint import load_checkpoint
from creps_core.progress import DONE, Cancelled, Progress, run_job
from creps_core.train.dataset import DatasetError, ImageDataset
from creps_core.train.discriminator import Discriminator, DiscriminatorConfig
from creps_core.train.loop import Trainer, TrainOptions, load_training_state, state_path_for, train_steps
from creps_core.train.metrics import psnr, ssim

RES = 16


def _pattern(i: int, h: int = 20, w: int = 24) -> np.ndarray:
    """A distinct colourful non-square image per index (exercises crop + resize)."""
    y, x = np.mgrid[0:h, 0:w]
    r = (x * (i + 3) * 7) % 256
    g = (y * (i + 5) * 11) % 256
    b = ((x + y) * 13 + i * 40) % 256
    return np.stack([r, g, b], axis=2).astype(np.uint8)


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    (root / "sub").mkdir(parents=True)
    for i in range(6):
        folder = root / "sub" if i % 2 else root
        ext = "png" if i < 4 else "jpg"
        Image.fromarray(_pattern(i)).save(folder / f"im{i}.{ext}")
    return root


def _write_zip(path: Path, n: int = 6, labels: bool = True) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        names = []
        for i in range(n):
            name = f"00000/img{i:08d}.png"
            b = io.BytesIO()
            Image.fromarray(_pattern(i)).save(b, format="PNG")
            zf.writestr(name, b.getvalue())
            names.append(name)
        if labels:
            zf.writestr("dataset.json", json.dumps({"labels": [[n_, i % 3] for i, n_ in enumerate(names)]}))
    return path


# ----------------------------------------------------------------------------- dataset

def test_folder_reads_recursively_and_resizes(image_folder: Path) -> None:
    ds = ImageDataset(image_folder, RES)
    assert len(ds) == 6
    assert ds.images.shape == (6, 3, RES, RES) and ds.images.dtype == torch.uint8
    assert ds.c_dim == 0 and ds.labels is None
    assert any(n.startswith("sub/") for n in ds.names)


def test_zip_with_labels_matches_folder(tmp_path: Path, image_folder: Path) -> None:
    ds = ImageDataset(_write_zip(tmp_path / "data.zip"), RES)
    assert len(ds) == 6 and ds.c_dim == 3
    assert ds.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert ds.one_hot(torch.tensor([1])).tolist() == [[0.0, 1.0, 0.0]]
    # The same PNG content read from a folder gives the same pixels.
    folder = ImageDataset(image_folder, RES)
    assert torch.equal(ds.images[0], folder.images[folder.names.index("im0.png")])


def test_truncated_png_names_the_file(image_folder: Path) -> None:
    bad = image_folder / "sub" / "im1.png"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(DatasetError, match=r"im1\.png"):
        ImageDataset(image_folder, RES)


def test_bad_zip_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DatasetError, match=r"broken\.zip.*zip"):
        ImageDataset(bad, RES)


def test_corrupt_png_inside_zip_and_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.png", b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetError, match=r"d\.zip:a\.png"):
        ImageDataset(path, RES)
    path2 = _write_zip(tmp_path / "j.zip", labels=False)
    with zipfile.ZipFile(path2, "a") as zf:
        zf.writestr("dataset.json", "{not json")
    with pytest.raises(DatasetError, match=r"j\.zip.*dataset\.json"):
        ImageDataset(path2, RES)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no .png/.jpg"):
        ImageDataset(tmp_path, RES)


# ----------------------------------------------------------------------------- networks

def test_discriminator_shapes_conditional() -> None:
    d = Discriminator(DiscriminatorConfig(img_resolution=RES, c_dim=3, channel_base=256, channel_max=32))
    c = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).float()
    assert d(torch.randn(5, 3, RES, RES), c).shape == (5,)  # batch 5: mbstd group falls back


# ----------------------------------------------------------------------------- training

def _records(steps) -> list[Progress]:
    """Every record of a training job, drained as the CLI drains it."""
    seen: list[Progress] = []
    run_job(steps, seen.append)
    return seen


def _snapshots(records: list[Progress]) -> list[Path]:
    return [r.path for r in records if r.path is not None and r.stage != DONE]


def _run(data, outdir: Path, kimg: float, **kw) -> list[Progress]:
    return _records(train_steps(data, outdir, resolution=RES, config="tiny", kimg=kimg, batch=4, seed=1, grid=2,
                                **kw))


def test_training_steps_change_weights_and_write_snapshot(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = _run(image_folder, out, kimg=0.008, snap_kimg=1.0)  # 2 minibatches
    assert res[-1].done == 8 and len(_snapshots(res)) == 1
    snap = _snapshots(res)[0]
    assert res[-1].stage == DONE and res[-1].path == snap
    state = load_training_state(snap)
    # A fresh trainer with the same options holds exactly the initial weights.
    fresh = Trainer(TrainOptions(**state["options"]), ImageDataset(image_folder, RES), torch.device("cpu"))
    changed = [k for k, v in fresh.G.state_dict().items() if not torch.equal(v, state["G"][k])]
    assert any("synthesis" in k for k in changed) and any("mapping.fc" in k for k in changed)
    assert not torch.equal(fresh.G.mapping.w_avg, state["G"]["mapping.w_avg"])  # w_avg tracked
    assert any(not torch.equal(v, state["D"][k]) for k, v in fresh.D.state_dict().items())
    # The snapshot is a native checkpoint of G_ema that the explorer can open.
    model = load_checkpoint(snap)
    assert model.metadata.get("network") == "G_ema" and model.cfg.img_resolution == RES
    for k, v in state["G_ema"].items():
        assert torch.equal(model.state[k], v)
    g = model.build()
    assert g(torch.randn(1, g.cfg.z_dim)).shape == (1, 3, RES, RES)
    assert (out / "reals.png").is_file() and (out / "samples-000000.png").is_file()


def test_resume_is_bit_identical(tmp_path: Path) -> None:
    data = _write_zip(tmp_path / "data.zip")  # conditional: covers labels in G and D
    straight = _run(data, tmp_path / "a", kimg=0.016, snap_kimg=1.0)  # 4 minibatches
    first = _run(data, tmp_path / "b", kimg=0.008, snap_kimg=1.0)     # 2 minibatches
    resumed = _records(train_steps(data, tmp_path / "c", kimg=0.016, snap_kimg=1.0, resume=_snapshots(first)[-1],
                                   grid=2))
    assert straight[-1].done == resumed[-1].done == 16
    a = load_training_state(_snapshots(straight)[-1])
    b = load_training_state(state_path_for(_snapshots(resumed)[-1]))
    for net in ("G", "D", "G_ema"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), f"{net}.{k} differs after resume"
    for opt in ("G_opt", "D_opt"):
        for i, s in a[opt]["state"].items():
            for n, t in s.items():
                assert torch.equal(torch.as_tensor(t), torch.as_tensor(b[opt]["state"][i][n])), f"{opt} {i} {n}"
    assert torch.equal(a["rng"], b["rng"]) and a["step_idx"] == b["step_idx"] == 4


def test_resume_without_state_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="state"):
        run_job(train_steps(tmp_path, tmp_path / "o", kimg=1, resume=tmp_path / "missing.safetensors"))


def test_cancel_stops_with_snapshot(image_folder: Path, tmp_path: Path) -> None:
    seen: list[Progress] = []
    steps = train_steps(image_folder, tmp_path / "s", resolution=RES, config="tiny", kimg=1.0, batch=4, seed=1,
                        grid=2, snap_kimg=1.0, cancel=lambda: bool(seen))  # after the first minibatch
    with pytest.raises(Cancelled):
        run_job(steps, seen.append)
    assert seen[-1].done == 4 and seen[-1].path is not None and seen[-1].path.is_file()
    assert _snapshots(seen) == [seen[-1].path]  # written when cancelled, not before


def test_cancel_before_any_minibatch_writes_no_snapshot(image_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(Cancelled):
        run_job(train_steps(image_folder, tmp_path / "n", resolution=RES, config="tiny", kimg=1.0, batch=4,
                            grid=2, cancel=lambda: True))
    assert list((tmp_path / "n").glob("*.safetensors")) == []


# ----------------------------------------------------------------------------- CLI + metrics

def test_metrics_identity_and_difference() -> None:
    a = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-5)
    b = (a + 0.1).clamp(0, 1)
    assert (psnr(a, b) > 15).all() and (psnr(a, b) < 30).all()
    assert (ssim(a, b) < 1).all()


def test_parse_seeds() -> None:
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]


def test_cli_train_then_consistency(image_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    rc = train_cli(["train", "--data", str(image_folder), "--res", str(RES), "--kimg", "0.004", "--batch", "4",
                    "--outdir", str(out), "--snap-every", "1"])
    assert rc == 0
    snaps = sorted(out.glob("*.safetensors"))
    assert len(snaps) == 1 and state_path_for(snaps[0]).is_file()
    assert train_cli(["consistency", "--network", str(snaps[0]), "--seeds", "0-1"]) == 0
    text = capsys.readouterr().out
    assert "PSNR" in text and "mean" in text


def test_cli_train_reports_bad_data(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "x.zip"
    bad.write_bytes(b"nope")
    assert train_cli(["train", "--data", str(bad), "--res", "16", "--kimg", "1", "--outdir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "x.zip" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_demo_data_is_a_job_of_progress_records(tmp_path: Path) -> None:
    from creps_core.train.demo_data import WRITING_IMAGES, demo_data_steps

    records = _records(demo_data_steps(tmp_path / "demo", 16, per_image=1))
    assert [r.done for r in records[:-1]] == list(range(1, 101)) and {r.stage for r in records[:-1]} == {WRITING_IMAGES}
    assert records[-1].stage == DONE and records[-1].done == 100 and records[-1].path == tmp_path / "demo"
    assert len(list((tmp_path / "demo").glob("*.png"))) == 100
    seen: list[Progress] = []
    with pytest.raises(Cancelled):
        run_job(demo_data_steps(tmp_path / "cut", 16, per_image=1, cancel=lambda: len(seen) >= 3), seen.append)
    assert len(list((tmp_path / "cut").glob("*.png"))) == 3
