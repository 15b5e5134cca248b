"""Keyframed videos: zoom, pan and rotate through a generated world or walk its latent space.

A video is a list of :class:`Keyframe` states (view + latent); segment i runs from
keyframe i to i+1 over ``keyframes[i].duration`` seconds with that keyframe's easing
(a looping video adds a last segment back to the first keyframe).  In between:

- zoom is interpolated in log scale (constant perceived speed), and the centre so
  that the point the two views share stays put on screen (a zoom into a point does
  not swing sideways); equal zooms pan linearly;
- rotation goes the shortest way round (orbit presets use quarter-turn segments);
- warps of one kind blend their parameters; different kinds switch half way;
- latents: ``slerp`` (in Z between seeds, as the official videos), ``lerp`` (in W), or
  ``spline``: the official gen_video cubic spline through all keyframes' ws.

Frames reuse the engine's work: an unchanged latent reuses its compiled program,
and pans with ``snap=True`` views reuse lines (see :mod:`creps_core.render.engine`).

``video_steps`` is the plain generator of work; ``render_video`` drives it with a
callback.  Output is written under a temporary name and renamed when complete; a
``NAME.json`` sidecar records everything needed to render it again.  An output name with a
``%05d``-style number in it (``frames/%05d.png``) writes numbered PNGs instead, each carrying
its own frame's latent and view (``creps render --from`` re-renders one).  Those records (the
sidecar's, each frame's) are also how a later video knows the files for its own and replaces them:
an input of the command or a file it did not write is kept (:mod:`creps_core.jobs.outputs`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from creps_core.io.safe_files import (
    DiskFullError,
    atomic_write,
    disk_full,
    is_regular_file,
    no_space,
    open_exclusive,
    remove_stale_temps,
    temp_sibling,
)
from creps_core.io.untrusted import read_json
from creps_core.jobs.export import TileStore, check_free_space, model_identity, remove_finished_work, work_dir
from creps_core.jobs.grids import layout
from creps_core.jobs.metadata import RenderRecord, read_record, write_png
from creps_core.jobs.outputs import Owned, carries_record, claim
from creps_core.latent.latents import Floats, LatentSpec, slerp
from creps_core.progress import DONE, ENCODING, RENDERING_FRAMES, CancelFn, Cancelled, Progress
from creps_core.render.engine import ENGINE_VERSION, Engine, to_uint8
from creps_core.render.views import View, Warp
from creps_core.vocabulary import LATENT_MODES

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
VIDEO_FORMATS = {".mp4": "mp4", ".webm": "webm", ".gif": "gif"}
PNG_SEQUENCE = re.compile(r"[^%]*%0?[1-9]?d[^%]*\.png")  # one printf number: frame%05d.png, %d.png

ProgressFn = Callable[[Progress], None]


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
    exact: bool = False
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
                "precision": self.precision, "exact": self.exact, "frames": self.frames}

    @classmethod
    def from_dict(cls, d: dict) -> VideoSpec:
        return cls(tuple(Keyframe.from_dict(k) for k in d["keyframes"]), int(d["width"]), int(d["height"]),
                   float(d.get("fps", 30)), d.get("latent_mode", "slerp"), bool(d.get("loop", False)),
                   float(d.get("quality", 8)), d.get("precision"), bool(d.get("exact", False)),
                   None if d.get("frames") is None else int(d["frames"]))


def validate(spec: VideoSpec, fmt: str) -> None:
    """Refuse impossible videos before any frame is rendered."""
    if not spec.keyframes:
        raise ValueError("a video needs at least one keyframe")
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


# ----- interpolation ------------------------------------------------------------------------
def interp_view(a: View, b: View, t: float) -> View:
    """The view a fraction t of the way from a to b (sizes and snapping from a)."""
    za, zb = a.zoom, b.zoom
    zoom = za * (zb / za) ** t
    if abs(math.log(zb / za)) > 1e-9:
        # Keep the fixed point of the a->b zoom still on screen: c(t) = ca + (cb - ca) * s(t).
        s = (za / zoom - 1) / (za / zb - 1)
    else:
        s = t
    center = tuple(ca + (cb - ca) * s for ca, cb in zip(a.center, b.center))
    turn = (b.rotation - a.rotation + 180.0) % 360.0 - 180.0
    rotation = a.rotation + turn * t
    return a.with_(center=center, zoom=zoom, rotation=rotation, warp=interp_warp(a.warp, b.warp, t), window=None)


def interp_warp(a: Warp | None, b: Warp | None, t: float) -> Warp | None:
    """The warp between two keyframes' warps; a missing one fades in or out as the other at
    strength 0. Different kinds or formulas cannot blend: they switch half way."""
    if a is None and b is None:
        return None
    a = a or replace(b, strength=0.0)
    b = b or replace(a, strength=0.0)
    if a.kind != b.kind or a.kind == "custom" or a.formula != b.formula:
        return a if t < 0.5 else b
    if a.kind == "none":
        return None

    def mix(x: float, y: float) -> float:
        return x + (y - x) * t

    return Warp(a.kind, mix(a.strength, b.strength), mix(a.radius, b.radius), mix(a.frequency, b.frequency),
                (mix(a.center[0], b.center[0]), mix(a.center[1], b.center[1])), formula=a.formula)


def _seed_pair(a: LatentSpec, b: LatentSpec) -> bool:
    """True when a and b differ only in their seed (then a blend is itself a LatentSpec)."""
    return a.interp_seed is None and b.interp_seed is None and replace(a, seed=b.seed) == b


def interp_latent(engine: Engine | None, a: LatentSpec, b: LatentSpec, t: float, mode: str,
                  ) -> LatentSpec | torch.Tensor:
    """Latent a fraction t from a to b: a LatentSpec when expressible (reproducible, cacheable), else ws."""
    if t <= 0 or a == b:
        return a
    if t >= 1:
        return b
    if _seed_pair(a, b):
        return a.with_(interp_seed=b.seed, interp_t=t, interp_space="z" if mode == "slerp" else "w")
    wa, wb = engine.ws(a), engine.ws(b)
    return slerp(wa, wb, t) if mode == "slerp" else torch.lerp(wa, wb, t)


class _Spline:
    """The official gen_video latent spline: cubic through the keyframes' ws, tiled for loops."""

    def __init__(self, ws: np.ndarray, loop: bool) -> None:
        from scipy.interpolate import CubicSpline, interp1d

        k = len(ws)
        if loop:  # as gen_video.py: wraps=2 copies each side, kind='cubic'
            x = np.arange(-2 * k, 3 * k)
            self.f = interp1d(x, np.tile(ws, [5, 1, 1]), kind="cubic", axis=0)
        elif k >= 2:
            self.f = CubicSpline(np.arange(k), ws, axis=0, bc_type="not-a-knot")
        else:
            self.f = lambda p: ws[0]

    def __call__(self, p: float) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.f(p), dtype=np.float32))


