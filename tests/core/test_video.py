"""Keyframed videos: interpolation rules, presets, encoded frame counts and sizes, cancel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from creps_core.jobs import video as vid
from creps_core.jobs.metadata import read_record
from creps_core.jobs.workdir import work_dir
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint
from creps_core.model.network import CREPSGenerator
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View, Warp

from ..core_fixtures import TINY


@pytest.fixture(scope="module")
def engine():
    torch.manual_seed(2)
    return Engine(CREPSGenerator(TINY), device="cpu")


VIEW = View(48, 32)  # width 48, height 32
ROOT = Path(__file__).resolve().parents[2]


def count_frames(path) -> tuple[int, tuple[int, ...]]:
    n, shape = 0, None
    for frame in iio.imiter(path):
        n, shape = n + 1, frame.shape
    return n, shape


@pytest.mark.parametrize("name", ["a.mp4", "a.webm", "a.gif"])
def test_video_decodes_to_n_frames_of_right_size(engine, tmp_path, name):
    kfs = vid.zoom_into(VIEW, LatentSpec(seed=1), point=(0.3, 0.6), factor=4.0, duration=0.5)
    seen = []
    out = vid.render_video(engine, kfs, tmp_path / name, fps=10, progress=lambda p: seen.append((p.done, p.total)))
    spec = vid.VideoSpec(tuple(kfs), 48, 32, fps=10)
    assert spec.n_frames == 5 and seen[-1] == (5, 5)  # round(0.5 s x 10 fps)
    assert count_frames(out) == (5, (32, 48, 3))
    rec = read_record(out.with_name(out.name + ".json"))
    assert rec.extra["frames"] == 5 and vid.VideoSpec.from_dict(rec.extra["video"]) == spec
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, name + ".json"])  # no temporaries left


def test_frames_match_engine_renders(engine, tmp_path):
    kfs = vid.latent_walk(VIEW, [1, 2, 3], seconds_per_seed=0.3)
    spec = vid.VideoSpec(tuple(kfs), 48, 32, fps=10, latent_mode="spline", loop=True)
    frames = list(vid.frames(engine, spec))
    assert len(frames) == spec.n_frames == 9
    # the spline passes through every keyframe's ws
    for k, i in enumerate((0, 3, 6)):
        assert torch.allclose(frames[i].latent, engine.ws(LatentSpec(seed=k + 1)), atol=1e-5)
    out = vid.render_video(engine, kfs, tmp_path / "w.gif", fps=10, latent_mode="spline", loop=True)
    decoded = list(iio.imiter(out))
    assert len(decoded) == 9 and decoded[0].shape[:2] == (32, 48)


def test_view_interpolation_rules():
    a = View(64, 64, center=(0.2, 0.2), zoom=1.0, rotation=350.0)
    b = a.with_(center=(0.6, 0.8), zoom=16.0, rotation=10.0)
    mid = vid.interp_view(a, b, 0.5)
    assert mid.zoom == pytest.approx(4.0)  # log scale
    assert mid.rotation % 360 == pytest.approx(0.0)  # shortest arc: 350 -> 360 -> 370
    # the shared fixed point of the zoom stays on the same screen position
    p = [(ca * 1.0 - cb * 16.0) / (1.0 - 16.0) for ca, cb in zip(a.center, b.center)]
    for t in (0.0, 0.3, 0.7, 1.0):
        v = vid.interp_view(a, b, t)
        on_screen = [(pi - ci) * v.zoom for pi, ci in zip(p, v.center)]
        assert on_screen == pytest.approx([(pi - ci) * a.zoom for pi, ci in zip(p, a.center)])
    assert vid.interp_view(a, b, 1.0).center == pytest.approx(b.center)
    same_zoom = vid.interp_view(a, a.with_(center=(0.4, 0.2)), 0.25)
    assert same_zoom.center == pytest.approx((0.25, 0.2))
    w = vid.interp_view(a.with_(warp=Warp("swirl", 0.0)), a.with_(warp=Warp("swirl", 2.0)), 0.5).warp
    assert w.kind == "swirl" and w.strength == pytest.approx(1.0)


def test_easing_and_latent_interpolation(engine):
    for f in vid.EASINGS.values():
        assert f(0.0) == pytest.approx(0.0) and f(1.0) == pytest.approx(1.0)
    a, b = LatentSpec(seed=1, psi=0.5), LatentSpec(seed=2, psi=0.5)
    half = vid.interp_latent(engine, a, b, 0.5, "slerp")
    assert half == LatentSpec(seed=1, psi=0.5, interp_seed=2, interp_t=0.5, interp_space="z")
    mixed = vid.interp_latent(engine, a, LatentSpec(seed=2, psi=0.9), 0.5, "lerp")
    assert torch.allclose(mixed, (engine.ws(a) + engine.ws(LatentSpec(seed=2, psi=0.9))) / 2)


def test_orbit_and_pan_presets(engine):
    kfs = vid.orbit(VIEW, LatentSpec(), turns=1.0, duration=4.0)
    assert [k.view.rotation for k in kfs] == [0.0, 90.0, 180.0, 270.0, 360.0]
    spec = vid.VideoSpec(tuple(kfs), 48, 32, fps=4)
    rots = [f.view.rotation for f in vid.frames(engine, spec)]
    assert len(rots) == 16 and rots[0] == 0 and rots[-1] == 360  # round(4 s x 4 fps), ending on the last keyframe
    assert np.allclose(np.diff(rots), 24.0)  # linear: constant angular speed across segments
    pans = vid.pan(VIEW, LatentSpec(), to_center=(0.5, 0.9))
    assert all(k.view.snap for k in pans)
    assert len(vid.record(pans, VIEW, LatentSpec(seed=9))) == 3


def test_bad_sizes_and_cancel(engine, tmp_path):
    kfs = vid.pan(View(40, 30), LatentSpec(), to_center=(0.5, 0.7), duration=1.0)
    with pytest.raises(ValueError, match="multiples of 16"):
        vid.render_video(engine, kfs, tmp_path / "x.mp4")
    assert vid.fit_video_size(40, 30) == (48, 32)
    with pytest.raises(Cancelled):
        vid.render_video(engine, kfs, tmp_path / "x.mp4", width=48, height=32, fps=10,
                         progress=lambda p: None, cancel=iter([False] * 3 + [True] * 999).__next__)
    assert [p.name for p in tmp_path.iterdir()] == [".x.mp4.partial"]  # finished frames, kept for a resume


def test_cli_video_preset_and_spec_round_trip(tmp_path):
    from creps_core.cli.main import main
    from creps_core.model.checkpoint import save_safetensors

    ckpt = save_safetensors(tmp_path / "tiny.safetensors", TINY, CREPSGenerator(TINY).state_dict())
    out, spec = tmp_path / "walk.mp4", tmp_path / "walk.json"
    assert main(["video", str(out), "-c", str(ckpt), "--preset", "walk", "--seeds", "1,2", "--size", "32x16",
                 "--duration", "0.3", "--fps", "10", "--save-spec", str(spec)]) == 0
    assert count_frames(out) == (3, (16, 32, 3))  # round(0.3 s x 10 fps)
    again = tmp_path / "again.gif"
    assert main(["video", str(again), "-c", str(ckpt), "--keyframes", str(spec)]) == 0
    assert count_frames(again)[0] == 3
    assert main(["video", str(tmp_path / "odd.mp4"), "-c", str(ckpt), "--preset", "zoom", "--size", "30x30"]) == 1
    assert not (tmp_path / "odd.mp4").exists()


def test_snapped_pan_frames_reuse_lines(engine):
    kfs = vid.pan(VIEW, LatentSpec(seed=4), to_center=(0.5, 0.8), duration=1.0, easing="linear")
    spec = vid.VideoSpec(tuple(kfs), 48, 32, fps=8)
    engine.stats.reset()
    for frame in vid.frames(engine, spec):
        engine.render(frame.latent, frame.view)
    assert engine.stats.programs_compiled <= 1  # one latent: compiled once for the whole video
    assert engine.stats.line_coords_reused > engine.stats.line_coords_computed  # rows/columns shared across frames


def test_frame_at_matches_frames_and_single_keyframe(engine):
    kfs = vid.zoom_into(VIEW, LatentSpec(seed=1), point=(0.3, 0.6), factor=4.0, duration=0.5)
    spec = vid.VideoSpec(tuple(kfs), 48, 32, fps=10)
    all_frames = list(vid.frames(engine, spec))
    assert vid.frame_at(engine, spec, 3).view == all_frames[3].view
    still = vid.VideoSpec((kfs[0],), 48, 32)
    assert still.n_frames == 1 and vid.frame_at(engine, still, 0).latent == LatentSpec(seed=1)
    with pytest.raises(ValueError):
        vid.frame_at(engine, spec, spec.n_frames)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    from creps_core.model.checkpoint import save_safetensors

    torch.manual_seed(3)
    return save_safetensors(tmp_path_factory.mktemp("m") / "tiny.safetensors", TINY, CREPSGenerator(TINY).state_dict())


@pytest.mark.parametrize("timing,frames", [(["--frames", "7"], 7), (["--duration", "1", "--fps", "24"], 24),
                                           (["--duration", "0.5", "--fps", "5", "--loop"], 5)])
def test_cli_frame_counts_are_exact(tmp_path, tiny_file, timing, frames):
    from creps_core.cli.main import main

    out = tmp_path / "z.mp4"
    assert main(["video", str(out), "-c", str(tiny_file), "--preset", "zoom", "--factor", "4", "--size", "16x16",
                 *timing]) == 0
    assert count_frames(out) == (frames, (16, 16, 3))


def test_cli_without_a_preset_lists_the_presets(tmp_path, tiny_file, capsys):
    from creps_core.cli.main import main

    assert main(["video", str(tmp_path / "x.mp4"), "-c", str(tiny_file)]) == 2
    err = capsys.readouterr().err
    assert all(p in err for p in ("zoom", "orbit", "pan", "walk")) and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_official_gen_video_command(tmp_path, tiny_file):
    """gen_video.py options: a 2x1 grid of looping walks, 2 keyframes x 3 frames, at the model's size."""
    from creps_core.cli.main import main

    out = tmp_path / "lerp.gif"
    assert main(["video", f"--output={out}", "--trunc=1", "--seeds=0-3", "--grid=2x1", "--w-frames=3",
                 "--kind=linear", f"--network={tiny_file}"]) == 0
    n, shape = count_frames(out)
    assert (n, shape) == (6, (32, 64, 3))
    rec = read_record(out.with_name(out.name + ".json"))
    cells = [vid.VideoSpec.from_dict(c) for c in rec.extra["cells"]]
    assert [[k.latent.seed for k in c.keyframes] for c in cells] == [[0, 1], [2, 3]]  # as gen_video.py
    assert all(c.loop and c.latent_mode == "lerp" and c.fps == 60 for c in cells)
    # frame 0 of each cell is its first keyframe: the left half is seed 0, the right half seed 2
    # (through the GIF palette: nearest of the two wins)
    engine = Engine(load_checkpoint(tiny_file), device="cpu")
    first = next(iio.imiter(out)).astype(int)
    refs = {seed: engine.render_u8(LatentSpec(seed=seed), View(32, 32)).astype(int) for seed in (0, 2)}
    for half, seed, other in ((first[:, :32], 0, 2), (first[:, 32:], 2, 0)):
        assert np.abs(half - refs[seed]).mean() < 0.6 * np.abs(half - refs[other]).mean()


