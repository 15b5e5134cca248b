"""Poster-size exports: any View at any size, tile by tile, in bounded memory.

CREPS pixels are functions of their coordinates, so a View's tiles join exactly
(docs/architecture.md).  An export is therefore a list of independent tile jobs:

1. **Render** each tile (optionally supersampled k x k and box-filtered) and keep it
   as a ``.npy`` file in a work directory ``.NAME.partial/`` next to the output.  The
   directory's manifest holds a hash of the job, so a killed or cancelled export
   resumes by skipping finished tiles, and a different job never reuses them: its work
   folder is kept until the user discards it (``fresh``).
2. **Pyramid** levels (optional, for deep-zoom viewers) are built from the stored
   tiles by 2x box filtering, also tile by tile, also kept.
3. **Assemble** the stored tiles into the output -- a tiled BigTIFF (streamed by
   tifffile), a PNG (streamed by our own chunk writer) or a JPEG (in memory, so
   size-limited) -- under a temporary name, renamed into place only when complete;
   or cut them into a Deep Zoom pyramid with its viewer page (:mod:`creps_core.jobs.export.deepzoom`).

Before anything is written, every name the export will write is checked
(:mod:`creps_core.jobs.outputs`): an earlier export's files are replaced, anything else -- an input,
the user's file, a link -- is kept unless ``force`` is given.

Memory stays bounded whatever the size: one tile (or one band of tiles for PNG) is
in memory at a time, and the engine's line cache is capped to one strip of columns
because tiles are rendered in column strips (the columns of a strip are computed
once and reused by every tile below).

``export_steps`` is the plain generator of work (yields :class:`~creps_core.progress.Progress`);
``export_image`` drives it with a callback, which is what the CLI and GUI call.
Tiles can be rendered elsewhere (:mod:`creps_core.jobs.export.cluster`) through the
``renderer`` argument; the writer always stays in the calling process.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import shutil
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from creps_core.io.safe_files import (
    NOFOLLOW,
    DiskFullError,
    atomic_write,
    disk_full,
    is_real_dir,
    is_regular_file,
    no_space,
    open_exclusive,
    private_dir,
    remove_stale_temps,
    temp_sibling,
    work_subfolder,
)
from creps_core.io.untrusted import read_json
from creps_core.jobs.export import deepzoom
from creps_core.jobs.metadata import METADATA_KEY, RenderRecord, read_record
from creps_core.jobs.outputs import KeptError, Owned, carries_record, claim
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.network import CREPSGenerator
from creps_core.progress import DONE, PYRAMID, RENDERING_TILES, WRITING, CancelFn, Cancelled, Progress
from creps_core.render.engine import ENGINE_VERSION, Engine, to_uint8
from creps_core.render.views import View
from creps_core.vocabulary import EXPORT_FORMATS

FORMATS = EXPORT_FORMATS
EXTENSIONS = {".tif": "tiff", ".tiff": "tiff", ".btf": "tiff", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg",
              ".dzi": "dzi"}
MAX_SIDE = 2**31 - 1  # TIFF/PNG store sizes as 32-bit; beyond this nothing can hold it
JPEG_MAX_SIDE = 65535  # JPEG stores sizes as 16-bit
MAX_PYRAMID_LEVELS = 31  # halving a 2^31-pixel side 31 times reaches one pixel
TIFF_BUFFER_TILES = 8  # tiles the TIFF writer compresses per pass
IN_MEMORY_LIMIT = 4 << 30  # bytes: largest image we assemble in memory (JPEG) or band (PNG)
MAX_MANIFEST_BYTES = 1 << 20  # a work folder's manifest is a few hundred bytes of our own JSON
STRIP_PIXELS = 4096  # width of a column strip: tiles below each other share its cached columns

ProgressFn = Callable[[Progress], None]


class NotEnoughSpace(DiskFullError):
    """Refused before any work: the job's intermediate files cannot fit on the disk."""


