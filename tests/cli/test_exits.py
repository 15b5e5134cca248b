"""How `creps` exits: 1 for errors (one line; --debug shows the traceback), 2 for usage, 130 when stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from creps_core.cli.main import main

from .helpers import exit_code


def test_errors_exit_1_with_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["render", "--network", str(tmp_path / "nope.pkl"), "--outdir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "nope.pkl: no such file" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    assert main(["info", str(bad)]) == 1
    assert "bad.safetensors" in capsys.readouterr().err
    with pytest.raises(Exception):  # noqa: B017 -- --debug re-raises whatever the command raised, unchanged
        main(["--debug", "info", str(bad)])


def test_sigterm_stops_a_video_with_status_130_keeping_only_its_finished_frames(tmp_path, ckpt):
    out = tmp_path / "long.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "creps_core.cli", "video", str(out), "-c", str(ckpt),
                             "--preset", "orbit", "--size", "64x64", "--frames", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".long.mp4.partial/L0_*.png")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".long.mp4.partial/L0_*.png")), "the video never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "resume" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == [".long.mp4.partial"]  # only the finished frames, kept for a resume


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
