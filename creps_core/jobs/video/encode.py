"""Encoding frames into a video file: mp4/webm through ffmpeg (imageio), gif through Pillow.

imageio is imported when a writer is made or a file checked, never with this package: the
explorer imports the package for its keyframes and must start without the encoder.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from creps_core.jobs.video.keyframes import VideoSpec

if TYPE_CHECKING:
    from PIL import Image

VIDEO_FORMATS = {".mp4": "mp4", ".webm": "webm", ".gif": "gif"}
PNG_SEQUENCE = re.compile(r"[^%]*%0?[1-9]?d[^%]*\.png")  # one printf number: frame%05d.png, %d.png


def format_of(path: str | os.PathLike) -> str:
    """'mp4', 'webm', 'gif', or 'png' for a numbered PNG sequence (a name like %05d.png)."""
    name = Path(path).name
    if "%" in name:
        if not PNG_SEQUENCE.fullmatch(name):
            raise ValueError(f"{name!r}: a PNG sequence is named with one frame number in it, "
                             "e.g. frames/%05d.png or walk-%04d.png")
        return "png"
    fmt = VIDEO_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the video format from {name!r}; use .mp4, .webm or .gif, "
                         "or a numbered PNG name such as frames/%05d.png")
    return fmt


class VideoWriter(Protocol):
    """Takes the frames in order; ``close()`` finishes the file (and is called after a cancel too)."""

    def add(self, rgb: np.ndarray) -> None: ...

    def close(self) -> None: ...


def open_writer(path: Path, fmt: str, spec: VideoSpec) -> VideoWriter:
    """A writer of ``fmt`` ('mp4', 'webm' or 'gif') to ``path``, for frames of ``spec``'s rate and quality."""
    return _GifWriter(path, spec) if fmt == "gif" else _FFmpegWriter(path, fmt, spec)


class _FFmpegWriter:
    def __init__(self, path: Path, fmt: str, spec: VideoSpec) -> None:
        import imageio.v2 as iio

        opts: dict = {"fps": spec.fps, "macro_block_size": 16, "pixelformat": "yuv420p"}
        if fmt == "mp4":
            opts.update(codec="libx264", quality=spec.quality)
        else:  # VP9 in constant-quality mode: crf 0 (best) .. 63
            crf = round((1 - spec.quality / 10) * 63)
            opts.update(codec="libvpx-vp9", quality=None, output_params=["-crf", str(crf), "-b:v", "0"])
        self.w = iio.get_writer(path, format="FFMPEG", mode="I", **opts)

    def add(self, rgb: np.ndarray) -> None:
        self.w.append_data(rgb)

    def close(self) -> None:
        self.w.close()


class _GifWriter:
    """GIF through Pillow; it palettises on close, so frames are kept until then."""

    def __init__(self, path: Path, spec: VideoSpec) -> None:
        self.path, self.fps = path, spec.fps
        self.frames: list[Image.Image] = []

    def add(self, rgb: np.ndarray) -> None:
        from PIL import Image

        self.frames.append(Image.fromarray(rgb))

    def close(self) -> None:
        if not self.frames:  # cancelled before the first frame
            return
        first, *rest = self.frames
        first.save(self.path, format="GIF", save_all=True, append_images=rest,
                   duration=round(1000 / self.fps), loop=0)


def check_encoded(tmp: Path, out: Path, frames: int) -> None:
    """Refuse a video the encoder did not finish.  imageio never looks at ffmpeg's exit status, so
    a write that failed inside ffmpeg (a full disk) would otherwise leave a short file under the
    final name, reported as written."""
    import imageio.v2 as iio

    try:
        with iio.get_reader(tmp, format="FFMPEG") as reader:
            found = reader.count_frames()  # type: ignore[attr-defined]  # the FFMPEG reader has it
    except (OSError, RuntimeError):  # ffmpeg cannot even read the file's header
        found = 0
    if found != frames:
        raise OSError(errno.EIO, f"{out} was not written: the encoder stopped after {found} of {frames} frames "
                                 "(is its disk full? free space and run again; finished frames are kept)")
