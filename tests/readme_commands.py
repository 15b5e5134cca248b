"""Every `creps ...` command in README.md's code blocks, as a test runs them (each must exit 0), in README order, in one
folder, so a command that reads what an earlier one wrote (`--from out/seed0005.png`) finds it.

The commands are parsed from README.md itself, so the README cannot drift from the program.  What a
2-core machine cannot do in a test run is shrunk by one small, fixed table (:func:`shrink`), the
same for every command; nothing else is changed:

=====================================  ================================================================
README says                            the test runs
=====================================  ================================================================
``ffhq256.pkl`` (a file you have)      the shipped demo model's weights written as an official pickle
                                       of that name (the safe unpickler reads it as it reads FFHQ's)
``--size WxH``                         ``--size 64x64``
every ``creps video``                  ``--frames 2`` added
``--kimg K``                           ``--kimg 0.004 --batch 4`` (one minibatch), so a snapshot named
                                       ``snapshot-KKKKKK`` is ``snapshot-000000``
``--steps N`` (a fit, a projection)    ``--steps 2``, so ``snapshot-stepNNNNNNN`` is ``snapshot-step0000002``
``--res R`` / ``--crop C`` (training)   ``--res 32`` / ``--crop 16``
``--count N`` of ``creps demo-data``   ``--count 8``
``--device cuda`` (the GPU recipe)     ``--device cpu``
``--workers 2``                        ``--workers 1`` (one Dask worker process to start, not two)
a layer range ``A-B`` past layer 10    ``A-10``: the demo model has 11 ws (FFHQ 256 has 14)
=====================================  ================================================================

The other files the README assumes you have are made first: ``smile_boundary.npy`` (an InterfaceGAN
boundary, [1, w_dim]), ``projected_w.npz`` (a projector's ``w`` [1, num_ws, w_dim]) and ``photo.jpg``
(a picture of yours: one of the demo model's, 96x80).

Run as a script (``python -m tests.readme_commands``), it runs them with the ``creps`` installed beside
this Python (CI: a fresh ``pip install ".[demo-data]"``, the wheel's files without the test extras, as
the README's training block installs it) in a temporary folder, each in its own process; ``--workers``
may then end in exit 1 and one line naming the ``[cluster]`` extra, as it must where that extra is
not installed.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from creps_core.latent.files import save_ws
from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import open_model
from creps_core.render.engine import Engine
from creps_core.render.views import View

from .official_pickle import write_official_pickle

README = Path(__file__).resolve().parents[1] / "README.md"
DEMO_LAST_LAYER = 10


def readme_blocks(text: str) -> list[list[list[str]]]:
    """The argv of every `creps ...` line of each of the README's bash code blocks (continuations
    joined, comments dropped), in order; blocks without one are left out."""
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        commands = []
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["creps"]:
                commands.append(words[1:])
        if commands:
            blocks.append(commands)
    return blocks


def readme_commands(text: str) -> list[list[str]]:
    return [argv for block in readme_blocks(text) for argv in block]


def _split_equals(argv: list[str]) -> list[str]:
    """``--opt=value`` as ``--opt value`` (argparse reads both; the table matches one)."""
    out = []
    for word in argv:
        if word.startswith("--") and "=" in word:
            out += word.split("=", 1)
        else:
            out.append(word)
    return out


def _clip_layers(value: str) -> str:
    """A layer range's last layer clipped to the demo model's (in ranges and FILE:INDEX:AMOUNT:A-B)."""
    def clip(m: re.Match) -> str:
        return f"{m[1]}-{min(int(m[2]), DEMO_LAST_LAYER)}"

    return re.sub(r"(?<![\w.])(\d+)-(\d+)$", clip, value)


def shrink(argv: list[str]) -> list[str]:
    """The README's command, small enough for a test on 2 cores (the table of the module docstring)."""
    argv = _split_equals(argv)
    out: list[str] = []
    options = iter(argv)
    for word in options:
        if word in SHRINK_VALUES and argv[0] in ONLY_IN.get(word, (argv[0],)):
            next(options)
            out += SHRINK_VALUES[word]
        elif word == "--device":
            out += [word, next(options).replace("cuda", "cpu")]
        elif word in ("--layers", "--mix", "--direction", "--change"):
            out += [word, _clip_layers(next(options))]
        else:
            out.append(re.sub(r"snapshot-step\d{7}", "snapshot-step0000002",
                              re.sub(r"snapshot-\d{6}", "snapshot-000000", word)))
    if argv[0] == "video":
        out += ["--frames", "2"]
    return out


