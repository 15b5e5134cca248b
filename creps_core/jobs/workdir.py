"""Work folders: the finished pieces of a resumable job (export tiles, video frames) kept on disk.

A job's work folder ``.NAME.partial/`` sits beside its output.  A manifest names the job (a hash
of everything that decides its pixels), so a killed or cancelled job resumes by skipping the
pieces it finds, and a different job (other settings, another model: :func:`model_identity`)
never reuses them.  Exports and videos share it: both are
a list of independent pieces, written one by one and assembled at the end.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from creps_core.io.safe_files import (
    DiskFullError,
    atomic_write,
    is_real_dir,
    is_regular_file,
    private_dir,
    work_subfolder,
)
from creps_core.io.untrusted import read_json
from creps_core.jobs.outputs import KeptError

if TYPE_CHECKING:  # only its attributes are read: this module stays free of torch
    from creps_core.render.engine import Engine

MAX_MANIFEST_BYTES = 1 << 20  # a work folder's manifest is a few hundred bytes of our own JSON


class NotEnoughSpace(DiskFullError):
    """Refused before any work: the job's intermediate files cannot fit on the disk."""


def model_identity(engine: Engine) -> str:
    """What decides an engine's pixels besides the job: the checkpoint (or in-memory weights) and
    which generator of it.  Resumable work (tiles, video frames) is keyed by it."""
    model = engine.model
    sha256, network = (model.sha256, model.network) if model is not None else ("", "G_ema")
    return f"{sha256 or _weights_hash(engine)}:{network}"


def _weights_hash(engine: Engine) -> str:
    """Identity of an in-memory generator (no checkpoint file), so resumes never mix models."""
    h = hashlib.sha256()
    for name, tensor in sorted(engine.g.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return "weights:" + h.hexdigest()


def work_dir(out_path: Path) -> Path:
    return out_path.with_name(f".{out_path.name}.partial")


class TileStore:
    """Finished tiles of one job on disk (one file per tile and level) plus a manifest.

    Files are written under a temporary name and renamed, so a kill never leaves a
    half-written tile that a resume would trust; a tile cut short some other way is found by
    its size (``.npy``) or its missing end (``.png``) and re-rendered.  The work of another job
    (hours of tiles or frames, perhaps) is never resumed from and never discarded unasked:
    ``fresh`` discards it, else it is kept and the job refused (KeptError).

    ``compressed`` stores each piece as a PNG (lossless, zlib-compressed: a video's frames
    take a fraction of their raw size, and there are hundreds of them) instead of a raw
    ``.npy`` (an export's tiles: read back many times while a pyramid is cut, so kept raw).
    A compressed store still resumes from raw pieces an earlier version left there.
    """

    def __init__(self, root: Path, job_hash: str, describe: dict, fresh: bool = False,
                 what: str = "an export", compressed: bool = False) -> None:
        self.root = private_dir(root)  # never a link or another user's folder
        self.discarded: list[str] = []  # damaged tiles found and removed (re-rendered)
        self.suffix = ".png" if compressed else ".npy"
        manifest = root / "manifest.json"
        if fresh:
            shutil.rmtree(root)
            private_dir(root)
        elif is_regular_file(manifest) and _job_of(manifest) != job_hash:
            raise KeptError(f"{root} holds the unfinished work of {what} with other settings: it is kept", "fresh")
        if not is_regular_file(manifest):
            atomic_write(manifest, json.dumps({"job": job_hash, **describe}, indent=1).encode())

    def path(self, level: int, ti: int, tj: int, suffix: str | None = None) -> Path:
        return self.root / f"L{level}_{ti}_{tj}{suffix or self.suffix}"

    def has(self, level: int, ti: int, tj: int, shape: tuple[int, int]) -> bool:
        """A whole finished tile of this shape is there (in this store's form, or raw); anything else
        under its names is removed."""
        found = False
        for suffix in dict.fromkeys((self.suffix, ".npy")):
            path = self.path(level, ti, tj, suffix)
            if found or not os.path.lexists(path):
                continue
            if is_regular_file(path) and _whole(path, shape):
                found = True
                continue
            path.unlink()
            self.discarded.append(path.name)
        return found

    def save(self, level: int, ti: int, tj: int, pixels: np.ndarray) -> None:
        """Write a tile; the work folder is checked first (still a real folder, never re-created)."""
        work_subfolder(self.root)
        if self.suffix == ".png":
            from PIL import Image

            # zlib level 1: a third of the raw size for the demo model's frames, about a quarter of the time
            # of Pillow's default level 6 (which saves a further fifth); the store is temporary
            atomic_write(self.path(level, ti, tj),
                         lambda f: Image.fromarray(pixels).save(f, format="PNG", compress_level=1))
        else:
            atomic_write(self.path(level, ti, tj), lambda f: np.save(f, pixels))

    def load(self, level: int, ti: int, tj: int) -> np.ndarray:
        """A stored tile; FileNotFoundError when it is gone (perhaps another process finished the job)."""
        path = self.path(level, ti, tj)
        if self.suffix != ".npy" and not os.path.lexists(path):
            path = self.path(level, ti, tj, ".npy")  # a raw piece an earlier version stored
        if not os.path.lexists(path):
            raise FileNotFoundError(errno.ENOENT, f"{path}: missing; run the export again to re-render it")
        if not is_regular_file(path):
            raise ValueError(f"{path}: not a plain file; run the export again to re-render it")
        try:
            tile = _read_png(path) if path.suffix == ".png" else np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"{path}: a damaged tile ({e}); run the export again to re-render it") from None
        if tile.dtype != np.uint8 or tile.ndim != 3 or tile.shape[2] != 3:
            raise ValueError(f"{path}: not an RGB tile; delete it and run the export again")
        return tile

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def remove_finished_work(root: Path, job_hash: str) -> None:
    """Remove what is left of a work folder whose job another process finished (a tile written here
    while the other removed the folder), unless another job has taken the name meanwhile."""
    manifest = root / "manifest.json"
    if is_real_dir(root) and (not os.path.lexists(manifest) or _job_of(manifest) == job_hash):
        shutil.rmtree(root, ignore_errors=True)


