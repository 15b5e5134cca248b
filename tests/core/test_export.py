"""Tiled exports: exact tiles, resume, cancel, metadata round trip, clear errors."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import torch

from creps_core.io.safe_files import DiskFullError
from creps_core.jobs import export as ex
from creps_core.jobs.export import writers
from creps_core.jobs.metadata import read_record
from creps_core.jobs.outputs import KeptError
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint, save_safetensors
from creps_core.model.network import CREPSGenerator
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine, to_uint8
from creps_core.render.views import View, Warp

from ..core_fixtures import TINY


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    g = CREPSGenerator(TINY)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_safetensors(path, TINY, g.state_dict())
    return path


@pytest.fixture(scope="module")
def engine(ckpt):
    return Engine(load_checkpoint(ckpt), device="cpu")


LATENT = LatentSpec(seed=3, psi=0.7)


@pytest.mark.parametrize("view", [
    View(100, 70, center=(0.4, 0.6), zoom=1.5),
    View(64, 80, rotation=33.0, warp=Warp("swirl", strength=1.0)),
], ids=["separable", "rotated-warped"])
def test_tiled_export_equals_one_shot(engine, tmp_path, view):
    out = ex.export_image(engine, LATENT, view, tmp_path / "a.tif", tile=32)
    assert np.array_equal(ex.read_image(out), engine.render_u8(LATENT, view))
    assert not ex.work_dir(out).exists()


def test_png_and_jpeg_outputs(engine, tmp_path):
    view = View(50, 40, zoom=0.8)
    ref = engine.render_u8(LATENT, view)
    png = ex.export_image(engine, LATENT, view, tmp_path / "a.png", tile=16)
    assert np.array_equal(ex.read_image(png), ref)
    assert read_record(png).view == view
    jpg = ex.export_image(engine, LATENT, view, tmp_path / "a.jpg", tile=16, quality=98)
    assert np.abs(ex.read_image(jpg).astype(int) - ref).mean() < 8
    assert read_record(jpg).latent == LATENT


def test_supersample_is_box_filter_of_k_times_render(engine, tmp_path):
    view = View(40, 24, center=(0.3, 0.7), zoom=0.5)
    out = ex.export_image(engine, LATENT, view, tmp_path / "s.tif", tile=16, supersample=2)
    big = engine.render(LATENT, view.with_(width=80, height=48))
    ref = to_uint8(big.reshape(3, 24, 2, 40, 2).mean(dim=(2, 4)))
    assert np.array_equal(ex.read_image(out), ref)


def test_cancel_then_resume_equals_uninterrupted(engine, tmp_path):
    view = View(96, 64, rotation=90.0, zoom=2.0)
    full = ex.read_image(ex.export_image(engine, LATENT, view, tmp_path / "ref.tif", tile=16))
    out = tmp_path / "b.tif"
    calls = {"n": 0}

    def progress(step):
        calls["n"] = step.done

    with pytest.raises(Cancelled):
        ex.export_image(engine, LATENT, view, out, tile=16, progress=progress, cancel=lambda: calls["n"] >= 5)
    assert not out.exists()
    assert list(tmp_path.glob(".b.partial-*")) == []
    kept = sorted(ex.work_dir(out).glob("L0_*.npy"))
    assert len(kept) == 5
    seen = []
    ex.export_image(engine, LATENT, view, out, tile=16, progress=seen.append)
    assert seen[0].done == 5 and seen[0].stage == "rendering tiles"  # the resume starts from the kept tiles
    assert [s.stage for s in seen][-2:] == ["writing", "done"] and seen[-1].path == out
    assert np.array_equal(ex.read_image(out), full)


def test_different_job_never_resumes_wrong_tiles(engine, tmp_path):
    view = View(48, 48)
    out = tmp_path / "c.tif"
    with pytest.raises(Cancelled):
        ex.export_image(engine, LatentSpec(seed=1), view, out, tile=16,
                        cancel=lambda: any(ex.work_dir(out).glob("L0_*.npy")))  # after the first tile
    kept = sorted(ex.work_dir(out).glob("L0_*.npy"))
    assert kept
    with pytest.raises(KeptError, match="--fresh"):  # another job's work is kept until the user discards it
        ex.export_image(engine, LATENT, view, out, tile=16)
    assert sorted(ex.work_dir(out).glob("L0_*.npy")) == kept and not out.exists()
    ex.export_image(engine, LATENT, view, out, tile=16, fresh=True)
    assert np.array_equal(ex.read_image(out), engine.render_u8(LATENT, view))


def test_rerender_from_metadata_is_identical(ckpt, tmp_path):
    model = load_checkpoint(ckpt)
    view = View(60, 36, center=(0.2, 0.9), zoom=3.0, rotation=-20.0)
    first = ex.export_image(model, LATENT, view, tmp_path / "m.tif", tile=32, supersample=2, pyramid=1)
    rec = read_record(first)
    assert rec.checkpoint_sha256 == model.sha256 and rec.supersample == 2
    again = ex.export_image(load_checkpoint(rec.checkpoint), rec.latent, rec.view, tmp_path / "m2.tif",
                            tile=rec.extra["tile"], supersample=rec.supersample, precision=rec.precision)
    assert np.array_equal(ex.read_image(first), ex.read_image(again))
    spec = ex.spec_from_record(rec)
    assert spec.pyramid == 1 and spec.view == view


def test_pyramid_levels(engine, tmp_path):
    import tifffile

    view = View(70, 40)
    out = ex.export_image(engine, LATENT, view, tmp_path / "p.tif", tile=16, pyramid=-1)
    with tifffile.TiffFile(out) as tif:
        levels = [lvl.shape for lvl in tif.series[0].levels]
        half = tif.series[0].levels[1].asarray()
    assert levels == [(40, 70, 3), (20, 35, 3), (10, 18, 3), (5, 9, 3)]  # down to one tile
    full = ex.read_image(out).astype(int)
    box = (full[0::2, 0::2] + full[1::2, 0::2] + full[0::2, 1::2] + full[1::2, 1::2]) / 4
    assert np.abs(half.astype(int) - box).max() <= 1


@pytest.mark.parametrize("kw, match", [
    (dict(view=View(2**31, 4)), "pixels a side"),
    (dict(view=View(70000, 16), fmt="jpeg"), "JPEG"),
    (dict(view=View(50000, 50000), fmt="jpeg"), "memory"),
    (dict(view=View(16, 16), tile=20), "multiple of 16"),
    (dict(view=View(16, 16), supersample=0), "supersample"),
    (dict(view=View(16, 16), fmt="png", pyramid=2), "pyramid"),
])
def test_impossible_jobs_fail_before_work(engine, tmp_path, kw, match):
    spec = ex.ExportSpec(latent=LATENT, **kw)
    with pytest.raises(ValueError, match=match):
        list(ex.export_steps(engine, spec, tmp_path / "x.tif"))
    assert list(tmp_path.iterdir()) == []


def test_zero_and_negative_sizes_are_refused():
    for w, h in ((0, 10), (10, -3)):
        with pytest.raises(ValueError):
            View(w, h)


def test_full_disk_is_a_clear_error(engine, tmp_path, monkeypatch):
    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ex.TileStore, "save", no_space)
    with pytest.raises(DiskFullError, match="full"):
        ex.export_image(engine, LATENT, View(32, 32), tmp_path / "d.tif", tile=16)
    monkeypatch.undo()
    monkeypatch.setattr(writers, "_write_tiff", no_space)
    with pytest.raises(DiskFullError):
        ex.export_image(engine, LATENT, View(32, 32), tmp_path / "d.tif", tile=16)
    assert not (tmp_path / "d.tif").exists()
    assert list(tmp_path.glob(".d.partial-*")) == []


def test_cli_export_and_rerender_from_file(ckpt, tmp_path, capsys):
    from creps_core.cli.main import main

    out = tmp_path / "cli.png"
    assert main(["export", str(out), "-c", str(ckpt), "--size", "40x24", "--seed", "4", "--zoom", "2",
                 "--rotation", "90", "--tile", "16", "-k", "2"]) == 0
    again = tmp_path / "again.tif"
    assert main(["export", str(again), "--from", str(out), "--tile", "32"]) == 0
    assert np.array_equal(ex.read_image(out), ex.read_image(again))
    with pytest.raises(SystemExit) as exit_info:  # SystemExit passes through the host `creps` CLI
        main(["export", str(tmp_path / "bad.tif"), "-c", str(ckpt), "--size", "0x10"])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_foreign_file_has_no_record(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "other.tif", np.zeros((8, 8, 3), np.uint8), description="hello")
    with pytest.raises(ValueError, match="no readable CREPS"):
        read_record(tmp_path / "other.tif")


def test_window_views_are_refused(engine, tmp_path):
    with pytest.raises(ValueError, match="window"):
        ex.export_image(engine, LATENT, View(64, 64).tile(0, 0, 16, 16), tmp_path / "w.tif")


def test_in_memory_generators_never_share_tiles(tmp_path):
    view, out = View(32, 32), tmp_path / "g.tif"
    torch.manual_seed(10)
    first = Engine(CREPSGenerator(TINY), device="cpu")
    with pytest.raises(Cancelled):
        ex.export_image(first, LATENT, view, out, tile=16, cancel=iter([False] * 2 + [True] * 99).__next__)
    torch.manual_seed(11)
    second = Engine(CREPSGenerator(TINY), device="cpu")
    with pytest.raises(KeptError, match="other settings"):
        ex.export_image(second, LATENT, view, out, tile=16)
    ex.export_image(second, LATENT, view, out, tile=16, fresh=True)
    assert np.array_equal(ex.read_image(out), second.render_u8(LATENT, view))


def test_a_record_keeps_the_precision_asked_beside_the_one_that_ran(tmp_path):
    from creps_core.jobs.metadata import RenderRecord, write_png

    record = RenderRecord("m.pkl", "0" * 64, LatentSpec(seed=2), View(4, 4), precision="bf16", precision_asked="auto")
    write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8), record)
    back = read_record(tmp_path / "a.png")
    assert (back.precision, back.precision_asked) == ("bf16", "auto")
    old = RenderRecord("m.pkl", "0" * 64, LatentSpec(seed=2), View(4, 4))  # files written before it was recorded
    assert "precision_asked" not in old.to_json() and RenderRecord.from_json(old.to_json()).precision_asked is None
    hostile = old.to_json().replace('"precision": "fp32"', '"precision": "fp32", "precision_asked": "fp64"')
    with pytest.raises(ValueError, match="precision_asked"):
        RenderRecord.from_json(hostile)