@dataclass
class Frame:
    """One frame's state."""

    index: int
    view: View
    latent: LatentSpec | torch.Tensor


def frames(engine: Engine, spec: VideoSpec) -> Iterator[Frame]:
    """The state of every frame, in order."""
    spline = _spline_of(engine, spec)
    for i in range(spec.n_frames):
        yield _frame(engine, spec, i, spline)


def frame_at(engine: Engine, spec: VideoSpec, index: int) -> Frame:
    """The state of one frame (for previews and scrubbing in a keyframe panel)."""
    if not 0 <= index < spec.n_frames:
        raise ValueError(f"frame {index} is outside 0..{spec.n_frames - 1}")
    return _frame(engine, spec, index, _spline_of(engine, spec))


def _spline_of(engine: Engine, spec: VideoSpec) -> _Spline | None:
    if spec.latent_mode != "spline":
        return None
    return _Spline(np.stack([engine.ws(k.latent).cpu().numpy() for k in spec.keyframes]), spec.loop)


def _segment(spec: VideoSpec, index: int) -> tuple[int, float]:
    """(segment, eased fraction along it) shown by frame ``index``."""
    kfs = spec.keyframes
    ends = np.cumsum([k.duration for k in kfs[:spec.n_segments]])
    time_s = min(spec.frame_time(index), spec.duration)
    seg = min(int(np.searchsorted(ends, time_s, side="right")), spec.n_segments - 1)
    a = kfs[seg]
    return seg, EASINGS[a.easing](min(max((time_s - (ends[seg] - a.duration)) / a.duration, 0.0), 1.0))