def _job_of(manifest: Path) -> str | None:
    """The job hash a work folder's manifest names (None when it cannot be read)."""
    try:
        data = read_json(manifest, MAX_MANIFEST_BYTES)
    except (OSError, ValueError):
        return None
    job = data.get("job") if isinstance(data, dict) else None
    return job if isinstance(job, str) else None


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int] | None:
    """(shape, dtype, the file size they call for) from a .npy header, without reading the data;
    None if unreadable.  A file of another size was cut short (or padded): not a whole tile."""
    try:
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            size = f.tell() + math.prod(shape) * dtype.itemsize
        return (tuple(shape), dtype, size) if not fortran else None
    except (OSError, ValueError):
        return None


PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last chunk of every whole PNG


def _whole(path: Path, shape: tuple[int, int]) -> bool:
    """A whole RGB piece of ``shape`` (rows, columns), from its header and size (``.npy``) or its
    header and last chunk (``.png``), without decoding it."""
    if path.suffix == ".npy":
        return _npy_header(path) == ((shape[0], shape[1], 3), np.dtype(np.uint8), path.stat().st_size)
    try:
        with open(path, "rb") as f:
            head = f.read(26)
            f.seek(-len(PNG_END), os.SEEK_END)
            end = f.read()
    except OSError:
        return False
    # signature, IHDR length and type, width, height, bit depth 8, colour type 2 (RGB)
    wanted = (b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + shape[1].to_bytes(4, "big")
              + shape[0].to_bytes(4, "big") + b"\x08\x02")
    return head == wanted and end == PNG_END


def _read_png(path: Path) -> np.ndarray:
    """The pixels of a PNG piece this store wrote (decoded in full: damage inside raises ValueError)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.format != "PNG":
            raise ValueError("not a PNG")
        im.load()
        return np.asarray(im)


def check_free_space(wd: Path, need: int) -> None:
    """Refuse work whose intermediate files (tiles, frames: ``need`` bytes) cannot fit on the disk."""
    free = shutil.disk_usage(wd).free
    if need > free:
        raise NotEnoughSpace(errno.ENOSPC, f"not enough disk space next to the output: the work files need "
                                          f"{_size_text(need)}, {_size_text(free)} are free")


def _size_text(n: int) -> str:
    """Bytes for people: '340 KiB', '12.5 MiB', '3.2 GiB' (never '0.0 GiB')."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
