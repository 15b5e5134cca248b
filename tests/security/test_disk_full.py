"""A disk that fills up during any write ends in one line naming the file, exit 1, nothing under
the final name, no temporary left behind and the input untouched.

The full disk is a file-size limit (RLIMIT_FSIZE) on a child process running the real command:
every write past the limit fails inside the real writers (PIL, tifffile, our PNG stream,
safetensors, ffmpeg), as a full disk would, without root or a special filesystem.  The limit is
above the size of a tile or a frame, so the work files are written and the final file is not.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from ..core_fixtures import tiny_checkpoint

LIMIT = 4000  # bytes per file: more than a 16x16 tile or a 32x32 frame, less than any output below

CHILD = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from creps_core.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("argv,final,work", [
    (["render", "--seeds", "1", "--size", "128x128", "--outdir", "OUT"], "OUT/seed0001.png", None),
    (["convert", "CKPT", "OUT/copy.safetensors"], "OUT/copy.safetensors", None),
    (["export", "OUT/e.tif", "--size", "256x256", "--tile", "16", "--compression", "none"], "OUT/e.tif",
     ".e.tif.partial"),
    (["export", "OUT/e.tif", "--size", "256x256", "--tile", "16", "--pyramid", "2"], "OUT/e.tif", ".e.tif.partial"),
    (["export", "OUT/e.png", "--size", "512x512", "--tile", "32"], "OUT/e.png", ".e.png.partial"),
    (["video", "OUT/v.mp4", "--preset", "orbit", "--size", "32x32", "--frames", "40"], "OUT/v.mp4", ".v.mp4.partial"),
    (["video", "OUT/v.gif", "--preset", "orbit", "--size", "32x32", "--frames", "40"], "OUT/v.gif", ".v.gif.partial"),
], ids=["render", "convert", "export-tiff", "export-tiff-pyramid", "export-png", "video-mp4", "video-gif"])
def test_a_full_disk_gives_one_line_and_leaves_nothing_half_written(tmp_path, argv, final, work):
    ckpt = tiny_checkpoint(tmp_path / "model.safetensors")
    before = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    out = tmp_path / "OUT"
    out.mkdir()
    argv = [a.replace("OUT", str(out)).replace("CKPT", str(ckpt)) for a in argv]
    if argv[0] != "convert":
        argv += ["-c", str(ckpt)]
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run([sys.executable, "-c", CHILD.format(limit=LIMIT), *argv], capture_output=True, text=True,
                         timeout=300, env=env)
    assert run.returncode == 1, (run.returncode, run.stderr[-800:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr[-800:]
    assert str(tmp_path / final) in lines[0] and "was not written" in lines[0]
    assert not (tmp_path / final).exists()
    assert sorted(os.listdir(out)) == ([work] if work else [])  # no temporaries; the work folder kept for a resume
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == before
