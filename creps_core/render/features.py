"""One block's features at a view's pixels: what the explorer's feature view draws instead of the image.

Every composed block b (b8 .. bR, :attr:`CREPSConfig.composed_blocks`) adds

    F_b(u, v)[c] = 1/2 * sum_k R_b[c, k](u) * K_b[c, k](v)

to the per-pixel feature stream (docs/architecture.md). :class:`PixelLines` gives a block's row
lines R_b and column lines K_b at every pixel of any view, from the engine's own line cache: a
straight view's rows and columns, a rotated or warped view's line table (the engine's lattice and
interpolation, so the lines the image computed serve the features and back, and a pan computes
only the lines that came into view). :func:`feature_picture` turns them into a picture:

* ``pcs``: F_b reduced to its three leading principal components, as RGB;
* ``channel``: one channel of F_b, blue (negative) / white / red (positive);
* ``rows`` / ``cols``: R_b(u) or K_b(v) at each pixel, their three leading principal components
  as RGB (stripes along the plane's rows or columns, turned with the view);
* ``spectrum``: log(1 + |FFT F_b|) over the view, all channels, zero frequency in the centre.

The Structure window's analysis (:mod:`creps_core.jobs.structure`) uses the same lines, features,
principal components, spectra and colour maps. No Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from creps_core.latent.latents import LatentSpec
from creps_core.progress import CancelFn, Cancelled
from creps_core.render.line_table import LineTable, field_spacing, table_spacing
from creps_core.render.program import LatentProgram
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, FEATURE_MODES

PIXEL_CHUNK = 8192  # pixels composed at once: bounded memory (their lines are rank*c wide)
PCA_SAMPLES = 65536  # pixels the principal axes are fitted on (evenly strided); all pixels are projected
SPECTRUM_CHANNELS = 8  # channels transformed at once (a full view's FFT of every channel is ~200 MB)
MODE_TITLES = {"pcs": "features (3 PCs)", "channel": "channel", "rows": "row lines R(u)",
               "cols": "column lines K(v)", "spectrum": "spectrum log|FFT|"}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class FeatureView:
    """What the feature view shows: composed ``block`` (0 = b8), a mode of :data:`FEATURE_MODES`,
    and the ``channel`` of F_b the ``channel`` mode draws."""

    block: int = 0
    mode: str = "pcs"
    channel: int = 0

    def __post_init__(self) -> None:
        if not _whole(self.block) or not 0 <= self.block < 64:
            raise ValueError(f"feature block must be a whole number in 0..63, got {str(self.block)[:40]}")
        if self.mode not in FEATURE_MODES:
            raise ValueError(f"feature mode must be one of {', '.join(FEATURE_MODES)}, got {str(self.mode)[:40]!r}")
        if not _whole(self.channel) or not 0 <= self.channel < 1 << 12:
            raise ValueError(f"feature channel must be a whole number in 0..4095, got {str(self.channel)[:40]}")

    def misfit(self, blocks: list[int], channels: int) -> str | None:
        """Why a model with composed ``blocks`` and ``channels`` bi-line channels cannot show this (None: it can)."""
        if self.block >= len(blocks):
            return f"no block {self.block}: this model's blocks are 0..{len(blocks) - 1} (b{blocks[0]}..b{blocks[-1]})"
        if self.mode == "channel" and self.channel >= channels:
            return f"no channel {self.channel}: this model's blocks have channels 0..{channels - 1}"
        return None

    def describe(self, blocks: list[int]) -> str:
        """'b64 · channel 5', 'b8 · row lines R(u)'."""
        what = f"channel {self.channel}" if self.mode == "channel" else MODE_TITLES[self.mode]
        name = f"b{blocks[self.block]}" if self.block < len(blocks) else f"block {self.block}"
        return f"{name} · {what}"


def _check(cancel: CancelFn | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled()


class PixelLines:
    """Block ``block``'s row lines R_b and column lines K_b for every pixel of ``view`` (its window,
    if it has one), evaluated through ``engine.lines`` (cached) in ``prog``'s precision.

    A straight view keeps its rows' and columns' own lines (``rows`` [H', rank*c], ``cols``
    [W', rank*c] with the view's :class:`SeparableGrid`); another keeps line tables on the lattice
    the engine renders it from at ``warp_quality`` (:func:`~creps_core.render.line_table.field_spacing`:
    the same lattice points, so the image's lines serve the pictures and back) and interpolates them
    per pixel as the engine does. Where the image evaluates every pixel's own lines (quality exact,
    or a warp that reaches far), a picture would need every pixel's lines at once: it reads the fine
    lattice instead (>= 55 dB, more than a picture shows), coarsened where a far-reaching warp
    would size it by the formula's reach rather than by the pixel count."""

    def __init__(self, engine, prog: LatentProgram, view: View, block: int, cancel: CancelFn | None = None,
                 warp_quality: str = DEFAULT_WARP_QUALITY) -> None:
        if not 0 <= block < prog.n_composed:
            raise ValueError(f"no composed block {block}: this model's blocks are 0..{prog.n_composed - 1}")
        self.view, self.rank, self.channels = view, prog.rank, prog.biline
        width = prog.rank * prog.biline
        part = slice(block * width, (block + 1) * width)  # engine lines are [n, L, rank, c] flattened

        def lines(slot: int):
            return lambda t: engine.lines(prog, t, slot, cancel)[:, part].float().cpu()

        self.grid = view.separable() if view.is_separable else None
        if self.grid is not None:
            self.rows, self.cols = lines(0)(self.grid.rows), lines(1)(self.grid.cols)
            return
        U, V = view.field()
        self.shape = tuple(U.shape)
        self.u, self.v = U.reshape(-1), V.reshape(-1)
        spacing = field_spacing(view, warp_quality)
        if spacing is None:  # the image evaluates every pixel's own lines: the pictures read fine tables
            spacing = coarse_spacing(view, table_spacing(view.spacing, "fine"))
        self.tables = [LineTable.build(lines(slot), coords, spacing) for slot, coords in ((0, self.u), (1, self.v))]

    def line_values(self, slot: int) -> torch.Tensor:
        """The row (slot 0) or column (slot 1) lines this view reads: at its own coordinates (a
        straight view) or on its table's lattice, [n, rank*c]."""
        if self.grid is not None:
            return self.rows if slot == 0 else self.cols
        return self.tables[slot].values

    def feature(self, cancel: CancelFn | None = None) -> torch.Tensor:
        """F_b on the view's pixels, [H, W, c] float32."""
        rank, c = self.rank, self.channels
        if self.grid is not None:
            R, K = self.rows.reshape(-1, rank, c), self.cols.reshape(-1, rank, c)
            out = torch.empty(R.shape[0], K.shape[0], c)
            step = max(1, PIXEL_CHUNK // max(1, K.shape[0]))
            for i in range(0, R.shape[0], step):
                _check(cancel)
                out[i:i + step] = torch.einsum("ikc,jkc->ijc", R[i:i + step], K) * 0.5
            return out.transpose(0, 1) if self.grid.transposed else out
        n = self.u.numel()
        out = torch.empty(n, c)
        for p in range(0, n, PIXEL_CHUNK):
            _check(cancel)
            ru = self.tables[0].sample(self.u[p:p + PIXEL_CHUNK])
            kv = self.tables[1].sample(self.v[p:p + PIXEL_CHUNK])
            out[p:p + PIXEL_CHUNK] = (ru * kv).reshape(-1, rank, c).sum(1) * 0.5
        return out.reshape(*self.shape, c)

    def line_components(self, slot: int, count: int = 3) -> torch.Tensor:
        """The row (slot 0) or column (slot 1) lines at each pixel, projected on their ``count``
        leading principal axes: [H, W, count]. Interpolation is linear, so the lines' table is
        projected first and the projection interpolated (cheap at any size)."""
        if self.grid is not None:
            values = self.rows if slot == 0 else self.cols
            p = project(values, *principal_axes(values, count))
            rows, cols = self.rows.shape[0], self.cols.shape[0]
            pic = p[:, None, :].expand(rows, cols, count) if slot == 0 else p[None, :, :].expand(rows, cols, count)
            return (pic.transpose(0, 1) if self.grid.transposed else pic).contiguous()
        table = self.tables[slot]
        projected = LineTable(table.m0, table.h, project(table.values, *principal_axes(table.values, count)))
        return projected.sample(self.u if slot == 0 else self.v).reshape(*self.shape, count)


def coarse_spacing(view: View, spacing: float) -> float:
    """``spacing``, doubled until tables over ``view``'s coordinates hold no more points than its pixels."""
    u, v = view.sample_field()
    while not LineTable.pays(u.reshape(-1), v.reshape(-1), spacing, view.width * view.height):
        spacing *= 2
    return spacing


def principal_axes(x: torch.Tensor, count: int = 3, samples: int = PCA_SAMPLES) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [D], axes [D, count]) of the rows of ``x`` [n, D] (fitted on at most ``samples`` rows,
    evenly strided). Signs are fixed (each axis's largest weight positive) so colours do not flip
    between latents or frames for no reason; fewer than ``count`` dimensions pad with zero axes."""
    x = x.reshape(-1, x.shape[-1])
    fit = x[::max(1, math.ceil(x.shape[0] / samples))].double()
    mean = fit.mean(0)
    centred = fit - mean
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    axes = vectors[:, -count:].flip(1)
    axes = axes * torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    if axes.shape[1] < count:
        axes = torch.cat([axes, axes.new_zeros(axes.shape[0], count - axes.shape[1])], 1)
    return mean.float(), axes.float()


def project(x: torch.Tensor, mean: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` [..., D] on ``axes`` [D, count] about ``mean``: [..., count]."""
    return (x - mean) @ axes


def principal_components(f: torch.Tensor, count: int = 3) -> torch.Tensor:
    """[H, W, c] -> [H, W, count]: projections on the channels' leading principal axes."""
    return project(f, *principal_axes(f, count))


def spectrum(f: torch.Tensor, cancel: CancelFn | None = None) -> torch.Tensor:
    """[H, W, c] -> [H, W] log(1 + |FFT|) over all channels, zero frequency centred.

    Means removed and a Hann window applied first: the FFT treats the view as periodic, and the
    jump between opposite edges would otherwise draw a bright cross through every spectrum. The
    channels are transformed a few at a time (bounded memory at a full window's size)."""
    h, w, c = f.shape
    window = torch.hann_window(h, periodic=False, dtype=f.dtype)[:, None] \
        * torch.hann_window(w, periodic=False, dtype=f.dtype)[None, :]
    half = torch.zeros(h, w // 2 + 1, dtype=f.dtype)  # real input: the other half mirrors this one
    for c0 in range(0, c, SPECTRUM_CHANNELS):
        _check(cancel)
        part = f[:, :, c0:c0 + SPECTRUM_CHANNELS]
        y = torch.fft.rfft2((part - part.mean((0, 1))).permute(2, 0, 1) * window)
        half += (y.real.square() + y.imag.square()).sum(0)
    power = torch.empty(h, w, dtype=f.dtype)
    power[:, :w // 2 + 1] = half
    j = torch.arange(w // 2 + 1, w)  # P(k, j) = P(-k, -j)
    power[:, j] = half[(-torch.arange(h)) % h][:, w - j]
    return torch.fft.fftshift(torch.log1p(power.sqrt()))


# ----- pictures ---------------------------------------------------------------------------------
_DIVERGING = np.array([[0.13, 0.40, 0.67], [0.97, 0.97, 0.97], [0.70, 0.09, 0.17]])  # blue, white, red
_SEQUENTIAL = np.array([[0.0, 0.0, 0.02], [0.34, 0.06, 0.43], [0.73, 0.21, 0.33], [0.98, 0.55, 0.04],
                        [0.99, 1.0, 0.64]])  # black through purple and orange to pale yellow


def colormap(x: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB along the colour ``stops`` (evenly spaced)."""
    pos = np.linspace(0, 1, len(stops))
    x = np.clip(x, 0, 1)
    rgb = np.stack([np.interp(x, pos, stops[:, k]) for k in range(3)], axis=-1)
    return (rgb * 255 + 0.5).astype(np.uint8)


def robust_max(x: np.ndarray) -> float:
    """The 99.5th percentile of |x| (of at most ~1M values, strided): one outlier does not wash out
    the rest of the picture."""
    flat = np.abs(x).reshape(-1)
    return max(float(np.quantile(flat[::max(1, flat.size // (1 << 20))], 0.995)), 1e-12)


def signed_picture(x: np.ndarray) -> np.ndarray:
    """Signed values -> blue (negative) / white (0) / red (positive), symmetric scale."""
    return colormap(0.5 + 0.5 * x / robust_max(x), _DIVERGING)


def components_picture(p: np.ndarray) -> np.ndarray:
    """[H, W, 3] principal components -> RGB around mid-grey, symmetric scale."""
    return (np.clip(0.5 + 0.5 * p / robust_max(p), 0, 1) * 255 + 0.5).astype(np.uint8)


def spectrum_picture(s: np.ndarray) -> np.ndarray:
    """[H, W] log magnitudes -> black through purple and orange to pale yellow."""
    lo, hi = float(s.min()), float(s.max())
    return colormap((s - lo) / max(hi - lo, 1e-12), _SEQUENTIAL)


@torch.no_grad()
def feature_picture(engine, latent: LatentSpec | torch.Tensor, view: View, choice: FeatureView,
                    precision: str | None = None, cancel: CancelFn | None = None,
                    warp_quality: str = DEFAULT_WARP_QUALITY) -> np.ndarray:
    """The picture ``choice`` asks for, of ``latent`` seen through ``view``: HWC uint8 RGB of the
    view's shape. ``engine`` is a :class:`~creps_core.render.engine.Engine` (its lines are cached
    and shared with its renders at the same ``warp_quality``); ``precision`` as
    :meth:`Engine.program` takes it."""
    cfg = engine.cfg
    problem = choice.misfit(cfg.composed_blocks, cfg.biline_channels)
    if problem is not None:
        raise ValueError(problem)
    prog = engine.program(engine.ws(latent), precision)
    lines = PixelLines(engine, prog, view, choice.block, cancel, warp_quality)
    if choice.mode in ("rows", "cols"):
        return components_picture(lines.line_components(0 if choice.mode == "rows" else 1).numpy())
    f = lines.feature(cancel)
    _check(cancel)
    if choice.mode == "channel":
        return signed_picture(f[:, :, choice.channel].numpy())
    if choice.mode == "spectrum":
        return spectrum_picture(spectrum(f, cancel).numpy())
    return components_picture(principal_components(f).numpy())
