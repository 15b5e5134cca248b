"""Fitting a generator to photographs (``creps train --objective fit``): the loss falls, seed i renders
photo i, a resume continues exactly, a cancel or a stop signal writes a snapshot, snapshots follow wall time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from creps_core.cli.main import main as creps
from creps_core.latent.latents import seed_to_z
from creps_core.model.checkpoint import load_checkpoint
from creps_core.progress import DONE, Cancelled, Progress, run_job
from creps_core.train import fit
from creps_core.train.fit import FitData, FitOptions, blend_targets, fit_steps, image_loss, load_fit_state

RES = 16
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Fits run single-threaded here, as `creps train --threads 1` does: two OpenMP threads stall for
    minutes at every operator's barrier when another process holds a core (a loaded machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _photo(i: int, res: int = RES) -> np.ndarray:
    """Four pictures unlike each other: a colour gradient per axis, stripes and a disc."""
    y, x = np.mgrid[0:res, 0:res] / (res - 1)
    if i == 0:
        rgb = [x, 1 - x, 0.5 + 0 * x]
    elif i == 1:
        rgb = [y, 0.2 + 0 * y, 1 - y]
    elif i == 2:
        s = (np.sin(x * 12) > 0).astype(float)
        rgb = [s, s, 1 - s]
    else:
        d = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1).astype(float)
        rgb = [0.9 * d, 0.6 + 0.3 * d, 0.1 + 0 * d]
    return (np.stack(rgb, axis=2) * 255).round().astype(np.uint8)


def _photos(n: int = 4) -> FitData:
    images = torch.from_numpy(np.stack([_photo(i).transpose(2, 0, 1) for i in range(n)]))
    return FitData(images, [f"p{i}" for i in range(n)], "test photos")


def _options(**kw) -> FitOptions:
    return FitOptions(**{"resolution": RES, "config": "tiny", "batch": 4, "lr": 0.005, "mapping_lr": 30.0, **kw})


def _records(steps) -> list[Progress]:
    records: list[Progress] = []

    def report(p: Progress) -> None:
        records.append(p)

    run_job(steps, report)
    return records


def test_loss_falls_and_seed_i_renders_photo_i(tmp_path: Path) -> None:
    data = _photos()
    records = _records(fit_steps(data, tmp_path, steps=250, options=_options(), snap_minutes=None))
    losses = [dict(r.figures)["loss"] for r in records if r.figures]
    assert len(losses) == 250 and records[-1].stage == DONE
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    psnrs = [dict(r.figures)["PSNR"] for r in records if r.figures]
    assert psnrs[-1] > psnrs[0] + 3

    # The snapshot is an ordinary generator: seed i (official seed -> z) renders photo i.
    model = load_checkpoint(records[-1].path)
    assert model.metadata["objective"] == "fit" and model.metadata["fit_seeds"] == "0-3"
    assert float(model.metadata["fit_psnr_db"]) > 15
    g = model.build()
    with torch.no_grad():
        renders = g(torch.cat([seed_to_z(i, model.cfg.z_dim) for i in range(4)]).float())
    targets = data.images.float() / 127.5 - 1
    distance = (renders[:, None] - targets[None]).abs().mean(dim=(2, 3, 4))  # [seed, photo]
    for i in range(4):
        others = torch.cat([distance[i, :i], distance[i, i + 1:]])
        assert distance[i, i] < others.min(), f"seed {i} is nearer another photo: {distance[i].tolist()}"
    # ...and a state to resume from, beside it
    assert load_fit_state(records[-1].path)["step"] == 250
    assert (tmp_path / "fit-step0000250.png").is_file()


def _state(path: Path) -> dict:
    return load_fit_state(path)


def _same_tensors(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_continues_exactly(tmp_path: Path) -> None:
    data, opts = _photos(), _options(batch=3, crop=8)  # a subset of photos and a crop: both draw from the RNG
    whole = run_job(fit_steps(data, tmp_path / "a", steps=6, options=opts, snap_minutes=None))
    half = run_job(fit_steps(data, tmp_path / "b", steps=3, options=opts, snap_minutes=None))
    assert whole is not None and half is not None and half.path is not None
    rest = run_job(fit_steps(data, tmp_path / "b", steps=6, resume=half.path, snap_minutes=None))
    assert rest is not None and rest.path is not None and whole.path is not None
    a, b = _state(whole.path), _state(rest.path)
    assert a["step"] == b["step"] == 6
    for part in ("G", "G_ema"):
        _same_tensors(a[part], b[part])
    for k, v in a["opt"]["state"].items():
        _same_tensors(v, b["opt"]["state"][k])
    assert torch.equal(a["rng"], b["rng"])
    assert load_checkpoint(rest.path).state.keys() == load_checkpoint(whole.path).state.keys()


def test_resume_refuses_other_photos(tmp_path: Path) -> None:
    done = run_job(fit_steps(_photos(), tmp_path, steps=1, options=_options(), snap_minutes=None))
    assert done is not None and done.path is not None
    other = _photos()
    other.images[0, 0, 0, 0] ^= 1
    with pytest.raises(ValueError, match="not the photos"):
        run_job(fit_steps(other, tmp_path, steps=2, resume=done.path))


def test_cancel_writes_a_snapshot_to_resume_from(tmp_path: Path) -> None:
    seen: list[Progress] = []
    steps = fit_steps(_photos(), tmp_path, steps=1000, options=_options(), snap_minutes=None,
                      cancel=lambda: len(seen) >= 2)
    with pytest.raises(Cancelled):
        for record in steps:
            seen.append(record)
    assert seen[-1].path is not None and seen[-1].path.name == "snapshot-step0000002.safetensors"
    assert load_fit_state(seen[-1].path)["step"] == 2
    load_checkpoint(seen[-1].path)


def test_snapshots_follow_wall_time(tmp_path: Path, monkeypatch) -> None:
    clock = iter(range(0, 10**6, 100))  # every reading of the clock is 100 s after the last
    monkeypatch.setattr(fit.time, "monotonic", lambda: float(next(clock)))
    records = _records(fit_steps(_photos(), tmp_path, steps=4, options=_options(), snap_minutes=3))
    written = [r.path.name for r in records if r.path is not None and r.stage != DONE]
    # readings: start 0; step 1 at 100 (no); step 2 at 200 (yes, snapshot; reset at 300); step 3 at 400 (no);
    # step 4 at 500: the last step always writes
    assert written == ["snapshot-step0000002.safetensors", "snapshot-step0000004.safetensors"]


def test_loss_and_blend_targets() -> None:
    x = torch.zeros(2, 3, 16, 16)
    assert float(image_loss(x, x)) == 0
    assert float(image_loss(x, x + 0.5, ms_weight=0, grad_weight=0)) == pytest.approx(0.5)
    # the box-filtered copies add their own L1; a constant offset has no edges
    assert float(image_loss(x, x + 0.5)) == pytest.approx(0.5 + 0.5)
    z = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    w = torch.arange(6.0).reshape(3, 2)
    assert torch.allclose(blend_targets(z, z, w, 0.1), w, atol=1e-4)  # a photo's own seed is its own target
    mid = blend_targets(torch.randn(5, 8), z, w, 1e6)  # an infinite temperature: the mean of the photos
    assert torch.allclose(mid, w.mean(0).expand(5, -1), atol=1e-3)


# ----------------------------------------------------------------------------- the command

@pytest.fixture()
def photo_folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(4):
        Image.fromarray(_photo(i, 24)).save(root / f"p{i}.png")
    return root


def test_cli_fit_and_options_that_belong_to_the_other_objective(photo_folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "--objective", "fit", "--data", str(photo_folder), "--res", str(RES), "--config", "tiny",
            "--outdir", str(out)]
    assert creps([*args, "--steps", "2"]) == 0
    assert "last snapshot" in capsys.readouterr().out
    snap = out / "snapshot-step0000002.safetensors"
    assert load_checkpoint(snap).metadata["objective"] == "fit"
    assert creps([*args[:-2], "--outdir", str(out), "--steps", "3", "--resume", str(snap)]) == 0
    assert load_fit_state(out / "snapshot-step0000003.safetensors")["step"] == 3
    assert creps([*args, "--steps", "2", "--gamma", "1"]) == 2
    assert creps([*args, "--steps", "2", "--kimg", "1"]) == 2
    assert creps([*args]) == 2  # no length
    gan = ["train", "--data", str(photo_folder), "--res", str(RES), "--outdir", str(tmp_path / "g")]
    assert creps([*gan, "--steps", "2"]) == 2
    assert creps([*gan, "--kimg", "1", "--snap-minutes", "1"]) == 2
    assert creps(gan) == 2  # the GAN still needs --kimg
    capsys.readouterr()
    assert creps([*gan, "--kimg", "1", "--resume", str(snap)]) == 2
    assert "--objective fit" in capsys.readouterr().err


def test_cli_fit_stops_on_a_signal_with_a_snapshot(photo_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "creps_core.cli", "train", "--objective", "fit",
                             "--data", str(photo_folder), "--res", str(RES), "--config", "tiny", "--steps", "1000000",
                             "--outdir", str(out), "--threads", "1"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "fit_options.json").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(1.0)  # a few steps
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    snaps = sorted(out.glob("snapshot-step*.safetensors"))
    assert len(snaps) == 1 and f"--resume {snaps[0]}" in err
    assert load_fit_state(snaps[0])["step"] >= 1
