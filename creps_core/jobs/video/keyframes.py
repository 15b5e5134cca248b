"""What a video is: :class:`Keyframe` states, the :class:`VideoSpec` around them, presets, spec files.

A video is a list of keyframes (view + latent); segment i runs from keyframe i to i+1 over
``keyframes[i].duration`` seconds with that keyframe's easing (a looping video adds a last
segment back to the first keyframe); :mod:`.timeline` says what lies between them.  The explorer
keeps its keyframes in these records, so this module imports no encoder and no engine.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from creps_core.io.safe_files import atomic_write, is_regular_file
from creps_core.io.untrusted import read_json
from creps_core.latent.latents import LatentSpec
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, LATENT_MODES, check_warp_quality, read_warp_quality

EASINGS: dict[str, Callable[[float], float]] = {
    "linear": lambda t: t,
    "in": lambda t: t * t * t,
    "out": lambda t: 1 - (1 - t) ** 3,
    "in_out": lambda t: 4 * t**3 if t < 0.5 else 1 - (-2 * t + 2) ** 3 / 2,
}
MAX_FPS = 1000.0
MAX_FRAMES = 10_000_000  # about 92 hours at 30 fps
MAX_FRAME_SIDE = 16384  # the largest frame H.264 and VP9 encoders take
MAX_TURNS = 1000  # orbit preset: four keyframes a turn
MAX_SPEC_BYTES = 64 << 20  # a video spec is JSON of keyframes (~1 kB each)


@dataclass(frozen=True)
class Keyframe:
    """A state to pass through; ``duration`` and ``easing`` describe the segment that follows."""

    view: View
    latent: LatentSpec
    duration: float = 2.0  # seconds to the next keyframe
    easing: str = "in_out"

    def __post_init__(self) -> None:
        if self.easing not in EASINGS:
            raise ValueError(f"unknown easing {self.easing!r}; choose one of {', '.join(EASINGS)}")
        if not self.duration > 0:
            raise ValueError(f"keyframe duration must be positive, got {self.duration}")

    def to_dict(self) -> dict:
        return {"view": self.view.to_dict(), "latent": self.latent.to_dict(), "duration": self.duration,
                "easing": self.easing}

    @classmethod
    def from_dict(cls, d: dict) -> Keyframe:
        return cls(View.from_dict(d["view"]), LatentSpec.from_dict(d["latent"]), float(d.get("duration", 2.0)),
                   d.get("easing", "in_out"))


@dataclass(frozen=True)
class VideoSpec:
    """A whole video: keyframes, frame size and timing, how latents are interpolated."""

    keyframes: tuple[Keyframe, ...]
    width: int
    height: int
    fps: float = 30.0
    latent_mode: str = "slerp"
    loop: bool = False
    quality: float = 8.0  # 0 (smallest) .. 10 (best)
    precision: str | None = None
    warp_quality: str = DEFAULT_WARP_QUALITY  # vocabulary.WARP_QUALITIES
    frames: int | None = None  # exact frame count; None: round(duration * fps)

    @property
    def n_segments(self) -> int:
        return len(self.keyframes) if self.loop else len(self.keyframes) - 1

    @property
    def duration(self) -> float:
        return sum(k.duration for k in self.keyframes[:self.n_segments])

    @property
    def n_frames(self) -> int:
        """``frames`` when given, else round(duration * fps) (at least 1)."""
        if self.frames is not None:
            return self.frames
        if self.n_segments == 0:
            return 1
        return max(1, round(self.duration * self.fps))

    def frame_time(self, index: int) -> float:
        """Seconds into the keyframe timeline shown by frame ``index``.

        Frames are spread evenly: a looping video ends one step before its start (so it
        repeats seamlessly); any other video ends exactly on its last keyframe.
        """
        n = self.n_frames
        if self.loop:
            return self.duration * index / n
        return self.duration * index / (n - 1) if n > 1 else 0.0

    def to_dict(self) -> dict:
        return {"keyframes": [k.to_dict() for k in self.keyframes], "width": self.width, "height": self.height,
                "fps": self.fps, "latent_mode": self.latent_mode, "loop": self.loop, "quality": self.quality,
                "precision": self.precision, "warp_quality": self.warp_quality, "frames": self.frames}

    @classmethod
    def from_dict(cls, d: dict) -> VideoSpec:
        return cls(tuple(Keyframe.from_dict(k) for k in d["keyframes"]), int(d["width"]), int(d["height"]),
                   float(d.get("fps", 30)), d.get("latent_mode", "slerp"), bool(d.get("loop", False)),
                   float(d.get("quality", 8)), d.get("precision"), read_warp_quality(d),
                   None if d.get("frames") is None else int(d["frames"]))


def validate(spec: VideoSpec, fmt: str) -> None:
    """Refuse impossible videos before any frame is rendered."""
    if not spec.keyframes:
        raise ValueError("a video needs at least one keyframe")
    check_warp_quality(spec.warp_quality)
    if spec.latent_mode not in LATENT_MODES:
        raise ValueError(f"unknown latent interpolation {spec.latent_mode!r}; choose one of {', '.join(LATENT_MODES)}")
    if not 0 < spec.fps <= MAX_FPS:
        raise ValueError(f"fps must be in (0, {MAX_FPS}], got {spec.fps}")
    if not 1 <= spec.n_frames <= MAX_FRAMES:
        raise ValueError(f"a video has 1..{MAX_FRAMES:,} frames; this one would have {spec.n_frames:,}")
    if max(spec.width, spec.height) > MAX_FRAME_SIDE:
        raise ValueError(f"frames are at most {MAX_FRAME_SIDE} pixels a side (video codecs), "
                         f"got {spec.width}x{spec.height}")
    if spec.width < 16 or spec.height < 16:
        raise ValueError(f"frames must be at least 16x16, got {spec.width}x{spec.height}")
    if fmt in ("mp4", "webm") and (spec.width % 16 or spec.height % 16):  # png sequences take any size
        w, h = fit_video_size(spec.width, spec.height)
        raise ValueError(f"{fmt} frame sizes must be multiples of 16; {spec.width}x{spec.height} is not (try {w}x{h})")
    if not 0 <= spec.quality <= 10:
        raise ValueError(f"quality must be in 0..10, got {spec.quality}")


def fit_video_size(width: int, height: int) -> tuple[int, int]:
    """The nearest frame size that video codecs accept (multiples of 16, at least 16)."""
    return max(16, (width + 8) // 16 * 16), max(16, (height + 8) // 16 * 16)


# ----- presets --------------------------------------------------------------------------------
def zoom_into(view: View, latent: LatentSpec, point: tuple[float, float], factor: float,
              duration: float = 8.0, easing: str = "in_out") -> list[Keyframe]:
    """From ``view`` into ``point`` magnified ``factor`` times."""
    if not factor > 0:
        raise ValueError("zoom factor must be positive")
    end = view.with_(center=tuple(point), zoom=view.zoom * factor)
    return [Keyframe(view, latent, duration, easing), Keyframe(end, latent, duration, easing)]


def orbit(view: View, latent: LatentSpec, turns: float = 1.0, duration: float = 8.0) -> list[Keyframe]:
    """Rotate about the view centre, in quarter-turn linear segments (loops seamlessly for whole turns)."""
    if not (math.isfinite(turns) and abs(turns) <= MAX_TURNS):
        raise ValueError(f"orbit turns must be a number in -{MAX_TURNS}..{MAX_TURNS}, got {turns}")
    n = max(1, math.ceil(abs(turns) * 4))
    step = 360.0 * turns / n
    return [Keyframe(view.with_(rotation=view.rotation + step * i), latent, duration / n, "linear")
            for i in range(n + 1)]


def pan(view: View, latent: LatentSpec, to_center: tuple[float, float], duration: float = 6.0,
        easing: str = "in_out") -> list[Keyframe]:
    """Slide to ``to_center`` at fixed zoom; snapped views let frames reuse each other's lines."""
    start = view.with_(snap=True)
    end = start.with_(center=tuple(to_center))
    return [Keyframe(start, latent, duration, easing), Keyframe(end, latent, duration, easing)]


