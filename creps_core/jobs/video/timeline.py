"""The timeline between keyframes: the view, warp and latent of every frame.

- zoom is interpolated in log scale (constant perceived speed), and the centre so
  that the point the two views share stays put on screen (a zoom into a point does
  not swing sideways); equal zooms pan linearly;
- rotation goes the shortest way round (orbit presets use quarter-turn segments);
- warps of one kind blend their parameters; different kinds switch half way;
- latents: ``slerp`` (in Z between seeds, as the official videos), ``lerp`` (in W), or
  ``spline``: the official gen_video cubic spline through all keyframes' ws.

Frames reuse the engine's work: an unchanged latent reuses its compiled program,
and pans with ``snap=True`` views reuse lines (see :mod:`creps_core.render.engine`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from creps_core.jobs.video.keyframes import EASINGS, VideoSpec
from creps_core.latent.latents import LatentSpec, slerp
from creps_core.model.network import CREPSConfig
from creps_core.render.costs import view_macs
from creps_core.render.engine import Engine
from creps_core.render.views import View, Warp


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
    if a is None:
        if b is None:
            return None
        a = replace(b, strength=0.0)
    elif b is None:
        b = replace(a, strength=0.0)
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


def _blend_spec(a: LatentSpec, b: LatentSpec, t: float, mode: str) -> LatentSpec | None:
    """The latent a fraction t from a to b where a LatentSpec expresses it (no ws needed), else None."""
    if t <= 0 or a == b:
        return a
    if t >= 1:
        return b
    if _seed_pair(a, b):
        return a.with_(interp_seed=b.seed, interp_t=t, interp_space="z" if mode == "slerp" else "w")
    return None


def interp_latent(engine: Engine, a: LatentSpec, b: LatentSpec, t: float, mode: str) -> LatentSpec | torch.Tensor:
    """Latent a fraction t from a to b: a LatentSpec when expressible (reproducible, cacheable), else ws."""
    blend = _blend_spec(a, b, t, mode)
    if blend is not None:
        return blend
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
    blend = None if spec.latent_mode == "spline" else _blend_spec(a.latent, b.latent, t, spec.latent_mode)
    return view, blend if blend is not None else (a if t < 0.5 else b).latent


MAX_COSTED_FRAMES = 240  # frames whose views are costed one by one; longer videos are sampled evenly


def video_macs(cfg: CREPSConfig, spec: VideoSpec) -> int:
    """Multiply-adds of the whole video, every frame's lines new, each frame costed by its own view:
    rotated and warped frames as such (their line tables at the video's warp quality; exact at every pixel's own lines).
    A long video is costed on evenly spaced frames (the views change smoothly between keyframes)."""
    n = spec.n_frames
    picked = np.unique(np.linspace(0, n - 1, min(n, MAX_COSTED_FRAMES)).round().astype(int))
    costs = [view_macs(cfg, preview_state(spec, int(i))[0].with_(width=spec.width, height=spec.height),
                       spec.warp_quality)
             for i in picked]
    return round(sum(costs) * n / len(costs))


def _frame(engine: Engine, spec: VideoSpec, index: int, spline: _Spline | None) -> Frame:
    kfs = spec.keyframes
    if spec.n_segments == 0:  # a single still keyframe
        return Frame(index, kfs[0].view.with_(width=spec.width, height=spec.height, window=None), kfs[0].latent)
    seg, t = _segment(spec, index)
    a, b = kfs[seg], kfs[(seg + 1) % len(kfs)]
    view = interp_view(a.view, b.view, t).with_(width=spec.width, height=spec.height)
    latent: LatentSpec | torch.Tensor
    if spline is not None:
        latent = spline(seg + t).to(engine.device)
    else:
        latent = interp_latent(engine, a.latent, b.latent, t, spec.latent_mode)
    return Frame(index, view, latent)
