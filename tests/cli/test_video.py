"""`creps video` like `creps render` and `creps export`: made again from its record, its sidecar as
keyframes, walks through ws files, frames on Dask, a resume store of lossless PNG frames, and the
unfinished work of other settings kept."""

from __future__ import annotations

import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from creps_core.jobs.workdir import TileStore, work_dir

from .helpers import exit_code


def frames_of(path: Path) -> list[np.ndarray]:
    return [np.asarray(f) for f in iio.imiter(path)]


def pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)).astype(int) for p in sorted(folder.glob("*.png"))]


def video(tmp_path: Path, ckpt: Path, out: str, *extra: str) -> int:
    return exit_code(["video", str(tmp_path / out), "-c", str(ckpt), "--size", "32x32", *extra])


def interrupt_after(monkeypatch, frames: int) -> None:
    """Stop the next video (as Ctrl-C would) once ``frames`` frames are stored."""
    saved = []
    real_save = TileStore.save

    def save(self, *args) -> None:
        if len(saved) == frames:
            raise KeyboardInterrupt
        real_save(self, *args)
        saved.append(args)

    monkeypatch.setattr(TileStore, "save", save)


ZOOM = ("--preset", "zoom", "--factor", "3", "--frames", "8")


def test_a_video_is_made_again_from_the_video_its_sidecar_or_a_frame(tmp_path, ckpt, capsys):
    assert video(tmp_path, ckpt, "a.gif", *ZOOM) == 0
    first = frames_of(tmp_path / "a.gif")
    assert exit_code(["video", str(tmp_path / "b.gif"), "--from", str(tmp_path / "a.gif")]) == 0
    assert exit_code(["video", str(tmp_path / "c.gif"), "--from", str(tmp_path / "a.gif.json")]) == 0
    assert all(np.array_equal(x, y) for x, y in zip(first, frames_of(tmp_path / "b.gif")))
    assert all(np.array_equal(x, y) for x, y in zip(first, frames_of(tmp_path / "c.gif")))
    # numbered PNG frames carry the whole video's record: one of them makes the video again
    assert video(tmp_path, ckpt, "seq/%02d.png", *ZOOM) == 0
    assert exit_code(["video", str(tmp_path / "d/%02d.png"), "--from", str(tmp_path / "seq/03.png")]) == 0
    assert [f.tolist() for f in pngs(tmp_path / "d")] == [f.tolist() for f in pngs(tmp_path / "seq")]
    # options change it: here its length
    assert exit_code(["video", str(tmp_path / "e.gif"), "--from", str(tmp_path / "a.gif"), "--frames", "3"]) == 0
    assert len(frames_of(tmp_path / "e.gif")) == 3
    capsys.readouterr()