def latent_walk(view: View, seeds: Sequence[int], seconds_per_seed: float = 2.0, psi: float = 1.0,
                class_idx: int | None = None, easing: str = "linear") -> list[Keyframe]:
    """Through the given seeds (use latent_mode 'spline' and loop=True for the official look)."""
    if not seeds:
        raise ValueError("a latent walk needs at least one seed")
    return [Keyframe(view, LatentSpec(seed=int(s), psi=psi, class_idx=class_idx), seconds_per_seed, easing)
            for s in seeds]


def walk_through(view: View, latents: Sequence[LatentSpec], seconds_per_latent: float = 2.0,
                 easing: str = "linear") -> list[Keyframe]:
    """Through the given latents -- ws files a projector wrote, say -- as :func:`latent_walk` goes
    through seeds."""
    if not latents:
        raise ValueError("a latent walk needs at least one latent")
    return [Keyframe(view, latent, seconds_per_latent, easing) for latent in latents]


def record(keyframes: Sequence[Keyframe], view: View, latent: LatentSpec, duration: float = 2.0,
           easing: str = "in_out") -> list[Keyframe]:
    """"Record from the explorer": the keyframes with the current state appended."""
    return [*keyframes, Keyframe(view.with_(window=None), latent, duration, easing)]


def official_walk(view: View, seeds: Sequence[int], grid: tuple[int, int] = (1, 1), num_keyframes: int | None = None,
                  w_frames: int = 120, kind: str = "cubic", psi: float = 1.0, class_idx: int | None = None,
                  shuffle_seed: int | None = None, fps: float = 60.0, quality: float = 8.0,
                  precision: str | None = None) -> list[VideoSpec]:
    """The looping latent walks of the official gen_video.py, one VideoSpec per grid cell (row-major).

    As there: keyframes default to len(seeds) / cells; seeds repeat to fill every cell's
    keyframes, optionally shuffled with numpy's RandomState(shuffle_seed); each cell loops
    through its keyframes, ``w_frames`` frames apart, cubic (spline) or linear in W.
    """
    grid_w, grid_h = grid
    n_cells = grid_w * grid_h
    if not seeds:
        raise ValueError("a latent walk needs at least one seed")
    if num_keyframes is None:
        if len(seeds) % n_cells:
            raise ValueError(f"the number of seeds ({len(seeds)}) must be divisible by the grid's {n_cells} cells")
        num_keyframes = len(seeds) // n_cells
    all_seeds = np.array([seeds[i % len(seeds)] for i in range(num_keyframes * n_cells)], dtype=np.int64)
    if shuffle_seed is not None:
        np.random.RandomState(seed=shuffle_seed).shuffle(all_seeds)
    mode = {"cubic": "spline", "linear": "lerp"}[kind]
    specs = []
    for cell in range(n_cells):
        cell_seeds = all_seeds[cell * num_keyframes:(cell + 1) * num_keyframes]
        kfs = tuple(Keyframe(view, LatentSpec(seed=int(s), psi=psi, class_idx=class_idx), w_frames / fps, "linear")
                    for s in cell_seeds)
        specs.append(VideoSpec(kfs, view.width, view.height, fps, mode, True, quality, precision,
                               frames=num_keyframes * w_frames))
    return specs


