"""The export's files, assembled from its stored tiles: TIFF, PNG and JPEG writers, and reading back.

A tiled BigTIFF is streamed by tifffile, a PNG by our own chunk writer (PIL would need the whole
image in memory), a JPEG is built in memory (so size-limited).  Each is written under a temporary
name and renamed into place only when complete; the writers trust no write they cannot see fail
(docs/architecture.md, Files).  Deep Zoom pyramids are cut by :mod:`creps_core.jobs.export.deepzoom`.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from creps_core.io.safe_files import NOFOLLOW, atomic_write, open_exclusive, temp_sibling
from creps_core.jobs.export.spec import ExportSpec, format_of
from creps_core.jobs.export.tiles import level_shape
from creps_core.jobs.metadata import METADATA_KEY
from creps_core.jobs.workdir import TileStore
from creps_core.progress import CancelFn, Cancelled

TIFF_BUFFER_TILES = 8  # tiles the TIFF writer compresses per pass


def sidecar_path(out: Path) -> Path:
    """The ``NAME.jpg.json`` beside a JPEG: where :func:`~creps_core.jobs.metadata.read_record` finds its record."""
    return out.with_name(out.name + ".json")


def assemble(store: TileStore, spec: ExportSpec, out: Path, description: str, levels: int,
             cancel: CancelFn | None, check_outputs: Callable[[], object]) -> None:
    """Write the final file from stored tiles under a temporary name, then rename it into place
    (``check_outputs()`` runs again right before: the names may have changed hands meanwhile)."""
    if cancel is not None and cancel():
        raise Cancelled()
    tmp = temp_sibling(out)
    open_exclusive(tmp).close()  # ours alone: the writers below reopen it by name
    try:
        if spec.fmt == "tiff":
            _write_tiff(tmp, store, spec, description, levels)
        elif spec.fmt == "png":
            _write_png(tmp, store, spec, description)
        else:
            _write_jpeg(tmp, store, spec, description)
        check_outputs()
        if spec.fmt == "jpeg":
            atomic_write(sidecar_path(out), description.encode())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _tiles_row_major(store: TileStore, level: int, shape: tuple[int, int], tile: int) -> Iterator[np.ndarray]:
    h, w = shape
    for ti in range(-(-h // tile)):
        for tj in range(-(-w // tile)):
            t = store.load(level, ti, tj)
            if t.shape[:2] != (tile, tile):  # tifffile wants full tiles; pad the edge ones
                t = np.pad(t, ((0, tile - t.shape[0]), (0, tile - t.shape[1]), (0, 0)))
            yield t


class _WithoutDescriptor(io.BufferedRandom):
    """A file whose descriptor is hidden.  tifffile hands whole arrays to numpy's ``tofile``, which
    writes through the descriptor and loses a failed write (a full disk left a truncated TIFF that
    was renamed into place as finished); without one tifffile writes through Python, which raises."""

    def fileno(self) -> int:
        raise io.UnsupportedOperation("writes go through Python, so that every failure raises")


def _write_tiff(tmp: Path, store: TileStore, spec: ExportSpec, description: str, levels: int) -> None:
    import tifffile

    # tifffile gathers up to 512 MB of tiles per compression pass by default: a few tiles keep
    # the writer's memory independent of the image size.
    opts: dict = dict(dtype=np.uint8, tile=(spec.tile, spec.tile), photometric="rgb", compression=spec.compression,
                      metadata=None, buffersize=TIFF_BUFFER_TILES * spec.tile * spec.tile * 3)
    opener = lambda path, flags: os.open(path, flags | NOFOLLOW)  # noqa: E731 -- never through a planted link
    with _WithoutDescriptor(io.FileIO(tmp, "r+", opener=opener)) as f, tifffile.TiffWriter(f, bigtiff=True) as tif:
        h, w = spec.shape
        tif.write(_tiles_row_major(store, 0, spec.shape, spec.tile), shape=(h, w, 3), description=description,
                  subifds=levels or None, **opts)
        for level in range(1, levels + 1):
            lh, lw = level_shape(spec.shape, level)
            tif.write(_tiles_row_major(store, level, (lh, lw), spec.tile), shape=(lh, lw, 3), subfiletype=1, **opts)


def _bands(store: TileStore, shape: tuple[int, int], tile: int) -> Iterator[np.ndarray]:
    """Full-width bands of one tile row each."""
    h, w = shape
    for ti in range(-(-h // tile)):
        yield np.concatenate([store.load(0, ti, tj) for tj in range(-(-w // tile))], axis=1)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _write_png(tmp: Path, store: TileStore, spec: ExportSpec, description: str) -> None:
    """Stream a PNG band by band (PIL would need the whole image in memory)."""
    h, w = spec.shape
    with open(tmp, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(_png_chunk(b"tEXt", METADATA_KEY.encode("latin-1") + b"\0" + description.encode("latin-1")))
        comp = zlib.compressobj(6)
        for band in _bands(store, spec.shape, spec.tile):
            # filter type 1 (Sub) on every scanline: smooth images compress far better than with none
            raw = band.reshape(band.shape[0], -1)
            sub = raw.copy()
            sub[:, 3:] -= raw[:, :-3]  # uint8 arithmetic wraps modulo 256, as PNG wants
            lines = np.concatenate([np.ones((raw.shape[0], 1), np.uint8), sub], axis=1)
            data = comp.compress(lines.tobytes())
            if data:
                f.write(_png_chunk(b"IDAT", data))
        f.write(_png_chunk(b"IDAT", comp.flush()))
        f.write(_png_chunk(b"IEND", b""))


def _write_jpeg(tmp: Path, store: TileStore, spec: ExportSpec, description: str) -> None:
    from PIL import Image

    full = np.concatenate(list(_bands(store, spec.shape, spec.tile)), axis=0)
    # subsampling=0 (4:4:4): prints keep their colour detail
    Image.fromarray(full).save(tmp, format="JPEG", quality=spec.quality, subsampling=0,
                              comment=description.encode())


def read_image(path: str | os.PathLike) -> np.ndarray:
    """HWC uint8 pixels of an exported file (for tests and small files)."""
    path = Path(path)
    if format_of(path) == "tiff":
        import tifffile

        return tifffile.imread(path)
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