def test_from_refuses_an_image_and_options_that_make_another_video(tmp_path, ckpt, capsys):
    assert exit_code(["render", "-c", str(ckpt), "--outdir", str(tmp_path), "--seeds", "1"]) == 0
    capsys.readouterr()
    assert exit_code(["video", str(tmp_path / "v.gif"), "--from", str(tmp_path / "seed0001.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a video's" in err and "creps render" in err
    assert video(tmp_path, ckpt, "a.gif", *ZOOM) == 0
    capsys.readouterr()
    assert exit_code(["video", str(tmp_path / "v.gif"), "--from", str(tmp_path / "a.gif"), "--preset", "orbit"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--preset would make another one" in err
    assert not (tmp_path / "v.gif").exists()


def test_keyframes_take_a_videos_own_sidecar(tmp_path, ckpt, capsys):
    assert video(tmp_path, ckpt, "a.gif", "--preset", "orbit", "--frames", "6") == 0
    assert video(tmp_path, ckpt, "b.gif", "--keyframes", str(tmp_path / "a.gif.json"), "--frames", "6") == 0
    assert all(np.array_equal(x, y) for x, y in zip(frames_of(tmp_path / "a.gif"), frames_of(tmp_path / "b.gif")))
    capsys.readouterr()


@pytest.mark.parametrize("mode", ["lerp", "spline"])
def test_a_walk_through_ws_files_is_the_walk_through_their_seeds(tmp_path, ckpt, capsys, mode):
    """ws files of seeds 1-3 (as a projector writes them: 'w' [1, num_ws, w_dim]) walk as the seeds do."""
    assert exit_code(["render", "-c", str(ckpt), "--seeds", "1-3", "--save-ws", "--outdir", str(tmp_path / "ws"),
                      "--size", "32x32"]) == 0
    with np.load(tmp_path / "ws" / "seed0002.npz") as f:
        assert f["w"].ndim == 3 and f["w"].shape[0] == 1
    walk = ("--preset", "walk", "--frames", "9", "--loop", "--latent-mode", mode)
    ws = [a for s in (1, 2, 3) for a in ("--ws", str(tmp_path / "ws" / f"seed000{s}.npz"))]
    assert video(tmp_path, ckpt, "files/%02d.png", *walk, *ws) == 0
    assert video(tmp_path, ckpt, "seeds/%02d.png", *walk, "--seeds", "1-3") == 0
    by_files, by_seeds = pngs(tmp_path / "files"), pngs(tmp_path / "seeds")
    assert len(by_files) == 9 and max(np.abs(a - b).max() for a, b in zip(by_files, by_seeds)) <= 1
    assert not np.array_equal(by_files[0], by_files[2])  # it moves
    capsys.readouterr()


def test_several_ws_files_walk_only_with_the_walk_preset(tmp_path, ckpt, capsys):
    assert exit_code(["render", "-c", str(ckpt), "--seeds", "1-2", "--save-ws", "--outdir", str(tmp_path)]) == 0
    ws = ["--ws", str(tmp_path / "seed0001.npz"), "--ws", str(tmp_path / "seed0002.npz")]
    capsys.readouterr()
    for argv, message in (([*ws, "--preset", "zoom"], "add --preset walk"),
                          ([*ws, "--preset", "walk", "--seeds", "1-2"], "not both")):
        assert video(tmp_path, ckpt, "v.gif", *argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err


def test_frames_on_a_dask_cluster_resume_and_encode_in_order(tmp_path, ckpt, capsys, monkeypatch):
    """Part of a walk is rendered here and interrupted; the rest on two Dask worker processes: the
    video equals one rendered whole in this process."""
    walk = ("--preset", "walk", "--seeds", "1-3", "--frames", "10", "--loop")
    assert video(tmp_path, ckpt, "whole.gif", *walk) == 0
    with monkeypatch.context() as m:
        interrupt_after(m, 3)
        assert video(tmp_path, ckpt, "dask.gif", *walk) == 130
    assert len(list(work_dir(tmp_path / "dask.gif").glob("L0_*.png"))) == 3
    capsys.readouterr()
    assert video(tmp_path, ckpt, "dask.gif", *walk, "--workers", "2") == 0
    assert "resuming: 3 of 10 frames" in capsys.readouterr().err
    whole, dask = frames_of(tmp_path / "whole.gif"), frames_of(tmp_path / "dask.gif")
    assert len(dask) == 10 and all(np.array_equal(x, y) for x, y in zip(whole, dask))
    assert not work_dir(tmp_path / "dask.gif").exists()


@pytest.mark.parametrize("command", [["video", "v.mp4", "--preset", "walk"], ["export", "p.tif", "--size", "64x64"]])
def test_workers_without_the_cluster_extra_is_one_line_naming_it(tmp_path, capsys, monkeypatch, command):
    """Refused before the model loads (the checkpoint named here does not even exist)."""
    monkeypatch.setitem(sys.modules, "distributed", None)  # as on an install without the [cluster] extra
    argv = [command[0], str(tmp_path / command[1]), *command[2:], "-c", str(tmp_path / "none.pkl"), "--workers", "2"]
    assert exit_code(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "creps-explorer[cluster]"' in err
    assert list(tmp_path.iterdir()) == []


def test_the_resume_store_keeps_lossless_compressed_frames(tmp_path, capsys, monkeypatch):
    """The demo model's frames as PNGs in the work folder: the same pixels, a fraction of their raw size."""
    argv = ["video", str(tmp_path / "z.mp4"), "--network", "demo:photos", "--preset", "zoom", "--factor", "4",
            "--size", "128x128", "--frames", "6"]
    with monkeypatch.context() as m:
        interrupt_after(m, 4)
        assert exit_code(argv) == 130
    stored = sorted(work_dir(tmp_path / "z.mp4").glob("L0_*"))
    assert [p.suffix for p in stored] == [".png"] * 4
    assert sum(p.stat().st_size for p in stored) < 0.6 * 4 * 128 * 128 * 3
    assert exit_code(argv) == 0  # and the video resumes from them
    capsys.readouterr()


def test_a_store_of_raw_frames_resumes_and_a_frame_cut_short_is_rendered_again(tmp_path, ckpt, capsys, monkeypatch):
    walk = ("--preset", "walk", "--seeds", "4-5", "--frames", "8", "--loop")
    assert video(tmp_path, ckpt, "whole.gif", *walk) == 0
    with monkeypatch.context() as m:
        interrupt_after(m, 4)
        assert video(tmp_path, ckpt, "v.gif", *walk) == 130
    wd = work_dir(tmp_path / "v.gif")
    frames = sorted(wd.glob("L0_*.png"))
    for png in frames[:3]:  # the raw .npy frames an earlier version kept
        np.save(png.with_suffix(".npy"), np.asarray(Image.open(png)))
        png.unlink()
    frames[3].write_bytes(frames[3].read_bytes()[:200])  # a frame cut short
    capsys.readouterr()
    assert video(tmp_path, ckpt, "v.gif", *walk) == 0
    assert "resuming: 3 of 8 frames" in capsys.readouterr().err
    assert all(np.array_equal(x, y) for x, y in zip(frames_of(tmp_path / "whole.gif"), frames_of(tmp_path / "v.gif")))


def test_unfinished_frames_of_other_settings_are_kept_until_fresh(tmp_path, ckpt, capsys, monkeypatch):
    with monkeypatch.context() as m:
        interrupt_after(m, 2)
        assert video(tmp_path, ckpt, "v.mp4", *ZOOM) == 130
    wd = work_dir(tmp_path / "v.mp4")
    before = sorted((p.name, p.stat().st_size) for p in wd.iterdir())
    capsys.readouterr()
    assert video(tmp_path, ckpt, "v.mp4", "--preset", "zoom", "--factor", "5", "--frames", "8") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(wd) in err and "pass --fresh to discard it" in err
    assert sorted((p.name, p.stat().st_size) for p in wd.iterdir()) == before
    assert not (tmp_path / "v.mp4").exists()
    assert video(tmp_path, ckpt, "v.mp4", "--preset", "zoom", "--factor", "5", "--frames", "8", "--fresh") == 0
    assert len(frames_of(tmp_path / "v.mp4")) == 8 and not wd.exists()
