"""Reading a picture someone else made (a projection's target): bounded, and one line when it cannot be used.

The file is untrusted: it may be a link to a device, a decompression bomb (a few kB of PNG that claims
100,000 x 100,000 pixels), truncated, or not an image at all.  :func:`read_square` checks that it is a
plain file of a sane size, reads the header only, refuses more than :data:`MAX_IMAGE_PIXELS` before
decoding anything (Pillow's own bomb warning is an error here), lets a JPEG decode at a reduced scale
(``draft``) when it is far larger than needed, and turns whatever Pillow raises into one ``ValueError``
naming the file.

The picture is centre-cropped to a square (the largest one, as ``dataset_tool.py --transform
center-crop`` and :func:`creps_core.train.dataset.load_image` do) and resized with Lanczos; the crop
is returned in the original file's pixels, so a record can say which part of the photograph was used.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from creps_core.io.safe_files import is_regular_file

MAX_IMAGE_PIXELS = 64_000_000  # a 64-megapixel photograph; past it, a bomb or not a picture to project
# (below Pillow's own warning, 89 Mpx, which is turned into an error: a bomb past it stops in Image.open)
MAX_IMAGE_BYTES = 512 << 20  # what a file may weigh (a 100 Mpx 16-bit TIFF is 600 MB; a PNG or JPEG far less)


@dataclass(frozen=True)
class SquareCrop:
    """Which part of the original picture was used: (left, top, side) in its pixels, and its size."""

    width: int
    height: int
    left: int
    top: int
    side: int

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "left": self.left, "top": self.top, "side": self.side}


def read_square(path: str | os.PathLike, size: int) -> tuple[np.ndarray, SquareCrop]:
    """The picture at ``path`` centre-cropped to a square and resized to ``size`` x ``size``: uint8 [size,
    size, 3] RGB, and the crop.  A file that cannot be used is one ValueError (FileNotFoundError when absent)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if not is_regular_file(path.resolve()):
        raise ValueError(f"{path}: not a plain file")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ValueError(f"{path}: {path.stat().st_size / 2**20:.0f} MiB is too large for a picture to project "
                         f"(at most {MAX_IMAGE_BYTES >> 20} MiB)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # our own bound is checked below
            with Image.open(path) as im:  # reads the header only
                width, height = im.size
                if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
                    raise ValueError(f"{path}: {width}x{height} pixels; a picture to project has at most "
                                     f"{MAX_IMAGE_PIXELS / 1e6:.0f} million")
                side = min(width, height)
                crop = SquareCrop(width, height, (width - side) // 2, (height - side) // 2, side)
                im.draft("RGB", (max(size, width * size // side), max(size, height * size // side)))
                scale = im.size[0] / width  # a JPEG drafted at 1/2, 1/4 or 1/8 of its size
                box = tuple(round(v * scale) for v in (crop.left, crop.top, crop.left + side, crop.top + side))
                # cropped first, so no pixel outside the square reaches the filter (as dataset_tool's crop)
                rgb = im.convert("RGB").crop(box).resize((size, size), Image.Resampling.LANCZOS)
                pixels = np.asarray(rgb, dtype=np.uint8).copy()
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: cannot read the picture ({_brief(e)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"{path}: claims too many pixels for a picture to project ({_brief(e)})") from None
    except UnidentifiedImageError as e:
        raise ValueError(f"{path}: not a picture this tool can read ({_brief(e)})") from None
    except (OSError, SyntaxError, EOFError, MemoryError, IndexError, KeyError, TypeError) as e:
        # what Pillow's decoders raise on truncated or damaged files
        raise ValueError(f"{path}: the picture is damaged or truncated ({_brief(e)})") from None
    return pixels, crop


def _brief(e: BaseException) -> str:
    text = " ".join(str(e).split())[:120]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
