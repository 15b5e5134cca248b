"""What a frame costs, in multiply-adds counted from the architecture.

``creps bench`` and benchmarks/ divide these by the time taken and report the result as a share of
the machine's own matmul throughput measured in the same run
(:func:`creps_core.render.hardware.matmul_gflops`): how far from the physical limit a figure is.
"""

from __future__ import annotations

from creps_core.model.network import CREPSConfig


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
