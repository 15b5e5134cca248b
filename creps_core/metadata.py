"""Provenance of rendered files: what made them, enough to make them again.

Every image the project writes carries a JSON record under the text key
``creps`` (PNG tEXt chunk; TIFF ImageDescription; sidecar JSON for videos) with the
checkpoint's name and sha256, the latent spec and ws hash, the view, precision,
mode and engine version.  ``creps render --from FILE`` reads it back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from . import __version__
from .latents import LatentSpec
from .views import View

METADATA_KEY = "creps"


@dataclass
class RenderRecord:
    """What a rendered file needs to be re-rendered."""

    checkpoint: str
    checkpoint_sha256: str
    latent: LatentSpec
    view: View
    precision: str = "fp32"
    exact: bool = False
    network: str = "G_ema"
    supersample: int = 1
    extra: dict | None = None

    def to_json(self) -> str:
        return json.dumps({
            "creps_explorer": __version__, "checkpoint": self.checkpoint, "checkpoint_sha256": self.checkpoint_sha256,
            "network": self.network, "latent": self.latent.to_dict(), "view": self.view.to_dict(),
            "precision": self.precision, "exact": self.exact, "supersample": self.supersample,
            **({"extra": self.extra} if self.extra else {}),
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "RenderRecord":
        d = json.loads(text)
        return cls(checkpoint=d["checkpoint"], checkpoint_sha256=d.get("checkpoint_sha256", ""),
                   latent=LatentSpec.from_dict(d["latent"]), view=View.from_dict(d["view"]),
                   precision=d.get("precision", "fp32"), exact=bool(d.get("exact", False)),
                   network=d.get("network", "G_ema"), supersample=int(d.get("supersample", 1)), extra=d.get("extra"))


def atomic_path(path: Path) -> Path:
    """Temporary sibling name used while writing ``path`` (renamed when complete)."""
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


def write_png(path: str | os.PathLike, rgb: np.ndarray, record: RenderRecord | None = None) -> Path:
    """Write an HWC uint8 image as PNG with the record in a text chunk, atomically."""
    path = Path(path)
    info = PngImagePlugin.PngInfo()
    if record is not None:
        info.add_text(METADATA_KEY, record.to_json())
    tmp = atomic_path(path)
    try:
        Image.fromarray(rgb).save(tmp, format="PNG", pnginfo=info)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_record(path: str | os.PathLike) -> RenderRecord:
    """Read the provenance record of a PNG/TIFF/JPEG (or a .json sidecar) written by this project."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".json":
        return RenderRecord.from_json(path.read_text())
    with Image.open(path) as im:
        text = im.info.get(METADATA_KEY)
        if not text and 270 in getattr(im, "tag_v2", {}):  # TIFF ImageDescription
            text = im.tag_v2[270]
    if not text:
        raise ValueError(f"{path}: carries no CREPS Explorer metadata")
    try:
        return RenderRecord.from_json(text)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: its CREPS metadata is unreadable ({e})") from None