def preview_state(spec: VideoSpec, index: int) -> tuple[View, LatentSpec]:
    """The view of frame ``index`` and a latent to show with it, without an engine (for scrubbing):
    the frame's own latent where a LatentSpec expresses it, else the nearer keyframe's."""
    kfs = spec.keyframes
    if spec.n_segments == 0:
        return kfs[0].view.with_(window=None), kfs[0].latent
    seg, t = _segment(spec, index)
    a, b = kfs[seg], kfs[(seg + 1) % len(kfs)]
    view = interp_view(a.view, b.view, t)
    if spec.latent_mode != "spline" and (t <= 0 or t >= 1 or a.latent == b.latent or _seed_pair(a.latent, b.latent)):
        return view, interp_latent(None, a.latent, b.latent, t, spec.latent_mode)  # needs no ws
    return view, (a if t < 0.5 else b).latent


def _frame(engine: Engine, spec: VideoSpec, index: int, spline: _Spline | None) -> Frame:
    kfs = spec.keyframes
    if spec.n_segments == 0:  # a single still keyframe
        return Frame(index, kfs[0].view.with_(width=spec.width, height=spec.height, window=None), kfs[0].latent)
    seg, t = _segment(spec, index)
    a, b = kfs[seg], kfs[(seg + 1) % len(kfs)]
    view = interp_view(a.view, b.view, t).with_(width=spec.width, height=spec.height)
    if spline is not None:
        latent = spline(seg + t).to(engine.device)
    else:
        latent = interp_latent(engine, a.latent, b.latent, t, spec.latent_mode)
    return Frame(index, view, latent)


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


def record(keyframes: Sequence[Keyframe], view: View, latent: LatentSpec, duration: float = 2.0,
           easing: str = "in_out") -> list[Keyframe]:
    """"Record from the explorer": the keyframes with the current state appended."""
    return [*keyframes, Keyframe(view.with_(window=None), latent, duration, easing)]


SPEC_MARK = "written_by"  # a key of saved specs (ignored when read): a later --save-spec may replace the file


def save_spec(path: str | os.PathLike, spec: VideoSpec) -> None:
    atomic_write(path, json.dumps({**spec.to_dict(), SPEC_MARK: "CREPS Explorer"}, indent=1).encode())


def saved_spec(path: Path) -> bool:
    """True for a video spec :func:`save_spec` wrote (a later one replaces it; a hand-written one is kept)."""
    try:
        return is_regular_file(path) and read_json(path, MAX_SPEC_BYTES).get(SPEC_MARK) == "CREPS Explorer"
    except (OSError, ValueError, AttributeError):
        return False