# option -> what replaces it and its value; ONLY_IN: the commands where it is replaced (else every one)
SHRINK_VALUES = {"--size": ["--size", "64x64"], "--kimg": ["--kimg", "0.004", "--batch", "4"],
                 "--steps": ["--steps", "2"], "--count": ["--count", "8"], "--res": ["--res", "32"],
                 "--crop": ["--crop", "16"], "--workers": ["--workers", "1"]}
ONLY_IN = {"--count": ("demo-data",), "--res": ("train",), "--crop": ("train",)}


def prepare_folder(folder: Path) -> Path:
    """Write into ``folder`` the files the README assumes a user has; every block runs in it, in order."""
    model = open_model("demo:photos")
    cfg = model.cfg
    assert (cfg.num_ws - 1, cfg.rank, cfg.bandwidth) == (DEMO_LAST_LAYER, 8, 10.0)
    kwargs = {"z_dim": cfg.z_dim, "w_dim": cfg.w_dim, "c_dim": cfg.c_dim, "img_resolution": cfg.img_resolution,
              "img_channels": cfg.img_channels, "mapping_kwargs": {"num_layers": cfg.mapping_layers},
              "channel_base": cfg.channel_base, "channel_max": cfg.channel_max,
              "biline_channels": cfg.biline_channels}
    write_official_pickle(folder / "ffhq256.pkl", model.state, kwargs)
    rng = np.random.default_rng(0)
    np.save(folder / "smile_boundary.npy", rng.standard_normal((1, cfg.w_dim)).astype(np.float32))
    engine = Engine(model, device="cpu")
    save_ws(folder / "projected_w.npz", engine.ws(LatentSpec(seed=5)).cpu().numpy())
    Image.fromarray(engine.render_u8(LatentSpec(seed=3), View(96, 80))).save(folder / "photo.jpg", quality=90)
    return folder



BLOCKS = readme_blocks(README.read_text())


def refused_for_the_extra(argv: list[str], code: int, err: list[str]) -> bool:
    """A cluster command on an install without the [cluster] extra: exit 1, one line naming it."""
    return "--workers" in argv and code == 1 and len(err) == 1 and "[cluster]" in err[0]


def main() -> int:
    """Every README command through the installed ``creps``; prints one line per command."""
    bin_dir = Path(sys.executable).parent
    creps = bin_dir / ("creps.exe" if sys.platform == "win32" else "creps")
    if not creps.is_file():
        print(f"no creps beside {sys.executable}: install the project first (pip install .)")
        return 2
    has_cluster = importlib.util.find_spec("distributed") is not None
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = prepare_folder(Path(tmp))
        for argv in (a for block in BLOCKS for a in block):
            ran = shrink(argv)
            proc = subprocess.run([str(creps), *ran], cwd=folder, capture_output=True, text=True, check=False)
            err = [line for line in proc.stderr.strip().splitlines() if line.strip()]
            ok = proc.returncode == 0 or (not has_cluster and refused_for_the_extra(ran, proc.returncode, err))
            failed += not ok
            said = f" -> exit {proc.returncode}: {err[-1] if err else ''}" if proc.returncode else ""
            print(f"{'ok  ' if ok else 'FAIL'} creps {shlex.join(ran)}{said}", flush=True)
    print(f"{failed} of {sum(map(len, BLOCKS))} README commands failed" if failed else
          f"all {sum(map(len, BLOCKS))} README commands ran")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
