"""What an export is: :class:`ExportSpec`, the file formats and the limits every job is checked against.

Everything here is decided before a pixel is rendered, so an impossible export (a JPEG wider
than JPEG can say, a PNG band that cannot fit in memory, a file named for another format) is
one clear message instead of an error hours into the job.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from creps_core.jobs.export import deepzoom
from creps_core.latent.latents import LatentSpec
from creps_core.render.engine import ENGINE_VERSION
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, EXPORT_FORMATS, TILE_FORMATS, check_warp_quality

EXTENSIONS = {".tif": "tiff", ".tiff": "tiff", ".btf": "tiff", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg",
              ".dzi": "dzi"}
MAX_SIDE = 2**31 - 1  # TIFF/PNG store sizes as 32-bit; beyond this nothing can hold it
JPEG_MAX_SIDE = 65535  # JPEG stores sizes as 16-bit
MAX_PYRAMID_LEVELS = 31  # halving a 2^31-pixel side 31 times reaches one pixel
IN_MEMORY_LIMIT = 4 << 30  # bytes: largest image we assemble in memory (JPEG) or band (PNG)


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
    warp_quality: str = DEFAULT_WARP_QUALITY  # vocabulary.WARP_QUALITIES: how rotated/warped lines are made
    compression: str | None = "zlib"  # TIFF tile compression
    quality: int = 95  # JPEG, and Deep Zoom jpg/webp tiles
    tile_format: str = "jpg"  # Deep Zoom tile images (see vocabulary.TILE_FORMATS)

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
               "warp_quality": self.warp_quality, "engine": ENGINE_VERSION}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def validate(spec: ExportSpec, out: str | os.PathLike | None = None) -> None:
    """Refuse impossible jobs with a clear message before any work starts (and a file name ``out``
    that says another format: a .tif holding Deep Zoom XML opens nowhere)."""
    h, w = spec.shape
    if spec.view.window is not None:
        raise ValueError("export a whole view, not a window of one (tiles are made by the export)")
    check_warp_quality(spec.warp_quality)
    if spec.fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {spec.fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
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
    if fmt not in TILE_FORMATS:
        raise ValueError(f"unknown Deep Zoom tile format {fmt!r}; choose one of {', '.join(TILE_FORMATS)}")
    if fmt == "webp":
        from PIL import features

        if not features.check("webp"):
            raise ValueError("this Pillow was built without WebP; choose jpg or png tiles")


def format_of(path: str | os.PathLike) -> str:
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format from {Path(path).name!r}; use .tif, .png, .jpg or .dzi")
    return fmt
