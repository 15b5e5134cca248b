"""Provenance of rendered files: what made them, enough to make them again.

Every image the project writes carries a JSON record under the text key
``creps`` (PNG tEXt chunk; TIFF ImageDescription; sidecar JSON for videos) with the
checkpoint's name and sha256, the latent spec and ws hash, the view, precision,
mode and engine version.  ``creps render --from FILE`` reads it back.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from creps_core import __version__
from creps_core.io.safe_files import atomic_write
from creps_core.io.untrusted import parse_json
from creps_core.latent.latents import LatentSpec
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, PRECISION_CHOICES, read_warp_quality

METADATA_KEY = "creps"


@dataclass
class RenderRecord:
    """What a rendered file needs to be re-rendered."""

    checkpoint: str
    checkpoint_sha256: str
    latent: LatentSpec
    view: View
    precision: str = "fp32"
    warp_quality: str = DEFAULT_WARP_QUALITY  # vocabulary.WARP_QUALITIES
    network: str = "G_ema"
    supersample: int = 1
    extra: dict | None = None
    # What was asked ("auto", or one precision); ``precision`` is what ran (what auto chose there).
    # Whoever opens the file asks the same, not the other machine's outcome. None: not recorded.
    precision_asked: str | None = None

    def __post_init__(self) -> None:
        if self.precision_asked is not None and self.precision_asked not in PRECISION_CHOICES:
            raise ValueError(f"precision_asked must be one of {', '.join(PRECISION_CHOICES)}, "
                             f"got {str(self.precision_asked)[:40]!r}")

    def to_json(self) -> str:
        return json.dumps({
            "creps_explorer": __version__, "checkpoint": self.checkpoint, "checkpoint_sha256": self.checkpoint_sha256,
            "network": self.network, "latent": self.latent.to_dict(), "view": self.view.to_dict(),
            "precision": self.precision, "warp_quality": self.warp_quality, "supersample": self.supersample,
            **({"extra": self.extra} if self.extra else {}),
            **({"precision_asked": self.precision_asked} if self.precision_asked else {}),
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "the record") -> RenderRecord:
        """The record in ``text``; JSON past the size and depth limits is one ValueError naming ``where``."""
        d: Any = parse_json(text, where, MAX_RECORD_BYTES)  # a file's JSON: a wrong shape raises, read_record says so
        return cls(checkpoint=d["checkpoint"], checkpoint_sha256=d.get("checkpoint_sha256", ""),
                   latent=LatentSpec.from_dict(d["latent"]), view=View.from_dict(d["view"]),
                   precision=d.get("precision", "fp32"), warp_quality=read_warp_quality(d),
                   network=d.get("network", "G_ema"), supersample=int(d.get("supersample", 1)), extra=d.get("extra"),
                   precision_asked=d.get("precision_asked"))


def write_png(path: str | os.PathLike, rgb: np.ndarray, record: RenderRecord | None = None) -> Path:
    """Write an HWC uint8 image as PNG with the record in a text chunk, atomically."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    if record is not None:
        info.add_text(METADATA_KEY, record.to_json())
    return atomic_write(path, lambda f: Image.fromarray(rgb).save(f, format="PNG", pnginfo=info))


def read_record(path: str | os.PathLike) -> RenderRecord:
    """The provenance record of a file this project wrote, without decoding its pixels.

    Reads the PNG text chunk or the TIFF ImageDescription directly (PIL refuses images
    past its decompression-bomb limit even to read a tag, and exports are huge); JPEGs
    and videos carry a ``NAME.ext.json`` sidecar; a ``.json`` path is read as one.
    Anything wrong with the file is one ValueError naming it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    sidecar = path.with_name(path.name + ".json")
    suffix = path.suffix.lower()
    text: str | bytes | None
    if suffix == ".json":
        text = _bounded_bytes(path)
    elif suffix in (".tif", ".tiff", ".btf"):
        text = _tiff_description(path)
    elif suffix == ".png":
        text = _png_text(path, METADATA_KEY)
    elif sidecar.exists():
        path, text = sidecar, _bounded_bytes(sidecar)
    else:
        text = None
    if not text:
        raise ValueError(f"{path}: carries no readable CREPS Explorer metadata")
    try:
        return RenderRecord.from_json(text, str(path))
    except (KeyError, TypeError, AttributeError, IndexError, OverflowError):
        raise ValueError(f"{path}: carries no readable CREPS Explorer metadata") from None
    except ValueError as e:  # JSON past its limits, or a value a record cannot hold: say which
        detail = str(e).removeprefix(f"{path}: ")
        raise ValueError(f"{path}: carries no readable CREPS Explorer metadata ({detail})") from None


MAX_RECORD_BYTES = 1 << 20  # a record is a few kB; anything past 1 MiB is not one of ours


def _bounded_bytes(path: Path) -> bytes:
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise ValueError(f"{path}: too large to be a CREPS Explorer record")
    with open(path, "rb") as f:
        return f.read(MAX_RECORD_BYTES + 1)


def _tiff_description(path: Path) -> str | None:
    """The first page's ImageDescription; a damaged TIFF (tifffile raises many types) is one line."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]  # the first page is always a whole TiffPage (never a TiffFrame)
            return page.description if isinstance(page, tifffile.TiffPage) else None
    except (tifffile.TiffFileError, IndexError, KeyError, ValueError, struct.error, OverflowError,
            MemoryError) as e:
        raise ValueError(f"{path}: not a readable TIFF ({' '.join(str(e).split())[:120]})") from None


def _inflate(data: bytes, path: Path) -> bytes:
    """zlib-decompress at most MAX_RECORD_BYTES (a compressed chunk can claim gigabytes)."""
    z = zlib.decompressobj()
    try:
        out = z.decompress(data, MAX_RECORD_BYTES)
    except zlib.error as e:
        raise ValueError(f"{path}: its metadata chunk is corrupt ({e})") from None
    if z.unconsumed_tail:
        raise ValueError(f"{path}: its metadata inflates past {MAX_RECORD_BYTES >> 20} MiB; "
                         "not a CREPS Explorer record")
    return out


def _png_text(path: Path, key: str) -> str | None:
    """Text of a tEXt/iTXt/zTXt chunk before the image data, or None (never inflating a bomb)."""
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            raise ValueError(f"{path}: not a PNG file")
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            n, tag = struct.unpack(">I", head[:4])[0], head[4:]
            if tag in (b"IDAT", b"IEND"):
                return None
            if n > MAX_RECORD_BYTES:  # not ours: skip without reading it
                f.seek(n + 4, 1)
                continue
            data = f.read(n)
            f.read(4)  # CRC
            name, _, rest = data.partition(b"\0")
            if name != key.encode():
                continue
            if tag == b"tEXt":
                return rest.decode("latin-1")
            if tag == b"zTXt":
                return _inflate(rest[1:], path).decode("latin-1")
            if tag == b"iTXt":
                return _itxt(rest, path)


def _itxt(rest: bytes, path: Path) -> str:
    """The text of an iTXt chunk after its keyword: compression flag and method, language tag,
    translated keyword, text.  Any other layout (a hand-made or damaged chunk) is one line naming the file."""
    fields = rest[2:].split(b"\0", 2)
    if len(rest) < 2 or rest[0] not in (0, 1) or len(fields) != 3:
        raise ValueError(f"{path}: its metadata chunk (iTXt) is malformed")
    body = _inflate(fields[2], path) if rest[0] else fields[2]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: its metadata chunk (iTXt) is not UTF-8 text") from None