def test_a_cancelled_video_resumes_from_its_finished_frames(engine, tmp_path):
    kfs = vid.zoom_into(VIEW, LatentSpec(seed=4), point=(0.4, 0.6), factor=3.0, duration=1.0)
    whole = vid.render_video(engine, kfs, tmp_path / "whole.gif", fps=8)
    out = tmp_path / "part.gif"
    made = []
    with pytest.raises(Cancelled):
        vid.render_video(engine, kfs, out, fps=8, progress=made.append,
                         cancel=lambda: sum(p.stage == "rendering frames" for p in made) > 4)
    assert not out.exists() and len(list(work_dir(out).glob("L0_*.png"))) == 4
    before = engine.stats.pixels_rendered
    seen = []
    vid.render_video(engine, kfs, out, fps=8, progress=seen.append)
    assert seen[0].done == 4 and "resuming" in seen[0].note
    assert engine.stats.pixels_rendered - before == (8 - 4) * 48 * 32  # only the missing frames
    assert [f.tolist() for f in iio.imiter(out)] == [f.tolist() for f in iio.imiter(whole)]
    assert not work_dir(out).exists()


def test_the_keyframes_load_without_the_encoder():
    """The explorer keeps its keyframes in these records: importing them must not start imageio."""
    code = "import sys; import creps_core.jobs.video; sys.exit('imageio' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode == 0