@dataclass(frozen=True)
class ExportSpec:
    """Everything that decides an export's pixels and file (not where tiles are rendered)."""

    latent: LatentSpec
    view: View
    fmt: str = "tiff"
    tile: int = 512
    supersample: int = 1
    pyramid: int = 0  # number of extra half-size levels (TIFF only); -1 = down to one tile
    precision: str = "fp32"
    exact: bool = False
    compression: str | None = "zlib"  # TIFF tile compression
    quality: int = 95  # JPEG, and Deep Zoom jpg/webp tiles
    tile_format: str = "jpg"  # Deep Zoom tile images (see deepzoom.TILE_FORMATS)

    @property
    def shape(self) -> tuple[int, int]:
        return self.view.shape

    def render_view(self) -> View:
        """The view rendered before box filtering: k times the size over the same region.

        Zoom 1 fits the unit square to the shorter side whatever the size, so the same
        centre, zoom and rotation at k x the pixels cover the same region k x denser.
        """
        k = self.supersample
        v = self.view
        return v if k == 1 else v.with_(width=v.width * k, height=v.height * k)

    def pyramid_levels(self) -> int:
        if self.fmt == "dzi":  # Deep Zoom: every level down to one pixel
            return deepzoom.max_level(self.shape)
        if self.pyramid >= 0:
            return self.pyramid
        h, w = self.shape
        return max(0, math.ceil(math.log2(max(h, w) / self.tile)))

    def job_hash(self, checkpoint_sha256: str) -> str:
        """Hash of what decides the tiles' pixels: resuming only ever reuses matching tiles."""
        key = {"checkpoint": checkpoint_sha256, "latent": self.latent.to_dict(), "view": self.view.to_dict(),
               "tile": self.tile, "supersample": self.supersample, "precision": self.precision,
               "exact": self.exact, "engine": ENGINE_VERSION}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class TileTask:
    """One tile of the output grid: its index in the tile grid and pixel rectangle."""

    ti: int
    tj: int
    row0: int
    col0: int
    rows: int
    cols: int


@dataclass
class ModelRef:
    """How a tile job names its model: by file and hash, so other processes can load it."""

    path: str
    sha256: str
    network: str = "G_ema"


# ----- validation --------------------------------------------------------------------------
def validate(spec: ExportSpec, out: str | os.PathLike | None = None) -> None:
    """Refuse impossible jobs with a clear message before any work starts (and a file name ``out``
    that says another format: a .tif holding Deep Zoom XML opens nowhere)."""
    h, w = spec.shape
    if spec.view.window is not None:
        raise ValueError("export a whole view, not a window of one (tiles are made by the export)")
    if spec.fmt not in FORMATS:
        raise ValueError(f"unknown format {spec.fmt!r}; choose one of {', '.join(FORMATS)}")
    if h < 1 or w < 1:
        raise ValueError(f"export size must be at least 1x1, got {w}x{h}")
    if max(h, w) > MAX_SIDE:
        raise ValueError(f"export size {w}x{h} exceeds the {MAX_SIDE} pixels a side any image file can hold")
    if not 1 <= spec.supersample <= 16:
        raise ValueError(f"supersample must be 1..16 samples per side, got {spec.supersample}")
    if max(h, w) * spec.supersample > MAX_SIDE:
        raise ValueError(f"supersampled size {w * spec.supersample}x{h * spec.supersample} is too large")
    if spec.tile % 16 or not 16 <= spec.tile <= 8192:
        raise ValueError(f"tile size must be a multiple of 16 in 16..8192, got {spec.tile}")
    if not -1 <= spec.pyramid <= MAX_PYRAMID_LEVELS:
        raise ValueError(f"pyramid levels must be -1 (down to one tile) or 0..{MAX_PYRAMID_LEVELS}, got {spec.pyramid}")
    if spec.pyramid and spec.fmt != "tiff":
        raise ValueError("pyramid levels need the TIFF format" + (" (a .dzi always has all its levels)"
                                                                  if spec.fmt == "dzi" else ""))
    if spec.fmt in ("jpeg", "dzi") and not 1 <= spec.quality <= 100:
        raise ValueError(f"quality must be 1..100, got {spec.quality}")
    if spec.fmt == "dzi":
        _validate_tile_format(spec.tile_format)
    if spec.fmt == "jpeg":
        if max(h, w) > JPEG_MAX_SIDE:
            raise ValueError(f"JPEG holds at most {JPEG_MAX_SIDE} pixels a side ({w}x{h} asked); use TIFF")
        if h * w * 3 > IN_MEMORY_LIMIT:
            raise ValueError(f"a {w}x{h} JPEG must be built in memory ({h * w * 3 / 2**30:.1f} GiB); use TIFF or PNG")
    if spec.fmt == "png" and w * spec.tile * 3 > IN_MEMORY_LIMIT:
        raise ValueError(f"a PNG {w} pixels wide needs a {w * spec.tile * 3 / 2**30:.1f} GiB band; use TIFF")
    if out is not None and format_of(out) != spec.fmt:
        ext = next(e for e, f in EXTENSIONS.items() if f == spec.fmt)
        raise ValueError(f"{Path(out).name} names a {format_of(out)} file, but the format asked for is {spec.fmt}: "
                         f"name it {Path(out).stem}{ext}, or ask for {format_of(out)}")


