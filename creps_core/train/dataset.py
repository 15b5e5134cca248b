"""Training images from a folder or an official dataset zip.

Two layouts are accepted, the ones users already have:

* a folder of ``.png`` / ``.jpg`` / ``.jpeg`` files (searched recursively), with an
  optional ``dataset.json`` at its root;
* the zip written by the official ``dataset_tool.py``: image files inside the archive and
  an optional ``dataset.json`` of the form ``{"labels": [["00000/img00000000.png", 3], ...]}``.

Every image is centre-cropped to a square and resized to the training resolution, and
converted to RGB.  Anything unreadable raises :class:`DatasetError` naming the file,
because "cannot identify image file <_io.BytesIO ...>" after an hour of training is
useless to the person who has to fix the data.  All images are decoded once when the
dataset is opened (so a broken file fails at start-up, not mid-run) and kept in memory
as uint8; the demo and CPU configs are small, and for large sets the cost is the same
as official ``--cache=True``.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from creps_core.io.untrusted import parse_json

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# dataset.json holds one [file, label] pair per image (~40 bytes): 256 MiB is millions of images
MAX_LABELS_BYTES = 256 << 20
# a class is a row of the mapping's embedding: ImageNet has 1000; a label past this is a damaged file
MAX_CLASSES = 1 << 16


class DatasetError(Exception):
    """The training data could not be read; the message names the file and the problem."""


def load_image(data: bytes, name: str, resolution: int) -> np.ndarray:
    """Decode one image, centre-crop to square, resize to ``resolution`` -> uint8 [3, R, R]."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()  # force full decode: truncated files fail here, not later
            im = opened.convert("RGB")
    except Exception as e:  # PIL raises many types (OSError, SyntaxError, ValueError ...)
        raise DatasetError(f"{name}: cannot read image ({type(e).__name__}: {e})") from e
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    im = im.crop((left, top, left + s, top + s))
    if s != resolution:
        im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()


def _parse_labels(raw: bytes, source: str, names: list[str]) -> np.ndarray | None:
    """dataset.json -> int64 labels aligned with ``names`` (None when it has no labels)."""
    try:
        meta = parse_json(raw, f"{source}: dataset.json", MAX_LABELS_BYTES)
    except ValueError as e:
        raise DatasetError(str(e)) from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{source}: dataset.json must be an object with a 'labels' list")
    labels = meta.get("labels")
    if labels is None:
        return None
    try:
        table = {str(n).replace("\\", "/"): int(lab) for n, lab in labels}
    except Exception as e:
        raise DatasetError(f"{source}: dataset.json 'labels' must be [[file, int], ...] ({e})") from e
    missing = [n for n in names if n not in table]
    if missing:
        raise DatasetError(f"{source}: dataset.json has no label for {missing[0]}"
                           f"{f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''}")
    bad = next((table[n] for n in names if not 0 <= table[n] < MAX_CLASSES), None)
    if bad is not None:  # checked before numpy, which would overflow on a label past int64
        raise DatasetError(f"{source}: dataset.json has the label {bad:.6g}; labels are 0..{MAX_CLASSES - 1}")
    return np.array([table[n] for n in names], dtype=np.int64)


class ImageDataset:
    """All images of a folder or zip, decoded at ``resolution``, with optional class labels.

    ``images`` is a uint8 tensor [N, 3, R, R]; ``labels`` an int64 tensor [N] or None;
    ``c_dim`` the number of classes (0 when unconditional).
    """

    def __init__(self, path: str | os.PathLike, resolution: int) -> None:
        self.path = Path(path)
        self.resolution = int(resolution)
        self._zip: zipfile.ZipFile | None = None  # open while a zip's images are read
        if not self.path.exists():
            raise DatasetError(f"{self.path}: no such file or folder")
        if self.path.is_dir():
            names, read, json_raw = self._open_folder()
        else:
            names, read, json_raw = self._open_zip()
        if not names:
            raise DatasetError(f"{self.path}: no .png/.jpg images found")
        self.names = names
        labels = _parse_labels(json_raw, str(self.path), names) if json_raw is not None else None
        arrays = []
        for name in names:
            arrays.append(load_image(read(name), f"{self.path}/{name}" if self.path.is_dir() else f"{self.path}:{name}",
                                     self.resolution))
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        self.images = torch.from_numpy(np.stack(arrays))
        self.labels = torch.from_numpy(labels) if labels is not None else None
        self.c_dim = int(self.labels.max()) + 1 if self.labels is not None else 0

    def _open_folder(self) -> tuple[list[str], Callable[[str], bytes], bytes | None]:
        root = self.path
        names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

        def read(name: str, limit: int = -1) -> bytes:
            try:
                with open(root / name, "rb") as f:
                    return f.read(limit)
            except OSError as e:
                raise DatasetError(f"{root / name}: cannot read file ({e})") from e

        # never more of dataset.json than parse_json takes (it refuses what is past the limit)
        json_raw = read("dataset.json", MAX_LABELS_BYTES + 1) if (root / "dataset.json").is_file() else None
        return names, read, json_raw

    def _open_zip(self) -> tuple[list[str], Callable[[str], bytes], bytes | None]:
        try:
            zf = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, ValueError) as e:  # ValueError: a member name that is not UTF-8
            raise DatasetError(f"{self.path}: not a readable zip file ({e})") from e
        self._zip = zf
        names = sorted(n for n in zf.namelist() if n.lower().endswith(IMAGE_EXTENSIONS))

        def read(name: str, limit: int = -1) -> bytes:
            try:
                with zf.open(name) as f:
                    return f.read(limit)
            except Exception as e:  # BadZipFile (CRC), zlib.error, EOFError on truncation
                raise DatasetError(f"{self.path}:{name}: cannot read from zip ({type(e).__name__}: {e})") from e

        # never inflating more of dataset.json than parse_json takes (it refuses what is past the limit)
        json_raw = read("dataset.json", MAX_LABELS_BYTES + 1) if "dataset.json" in zf.namelist() else None
        return names, read, json_raw

    def __len__(self) -> int:
        return self.images.shape[0]

    def one_hot(self, idx: torch.Tensor) -> torch.Tensor | None:
        """One-hot labels [B, c_dim] of the given indices (None when unconditional)."""
        if self.labels is None:
            return None
        return torch.nn.functional.one_hot(self.labels[idx], self.c_dim).to(torch.float32)

    def describe(self) -> dict:
        return {"path": str(self.path), "images": len(self), "resolution": self.resolution,
                "c_dim": self.c_dim}