def load_spec(path: str | os.PathLike) -> VideoSpec:
    """A video spec from JSON; anything malformed is one ValueError naming the file and the field."""
    path = Path(path)
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise ValueError(f"{path}: too large to be a video spec ({path.stat().st_size:,} bytes)")
    data = read_json(path, MAX_SPEC_BYTES)  # one line naming the file for bad, deep or non-finite JSON
    if not isinstance(data, dict) or not isinstance(data.get("keyframes"), list):
        raise ValueError(f"{path}: not a video spec (it needs a 'keyframes' list)")
    for field_name in ("width", "height", "frames"):
        value = data.get(field_name)
        if field_name in data and value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{path}: {field_name} must be a whole number, got {value!r}")
    for field_name in ("fps", "quality"):
        value = data.get(field_name, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{path}: {field_name} must be a number, got {value!r}")
    for i, k in enumerate(data["keyframes"]):
        if not isinstance(k, dict) or not isinstance(k.get("view"), dict) or not isinstance(k.get("latent"), dict):
            raise ValueError(f"{path}: keyframe {i} needs a 'view' and a 'latent' object")
        if isinstance(k.get("duration", 2.0), bool) or not isinstance(k.get("duration", 2.0), (int, float)):
            raise ValueError(f"{path}: keyframe {i} duration must be a number, got {k.get('duration')!r}")
    try:
        return VideoSpec.from_dict(data)
    except KeyError as e:
        raise ValueError(f"{path}: the video spec lacks {e}") from None
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None


# ----- writing ---------------------------------------------------------------------------------
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

    def __init__(self, path: Path, fmt: str, spec: VideoSpec) -> None:
        self.path, self.fps, self.frames = path, spec.fps, []

    def add(self, rgb: np.ndarray) -> None:
        from PIL import Image

        self.frames.append(Image.fromarray(rgb))

    def close(self) -> None:
        if not self.frames:  # cancelled before the first frame
            return
        first, *rest = self.frames
        first.save(self.path, format="GIF", save_all=True, append_images=rest,
                   duration=round(1000 / self.fps), loop=0)


def video_record(spec: VideoSpec, engine: Engine, cells: Sequence[VideoSpec] = (), columns: int = 1,
                 ) -> RenderRecord:
    """The sidecar record: the first keyframe as the record's state, the whole spec in ``extra``
    (and every cell of a grid video)."""
    m = engine.model
    first = spec.keyframes[0]
    return RenderRecord(checkpoint=str(m.path) if m else "", checkpoint_sha256=m.sha256 if m else "",
                        latent=first.latent, view=first.view.with_(width=spec.width, height=spec.height),
                        precision=spec.precision or engine.precision, exact=spec.exact,
                        network=m.network if m else "G_ema",
                        extra={"kind": "video", "frames": spec.n_frames, "video": spec.to_dict(),
                               **({"grid_columns": columns, "cells": [c.to_dict() for c in cells]} if cells else {})})


def video_steps(engine: Engine, spec: VideoSpec, out_path: str | os.PathLike, *,
                cancel: CancelFn | None = None, cells: Sequence[VideoSpec] = (), columns: int = 1,
                force: bool = False, fresh: bool = False, inputs: Sequence[str | os.PathLike] = (),
                ) -> Iterator[Progress]:
    """Render every frame, then encode them, yielding a :class:`Progress` after each (and DONE).

    ``cells`` (row-major, ``columns`` wide) makes a grid of videos side by side, as the official
    gen_video.py ``--grid``: each frame tiles frame i of every cell; ``spec`` is then the first
    cell.  Finished frames wait in a work folder beside the output (``.NAME.partial/``), so a
    cancelled or killed video resumes where it stopped when the same video is asked for again.
    Raises Cancelled on cancel (nothing is left under the final name).

    Nothing is written when a name it would write holds one of ``inputs`` (the checkpoint is one),
    a link or a file no video wrote, unless ``force``; nor when the work folder holds the frames of
    another video, unless ``fresh`` (both KeptError).  When another process finishes the same video
    to the same name meanwhile, this one ends with a note saying so.
    """
    out = Path(out_path)
    fmt = format_of(out)
    cells = list(cells) or [spec]
    rows = -(-len(cells) // columns)
    canvas = replace(spec, width=spec.width * columns, height=spec.height * rows)
    validate(canvas, fmt)
    record = video_record(spec, engine, cells if len(cells) > 1 else (), columns)
    job = hashlib.sha256(f"{record.to_json()}|{model_identity(engine)}|{ENGINE_VERSION}".encode()).hexdigest()
    inputs = [engine.model.path if engine.model else None, *inputs]
    if fmt == "png":
        yield from _png_sequence_steps(engine, spec, out, cells, columns, rows, record, job, cancel,
                                       partial(claim, inputs=inputs, force=force))
        return
    sidecar = out.with_name(out.name + ".json")
    check_outputs = partial(claim, [(out, _with_record(sidecar)), (sidecar, carries_record)], inputs, force)
    check_outputs()
    remove_stale_temps(out)
    try:
        # Finished frames are kept in a work folder, like export tiles: an interrupted video resumes.
        store = TileStore(work_dir(out), job, {"video": str(out.name)}, fresh, what="a video")
        shape = (canvas.height, canvas.width)
        total = spec.n_frames
        todo = {i for i in range(total) if not store.has(0, i, 0, shape)}
        check_free_space(store.root, len(todo) * shape[0] * shape[1] * 3)
        kept = total - len(todo)
        note = f"resuming: {kept} of {total} frames were already rendered" if kept else None
        yield Progress(RENDERING_FRAMES, kept, total, note=note)
        yield from _render_frames(engine, spec, cells, columns, rows, todo,
                                  lambda index, states, image: store.save(0, index, 0, image), cancel)
        tmp = temp_sibling(out)  # keeps the suffix: ffmpeg picks the muxer by it
        sidecar_tmp = temp_sibling(sidecar)
        try:
            open_exclusive(tmp).close()  # ours alone: the encoder reopens it by name
            writer = (_GifWriter if fmt == "gif" else _FFmpegWriter)(tmp, fmt, canvas)
            try:
                for index in range(total):
                    if cancel is not None and cancel():
                        raise Cancelled()
                    writer.add(store.load(0, index, 0))
                    yield Progress(ENCODING, index + 1, total)
            finally:
                writer.close()
            if fmt != "gif":
                _check_encoded(tmp, out, total)
            with open_exclusive(sidecar_tmp) as f:
                f.write(record.to_json().encode())
            check_outputs()
            os.replace(tmp, out)
            os.replace(sidecar_tmp, sidecar)
        except OSError as e:
            if no_space(e) and not isinstance(e, DiskFullError):
                raise disk_full(e, out, "free space and run again (finished frames are kept)") from None
            raise
        finally:
            tmp.unlink(missing_ok=True)
            sidecar_tmp.unlink(missing_ok=True)
        store.remove()
        yield Progress(DONE, total, total, 0.0, out)
    except FileNotFoundError:
        if not _finished_elsewhere(out, sidecar, record):
            raise
        remove_finished_work(work_dir(out), job)
        yield Progress(DONE, spec.n_frames, spec.n_frames, 0.0, out,
                       note=f"another process finished the same video to {out} meanwhile; nothing more to do")


def _with_record(sidecar: Path) -> Owned:
    """A video is recognised by its sidecar: it carries no record of its own."""
    return lambda video: is_regular_file(video) and carries_record(sidecar)


def _finished_elsewhere(out: Path, sidecar: Path, record: RenderRecord) -> bool:
    """True when ``out`` now holds this very video, finished meanwhile by another process that worked
    in the same work folder (and removed it)."""
    try:
        return is_regular_file(out) and sidecar.read_text() == record.to_json()
    except (OSError, ValueError):
        return False


def frame_path(pattern: Path, index: int) -> Path:
    """The file of frame ``index`` of a numbered PNG sequence."""
    return pattern.with_name(pattern.name % index)


def _frame_record(record: RenderRecord, frame: Frame, job: str, single: bool) -> RenderRecord:
    """A PNG frame's record: its own latent (as a ws when no LatentSpec expresses it) and view, so
    `creps render --from` re-renders it; the frame of a grid keeps the whole video's record."""
    extra = {**record.extra, "frame": frame.index, "job": job}
    if not single:
        return replace(record, extra=extra)
    latent = frame.latent
    if not isinstance(latent, LatentSpec):
        latent = LatentSpec(ws=Floats.of(latent.detach().cpu().numpy()))
    return replace(record, latent=latent, view=frame.view, extra={**extra, "kind": "video-frame"})


def _finished(path: Path, job: str) -> bool:
    """True when ``path`` is a frame this very job wrote (a resume skips it)."""
    try:
        return path.is_file() and (read_record(path).extra or {}).get("job") == job
    except (OSError, ValueError):
        return False


def _png_sequence_steps(engine: Engine, spec: VideoSpec, pattern: Path, cells: list[VideoSpec], columns: int,
                        rows: int, record: RenderRecord, job: str, cancel: CancelFn | None,
                        check_outputs: Callable[[Iterator[tuple[Path, Owned]]], None]) -> Iterator[Progress]:
    """Numbered PNG frames, each written atomically; frames this job already wrote are kept, and
    those of another video replaced (``check_outputs`` refuses names holding anything else)."""
    total = spec.n_frames
    todo = {i for i in range(total) if not _finished(frame_path(pattern, i), job)}
    check_outputs((frame_path(pattern, i), carries_record) for i in sorted(todo))
    pattern.parent.mkdir(parents=True, exist_ok=True)
    kept = total - len(todo)
    note = f"resuming: {kept} of {total} frames were already written" if kept else None
    yield Progress(RENDERING_FRAMES, kept, total, note=note)

    def save(index: int, states: list, image: np.ndarray) -> None:
        write_png(frame_path(pattern, index), image, _frame_record(record, states[0], job, len(cells) == 1))

    yield from _render_frames(engine, spec, cells, columns, rows, todo, save, cancel)
    yield Progress(DONE, total, total, 0.0, pattern)


def _render_frames(engine: Engine, spec: VideoSpec, cells: list[VideoSpec], columns: int, rows: int,
                   todo: set[int], save: Callable[[int, list, np.ndarray], None],
                   cancel: CancelFn | None) -> Iterator[Progress]:
    """Render the frames in ``todo`` (the grid's cells laid out side by side) and hand each to
    ``save(index, cell states, image)``; progress after every frame."""
    total, kept, start = spec.n_frames, spec.n_frames - len(todo), time.monotonic()
    streams = [frames(engine, cell) for cell in cells]
    made = 0
    for index in range(total):
        states = [next(s) for s in streams]  # every stream advances: the walk's state depends on it
        if index not in todo:
            continue
        images = [to_uint8(engine.render(f.latent, f.view, precision=spec.precision, exact=spec.exact,
                                         cancel=cancel)) for f in states]
        save(index, states, layout(images, columns, rows))
        made += 1
        yield Progress(RENDERING_FRAMES, kept + made, total, (time.monotonic() - start) / made * (len(todo) - made))


def _check_encoded(tmp: Path, out: Path, frames: int) -> None:
    """Refuse a video the encoder did not finish.  imageio never looks at ffmpeg's exit status, so
    a write that failed inside ffmpeg (a full disk) would otherwise leave a short file under the
    final name, reported as written."""
    import imageio.v2 as iio

    try:
        with iio.get_reader(tmp, format="FFMPEG") as reader:
            found = reader.count_frames()
    except (OSError, RuntimeError):  # ffmpeg cannot even read the file's header
        found = 0
    if found != frames:
        raise OSError(errno.EIO, f"{out} was not written: the encoder stopped after {found} of {frames} frames "
                                 "(is its disk full? free space and run again; finished frames are kept)")


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


def render_video(engine: Engine, keyframes: Sequence[Keyframe], out_path: str | os.PathLike, *, fps: float = 30.0,
                 width: int | None = None, height: int | None = None, latent_mode: str = "slerp", loop: bool = False,
                 quality: float = 8.0, precision: str | None = None, exact: bool = False,
                 progress: ProgressFn | None = None, cancel: CancelFn | None = None, force: bool = False,
                 fresh: bool = False) -> Path:
    """Render keyframes to an mp4/webm/gif (by extension); returns the path.

    Frame size defaults to the first keyframe's view; ``progress(Progress)`` after each
    frame; ``cancel()`` True stops with Cancelled.  ``force`` and ``fresh``: see
    :func:`video_steps`.
    """
    if not keyframes:
        raise ValueError("a video needs at least one keyframe")
    first = keyframes[0].view
    spec = VideoSpec(tuple(keyframes), width or first.width, height or first.height, fps, latent_mode, loop,
                     quality, precision, exact)
    for step in video_steps(engine, spec, out_path, cancel=cancel, force=force, fresh=fresh):
        if progress is not None:
            progress(step)
    return Path(out_path)