def _validate_tile_format(fmt: str) -> None:
    if fmt not in deepzoom.TILE_FORMATS:
        raise ValueError(f"unknown Deep Zoom tile format {fmt!r}; choose one of {', '.join(deepzoom.TILE_FORMATS)}")
    if fmt == "webp":
        from PIL import features

        if not features.check("webp"):
            raise ValueError("this Pillow was built without WebP; choose jpg or png tiles")


def plan_tiles(shape: tuple[int, int], tile: int, strip: int = STRIP_PIXELS) -> list[TileTask]:
    """All tiles, in column strips (top to bottom within each strip of ``strip`` pixels).

    This order lets the engine keep only one strip's column lines cached while every
    tile row below reuses them: bounded memory at near one-shot line cost.
    """
    h, w = shape
    per_strip = max(1, strip // tile)
    n_i, n_j = -(-h // tile), -(-w // tile)
    tasks = []
    for s0 in range(0, n_j, per_strip):
        for ti in range(n_i):
            for tj in range(s0, min(n_j, s0 + per_strip)):
                r0, c0 = ti * tile, tj * tile
                tasks.append(TileTask(ti, tj, r0, c0, min(tile, h - r0), min(tile, w - c0)))
    return tasks


def line_cache_limit(spec: ExportSpec) -> int:
    """Line-cache entries (per axis) an export needs: one strip of columns plus a tile of rows.

    Capping the cache there keeps memory independent of the image size.  Warped
    views sample line tables at twice the pixel density, hence twice the entries.
    """
    return (STRIP_PIXELS + spec.tile) * spec.supersample * (1 if spec.view.is_separable else 2)


# ----- one tile ---------------------------------------------------------------------------
def tile_pixels(engine: Engine, spec: ExportSpec, task: TileTask, cancel: CancelFn | None = None) -> np.ndarray:
    """Pixels of one tile (HWC uint8): a pure function of the model, spec and task."""
    k = spec.supersample
    view = spec.render_view().tile(task.row0 * k, task.col0 * k, task.rows * k, task.cols * k)
    img = engine.render(spec.latent, view, precision=spec.precision, exact=spec.exact, cancel=cancel)
    if k > 1:  # box filter: the mean of each k x k block of samples
        img = img.reshape(img.shape[0], task.rows, k, task.cols, k).mean(dim=(2, 4))
    return to_uint8(img)


Renderer = Callable[[ExportSpec, list[TileTask], "CancelFn | None"], Iterator[tuple[TileTask, np.ndarray]]]
"""Renders tasks of a spec, yielding (task, pixels) in any order; see :mod:`creps_core.jobs.export.cluster`."""


def local_renderer(engine: Engine) -> Renderer:
    """Render tiles one after another in this process with ``engine``."""

    def run(spec: ExportSpec, tasks: list[TileTask], cancel: CancelFn | None) -> Iterator[tuple[TileTask, np.ndarray]]:
        for task in tasks:
            yield task, tile_pixels(engine, spec, task, cancel)

    return run


# ----- the work directory -----------------------------------------------------------------
def work_dir(out_path: Path) -> Path:
    return out_path.with_name(f".{out_path.name}.partial")


class TileStore:
    """Finished tiles of one job on disk (one ``.npy`` per tile and level) plus a manifest.

    Files are written under a temporary name and renamed, so a kill never leaves a
    half-written tile that a resume would trust; a tile cut short some other way is found by
    its size and re-rendered.  The work of another job (hours of tiles or frames, perhaps) is
    never resumed from and never discarded unasked: ``fresh`` discards it, else it is kept and
    the job refused (KeptError).
    """

    def __init__(self, root: Path, job_hash: str, describe: dict, fresh: bool = False,
                 what: str = "an export") -> None:
        self.root = private_dir(root)  # never a link or another user's folder
        self.discarded: list[str] = []  # damaged tiles found and removed (re-rendered)
        manifest = root / "manifest.json"
        if fresh:
            shutil.rmtree(root)
            private_dir(root)
        elif is_regular_file(manifest) and _job_of(manifest) != job_hash:
            raise KeptError(f"{root} holds the unfinished work of {what} with other settings: it is kept", "fresh")
        if not is_regular_file(manifest):
            atomic_write(manifest, json.dumps({"job": job_hash, **describe}, indent=1).encode())

    def path(self, level: int, ti: int, tj: int) -> Path:
        return self.root / f"L{level}_{ti}_{tj}.npy"

    def has(self, level: int, ti: int, tj: int, shape: tuple[int, int]) -> bool:
        """A whole finished tile of this shape is there; anything else under its name is removed."""
        path = self.path(level, ti, tj)
        if not os.path.lexists(path):
            return False
        if is_regular_file(path) and _npy_header(path) == ((shape[0], shape[1], 3), np.dtype(np.uint8),
                                                           path.stat().st_size):
            return True
        path.unlink()
        self.discarded.append(path.name)
        return False

    def save(self, level: int, ti: int, tj: int, pixels: np.ndarray) -> None:
        """Write a tile; the work folder is checked first (still a real folder, never re-created)."""
        work_subfolder(self.root)
        atomic_write(self.path(level, ti, tj), lambda f: np.save(f, pixels))

    def load(self, level: int, ti: int, tj: int) -> np.ndarray:
        """A stored tile; FileNotFoundError when it is gone (perhaps another process finished the job)."""
        path = self.path(level, ti, tj)
        if not os.path.lexists(path):
            raise FileNotFoundError(errno.ENOENT, f"{path}: missing; run the export again to re-render it")
        if not is_regular_file(path):
            raise ValueError(f"{path}: not a plain file; run the export again to re-render it")
        try:
            tile = np.load(path, allow_pickle=False)
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
        return read_json(manifest, MAX_MANIFEST_BYTES).get("job")
    except (OSError, ValueError, AttributeError):
        return None


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


# ----- pyramid -----------------------------------------------------------------------------
def level_shape(shape: tuple[int, int], level: int) -> tuple[int, int]:
    h, w = shape
    for _ in range(level):
        h, w = -(-h // 2), -(-w // 2)
    return h, w


def _half(pixels: np.ndarray) -> np.ndarray:
    """2x box filter of an HWC uint8 image (odd edges repeat their last row/column)."""
    h, w = pixels.shape[:2]
    if h % 2 or w % 2:
        pixels = np.pad(pixels, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    x = pixels.astype(np.uint16)
    s = x[0::2, 0::2] + x[1::2, 0::2] + x[0::2, 1::2] + x[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def _pyramid_tile(store: TileStore, level: int, ti: int, tj: int, shape: tuple[int, int], tile: int) -> np.ndarray:
    """Tile (ti, tj) of ``level`` from up to four tiles of ``level - 1``."""
    ph, pw = level_shape(shape, level - 1)
    n_i, n_j = -(-ph // tile), -(-pw // tile)
    rows = []
    for i in (2 * ti, 2 * ti + 1):
        if i < n_i:
            rows.append(np.concatenate([store.load(level - 1, i, j) for j in (2 * tj, 2 * tj + 1) if j < n_j], axis=1))
    return _half(np.concatenate(rows, axis=0))


# ----- writers ------------------------------------------------------------------------------
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
    opts = dict(dtype=np.uint8, tile=(spec.tile, spec.tile), photometric="rgb", compression=spec.compression,
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


# ----- the export --------------------------------------------------------------------------
def _model_of(engine: Engine) -> ModelRef:
    m = engine.model
    if m is None:
        return ModelRef("", "")
    return ModelRef(str(m.path), m.sha256, m.network)


def model_identity(engine: Engine) -> str:
    """What decides an engine's pixels besides the job: the checkpoint (or in-memory weights) and
    which generator of it.  Resumable work (tiles, video frames) is keyed by it."""
    model = _model_of(engine)
    return f"{model.sha256 or _weights_hash(engine)}:{model.network}"


def _weights_hash(engine: Engine) -> str:
    """Identity of an in-memory generator (no checkpoint file), so resumes never mix models."""
    h = hashlib.sha256()
    for name, tensor in sorted(engine.g.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return "weights:" + h.hexdigest()


def make_record(spec: ExportSpec, model: ModelRef, levels: int = 0) -> RenderRecord:
    """The provenance written into the file: enough to render it again.

    ``pyramid_levels`` are the extra TIFF levels asked for; a Deep Zoom pyramid's levels follow
    from its size, so it records none (re-exporting it as a TIFF adds none).
    """
    return RenderRecord(checkpoint=model.path, checkpoint_sha256=model.sha256, latent=spec.latent, view=spec.view,
                        precision=spec.precision, exact=spec.exact, network=model.network,
                        supersample=spec.supersample,
                        extra={"kind": "export", "tile": spec.tile, "format": spec.fmt,
                               "pyramid_levels": 0 if spec.fmt == "dzi" else levels,
                               **({"tile_format": spec.tile_format} if spec.fmt == "dzi" else {})})


def spec_from_record(record: RenderRecord, **overrides) -> ExportSpec:
    """An export spec that re-renders a file from its metadata (overrides change the file form)."""
    extra = record.extra or {}
    spec = ExportSpec(latent=record.latent, view=record.view, precision=record.precision, exact=record.exact,
                      supersample=record.supersample, tile=int(extra.get("tile", 512)),
                      fmt=extra.get("format", "tiff"), pyramid=int(extra.get("pyramid_levels", 0)),
                      tile_format=extra.get("tile_format", "jpg"))
    return replace(spec, **overrides)


def outputs(out: Path, fmt: str) -> list[tuple[Path, Owned]]:
    """Every name an export to ``out`` writes, with how an earlier export's file there is recognised."""
    if fmt == "dzi":
        return deepzoom.outputs(out)
    return [(out, carries_record)] + ([(_sidecar(out), carries_record)] if fmt == "jpeg" else [])


def _sidecar(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def _finished_elsewhere(out: Path, fmt: str, record_json: str) -> bool:
    """True when ``out`` now holds this very export, finished meanwhile by another process that
    worked in the same work folder (and removed it)."""
    try:
        if fmt in ("jpeg", "dzi"):  # their sidecar is written before the file itself
            return is_regular_file(out) and _sidecar(out).read_text() == record_json
        return is_regular_file(out) and read_record(out).to_json() == record_json
    except (OSError, ValueError):
        return False


def export_steps(engine: Engine, spec: ExportSpec, out_path: str | os.PathLike, *,
                 cancel: CancelFn | None = None, renderer: Renderer | None = None,
                 keep_work: bool = False, force: bool = False, fresh: bool = False,
                 inputs: Sequence[str | os.PathLike] = ()) -> Iterator[Progress]:
    """Export ``spec`` to ``out_path``, yielding progress after every tile.

    Nothing is written when a name it would write holds one of ``inputs`` (the checkpoint is one),
    a link, or a file or folder no export wrote, unless ``force``; nor when its work folder holds
    another job's work, unless ``fresh`` (both KeptError).  Raises Cancelled when ``cancel()``
    turns True (finished tiles stay for a resume; nothing appears under the final name),
    DiskFullError when the disk fills.  When another process finishes the same export to the same
    name meanwhile, this one ends with a note saying so.
    """
    out = Path(out_path)
    validate(spec, out)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out.parent}: no such directory")
    model = _model_of(engine)
    check_outputs = partial(claim, outputs(out, spec.fmt), [model.path, *inputs], force)
    check_outputs()
    remove_stale_temps(out)
    levels = spec.pyramid_levels()
    tasks = plan_tiles(spec.shape, spec.tile)
    wd = work_dir(out)
    record_json = make_record(spec, model, levels).to_json()
    job = spec.job_hash(model_identity(engine))  # it names the generator too: G and G_ema never share tiles
    try:
        store = TileStore(wd, job, {"spec": record_json}, fresh)
        todo = [t for t in tasks if not store.has(0, t.ti, t.tj, (t.rows, t.cols))]
        check_free_space(wd, sum(t.rows * t.cols * 3 for t in todo))
        total, done = len(tasks), len(tasks) - len(todo)
        note = (f"re-rendering {len(store.discarded)} damaged tile(s) found in {wd}: "
                + ", ".join(store.discarded[:5]) + ("..." if len(store.discarded) > 5 else "")
                if store.discarded else None)
        yield Progress(RENDERING_TILES, done, total, note=note)
        start, rendered = time.monotonic(), 0
        with engine.line_cache_limit(line_cache_limit(spec)):
            for task, pixels in (renderer or local_renderer(engine))(spec, todo, cancel):
                store.save(0, task.ti, task.tj, pixels)
                done, rendered = done + 1, rendered + 1
                rate = (time.monotonic() - start) / rendered
                yield Progress(RENDERING_TILES, done, total, rate * (total - done))
        for level in range(1, levels + 1):
            lh, lw = level_shape(spec.shape, level)
            grid = [(i, j) for i in range(-(-lh // spec.tile)) for j in range(-(-lw // spec.tile))]
            for n, (i, j) in enumerate(grid, 1):
                if cancel is not None and cancel():
                    raise Cancelled()
                shape = (min(spec.tile, lh - i * spec.tile), min(spec.tile, lw - j * spec.tile))
                if not store.has(level, i, j, shape):
                    store.save(level, i, j, _pyramid_tile(store, level, i, j, spec.shape, spec.tile))
                yield Progress(PYRAMID, n, len(grid))
        if spec.fmt == "dzi":
            yield from deepzoom.write_steps(store, spec.shape, spec.tile, spec.tile_format, spec.quality, out,
                                            record_json, cancel, check_outputs)
        else:
            yield Progress(WRITING, 0, 1)
            _assemble(store, spec, out, record_json, levels, cancel, check_outputs)
    except FileNotFoundError:
        if not _finished_elsewhere(out, spec.fmt, record_json):
            raise
        remove_finished_work(wd, job)
        yield Progress(DONE, 1, 1, 0.0, out, note=f"another export to {out} finished the same image meanwhile; "
                                                  "nothing more to do")
        return
    except OSError as e:
        if no_space(e) and not isinstance(e, NotEnoughSpace):
            raise disk_full(e, out, "free space and run the export again (finished tiles are kept and will "
                                    "be skipped)") from None
        raise
    if not keep_work:
        store.remove()
    yield Progress(DONE, 1, 1, 0.0, out)


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


def _assemble(store: TileStore, spec: ExportSpec, out: Path, description: str, levels: int,
              cancel: CancelFn | None, check_outputs: Callable[[], None]) -> None:
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
            atomic_write(_sidecar(out), description.encode())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def export_image(engine_or_model: Engine | LoadedModel | CREPSGenerator, latent: LatentSpec, view: View,
                 out_path: str | os.PathLike, *, tile: int = 512, fmt: str | None = None, supersample: int = 1,
                 pyramid: int = 0, precision: str = "fp32", exact: bool = False, compression: str | None = "zlib",
                 quality: int = 95, tile_format: str = "jpg", progress: ProgressFn | None = None,
                 cancel: CancelFn | None = None, renderer: Renderer | None = None, force: bool = False,
                 fresh: bool = False) -> Path:
    """Export a view of a latent to a TIFF/PNG/JPEG file or a Deep Zoom pyramid; returns the final path.

    ``fmt`` defaults from the file extension.  ``progress(Progress)`` is called after
    every tile (then once per pyramid tile, before writing and at the end);
    ``cancel()`` returning True stops the export (Cancelled); running the same
    call again resumes it.  ``force`` and ``fresh``: see :func:`export_steps`.
    """
    engine = engine_or_model if isinstance(engine_or_model, Engine) else Engine(engine_or_model, precision=precision)
    spec = ExportSpec(latent=latent, view=view, fmt=fmt or format_of(out_path), tile=tile, supersample=supersample,
                      pyramid=pyramid, precision=precision, exact=exact, compression=compression, quality=quality,
                      tile_format=tile_format)
    result = Path(out_path)
    for step in export_steps(engine, spec, out_path, cancel=cancel, renderer=renderer, force=force, fresh=fresh):
        if progress is not None:
            progress(step)
        if step.path is not None:
            result = step.path
    return result


def format_of(path: str | os.PathLike) -> str:
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format from {Path(path).name!r}; use .tif, .png, .jpg or .dzi")
    return fmt


# ----- reading back --------------------------------------------------------------------------
def read_image(path: str | os.PathLike) -> np.ndarray:
    """HWC uint8 pixels of an exported file (for tests and small files)."""
    path = Path(path)
    if format_of(path) == "tiff":
        import tifffile

        return tifffile.imread(path)
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))
