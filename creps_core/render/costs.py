"""What a frame costs, in multiply-adds counted from the architecture.

``creps bench`` and benchmarks/ divide these by the time taken and report the result as a share of
the machine's own matmul throughput measured in the same run
(:func:`creps_core.render.hardware.matmul_gflops`): how far from the physical limit a figure is.
"""

from __future__ import annotations

import torch

from creps_core.model.network import CREPSConfig
from creps_core.render.line_table import LineTable, field_spacing
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY

RANGE_SAMPLE_SIDE = 64  # a rotated or warped view's coordinate range is read from this many pixels a side


def line_macs_per_coordinate(cfg: CREPSConfig) -> int:
    """Multiply-adds of the line network for one coordinate of one slot (all rank columns)."""
    layers = [(cfg.channels(4), cfg.channels(4))]
    for res in cfg.composed_blocks:
        i, o = cfg.channels(res // 2), cfg.channels(res)
        layers += [(i, o), (o, o), (o, cfg.biline_channels)]
    return cfg.rank * sum(i * o for i, o in layers)


def pixel_macs(cfg: CREPSConfig) -> int:
    """Multiply-adds per output pixel: composition, decoders, decoder_img, block0/1."""
    b = cfg.biline_channels
    decoder = b * 2 * b + 2 * b * 4 * b + 4 * b * 2 * b + 2 * b * b
    n_dec = len(cfg.composed_blocks)  # decoders after the first composed block, plus decoder_last
    blocks = ((b * 4 * b + 16 * b * b + 4 * b * cfg.img_channels)
              + (4 * b * 2 * b + 4 * b * b + 2 * b * cfg.img_channels))
    return len(cfg.composed_blocks) * cfg.rank * b + n_dec * decoder + b * cfg.img_channels + blocks


def frame_macs(cfg: CREPSConfig, width: int, height: int) -> int:
    """Multiply-adds of a separable frame whose lines are all new: a line for every row and
    column, the per-pixel part for every pixel."""
    return Work(cfg, width + height, width * height).total


def view_line_coords(view: View, warp_quality: str = DEFAULT_WARP_QUALITY) -> int:
    """Line coordinates a render of ``view`` at ``warp_quality`` evaluates when none are cached, as
    the engine renders it: its rows and columns (a straight view); its line tables' lattice points
    (a rotated or warped view: the lattice :func:`~creps_core.render.line_table.field_spacing` gives
    for that quality, over the range of coordinates it covers); two per pixel where the engine
    evaluates every pixel's own coordinates (quality exact, or tables that would not pay). The range
    is read from the whole view's border and from its inside at a few pixels a side, so the estimate
    is cheap at any size (a tile's is its whole view's)."""
    h, w = view.shape
    if view.is_separable:
        return h + w
    spacing = field_spacing(view.with_(window=None), warp_quality)
    if spacing is None:
        return 2 * h * w
    whole = view.with_(window=None)
    border = [whole.tile(0, 0, 1, view.width), whole.tile(view.height - 1, 0, 1, view.width),
              whole.tile(0, 0, view.height, 1), whole.tile(0, view.width - 1, view.height, 1)]
    # the inside at a few of the view's own pixels a side (a warp's extremes may lie there), and the
    # whole border (a rotation's do)
    fields = [whole.sample_field(RANGE_SAMPLE_SIDE), *(part.field() for part in border)]
    return sum(LineTable.size(torch.stack([min(f[axis].min() for f in fields), max(f[axis].max() for f in fields)]),
                              spacing) for axis in (0, 1))


def view_macs(cfg: CREPSConfig, view: View, warp_quality: str = DEFAULT_WARP_QUALITY) -> int:
    """Multiply-adds of a render of ``view`` at ``warp_quality`` whose lines are all new (a video
    frame, an export, a new latent): rotated and warped views counted as such, quality exact at
    every pixel's own lines."""
    h, w = view.shape
    return Work(cfg, view_line_coords(view, warp_quality), h * w).total


def frame_flops(cfg: CREPSConfig, width: int, height: int) -> float:
    return 2.0 * frame_macs(cfg, width, height)


class Work:
    """A render's work in multiply-adds, lines and pixels each weighted by what they cost, so
    that a progress bar moves during the line phase (seconds of a big model's frame on a CPU) as
    much as that phase costs. ``done`` never passes ``total``."""

    def __init__(self, cfg: CREPSConfig, line_coords: int = 0, pixels: int = 0) -> None:
        self.line_cost, self.pixel_cost = line_macs_per_coordinate(cfg), pixel_macs(cfg)
        self.done = 0
        self.plan(line_coords, pixels)

    def plan(self, line_coords: int, pixels: int) -> None:
        self.total = line_coords * self.line_cost + pixels * self.pixel_cost

    def add_lines(self, coords: int) -> None:
        self.done = min(self.total, self.done + coords * self.line_cost)

    def add_pixels(self, pixels: int) -> None:
        self.done = min(self.total, self.done + pixels * self.pixel_cost)

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0