SPEC_MARK = "written_by"  # a key of saved specs (ignored when read): a later --save-spec may replace the file


def save_spec(path: str | os.PathLike, spec: VideoSpec) -> None:
    atomic_write(path, json.dumps({**spec.to_dict(), SPEC_MARK: "CREPS Explorer"}, indent=1).encode())


def saved_spec(path: Path) -> bool:
    """True for a video spec :func:`save_spec` wrote (a later one replaces it; a hand-written one is kept)."""
    try:
        data = read_json(path, MAX_SPEC_BYTES) if is_regular_file(path) else None
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get(SPEC_MARK) == "CREPS Explorer"


def load_spec(path: str | os.PathLike) -> VideoSpec:
    """A video spec from JSON -- a spec file (:func:`save_spec`) or a video's own ``.json``
    sidecar, whose record carries the spec; anything malformed is one ValueError naming the file
    and the field."""
    path = Path(path)
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise ValueError(f"{path}: too large to be a video spec ({path.stat().st_size:,} bytes)")
    data = read_json(path, MAX_SPEC_BYTES)  # one line naming the file for bad, deep or non-finite JSON
    if isinstance(data, dict) and "keyframes" not in data:
        extra = data.get("extra")
        if isinstance(extra, dict) and extra.get("kind") in ("video", "video-frame"):
            data = extra.get("video")  # a video's sidecar: its record holds the spec
    return spec_from_data(data, str(path))


def spec_from_data(data: object, where: str) -> VideoSpec:
    """A video spec from parsed JSON (a spec file's, or the one inside a video's record), every field
    checked; anything malformed is one ValueError naming ``where`` and the field."""
    if not isinstance(data, dict) or not isinstance(data.get("keyframes"), list):
        raise ValueError(f"{where}: not a video spec (it needs a 'keyframes' list)")
    for field_name in ("width", "height", "frames"):
        value = data.get(field_name)
        if field_name in data and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{where}: {field_name} must be a whole number, got {value!r}")
    for field_name in ("fps", "quality"):
        value = data.get(field_name, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: {field_name} must be a number, got {value!r}")
    for i, k in enumerate(data["keyframes"]):
        if not isinstance(k, dict) or not isinstance(k.get("view"), dict) or not isinstance(k.get("latent"), dict):
            raise ValueError(f"{where}: keyframe {i} needs a 'view' and a 'latent' object")
        if isinstance(k.get("duration", 2.0), bool) or not isinstance(k.get("duration", 2.0), (int, float)):
            raise ValueError(f"{where}: keyframe {i} duration must be a number, got {k.get('duration')!r}")
    try:
        return VideoSpec.from_dict(data)
    except KeyError as e:
        raise ValueError(f"{where}: the video spec lacks {e}") from None
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: {e}") from None
