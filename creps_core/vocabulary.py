"""The names, choices and limits every layer may use: imports nothing of ours, nor torch.

One place for each spelling, so the command line's choices, the engine's checks, the explorer's
menus and the files' validation cannot drift apart (they once held four copies of the precision
list). ``creps --help`` imports this module and argparse only, so help answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass

# ----- rendering ---------------------------------------------------------------------------------
PRECISIONS = ("fp32", "bf16", "fp16")  # what an engine computes in
PRECISION_CHOICES = ("auto",) + PRECISIONS  # "auto": the fastest of them that keeps the pixels
WARP_NAMES = ("swirl", "lens", "wave", "formula")  # the warps a command line or a panel can name
# How rotated and warped views get their lines: interpolated from a table (draft: as dense as the
# pixels, >= 40 dB against exact, for drags and previews; fine: twice as dense, >= 55 dB, for sharp
# frames, exports and videos) or evaluated at every pixel's own coordinates (exact: slow).
WARP_QUALITIES = ("draft", "fine", "exact")
DEFAULT_WARP_QUALITY = "fine"
PREVIEW_WARP_QUALITY = "draft"  # what the explorer draws while the hand moves and in previews
NOISE_MODES = ("const", "random", "none")  # the official scripts' --noise-mode (CREPS has no noise)
FEATURE_MODES = ("pcs", "channel", "rows", "cols", "spectrum")  # what the explorer's feature view draws of a block
NETWORK_KINDS = ("G_ema", "G")  # which generator of an official pickle

# ----- latents ------------------------------------------------------------------------------------
DIRECTION_METHODS = ("sefa", "pca")  # how `creps directions` finds directions
MAX_SEEDS = 100_000  # a list longer than this is a typo, not a plan (and would fill memory)
MAX_LAYER = 1023  # ws indices (models have 9..19 layers); checked against the model when work starts
MAX_DIRECTION_OPTIONS = 32  # --direction given more often than this is a mistake (LatentSpec's MAX_EDITS)
PROJECTION_SPACES = ("w", "w+")  # what a projection fits: one w for every layer, or one per layer
MAX_PROJECT_SIZE = 1024  # a projection keeps every activation of its render for backprop: 1024^2 is gigabytes

# ----- grids and sweeps ---------------------------------------------------------------------------
MAX_SWEEP_STEPS = 1000
SWEEP_PARAMETERS = ("trunc", "zoom", "rotate", "amount")

# ----- exports --------------------------------------------------------------------------------------
EXPORT_FORMATS = ("tiff", "png", "jpeg", "dzi")
TIFF_COMPRESSIONS = ("zlib", "lzma", "none")
TILE_FORMATS = ("jpg", "png", "webp")  # Deep Zoom tile images

# ----- videos ---------------------------------------------------------------------------------------
LATENT_MODES = ("slerp", "lerp", "spline")  # how a video moves between keyframes' latents
VIDEO_PRESETS = ("zoom", "orbit", "pan", "walk")
ZOOM_PRESET_FACTOR = 16.0  # the zoom preset's magnification, in the explorer and `creps video` alike (at x100
#                            the 64-px demo model is one flat colour: its detail ends long before)
OFFICIAL_WALK_KINDS = ("cubic", "linear")  # gen_video.py's --kind

# ----- training -------------------------------------------------------------------------------------
TRAIN_CONFIGS = ("tiny", "small", "paper")
DEMO_THEMES = ("faces", "photos")


def check_warp_quality(word: object) -> str:
    """``word`` if it names a warp quality, else ValueError naming the choices."""
    if word not in WARP_QUALITIES:
        raise ValueError(f"unknown warp quality {str(word)[:40]!r}: choose {', '.join(WARP_QUALITIES)}")
    return str(word)


def read_warp_quality(record: dict) -> str:
    """The warp quality a stored record (provenance, workspace, keyframes, cluster job) asks for.

    Files written before the setting had a name hold ``exact: true/false``: true reads as exact,
    false as the default. Checked either way: a file is outside data."""
    if "warp_quality" in record:
        return check_warp_quality(record["warp_quality"])
    exact = record.get("exact", False)
    if not isinstance(exact, bool):
        raise ValueError(f"'exact' must be true or false, got {str(exact)[:40]}")
    return "exact" if exact else DEFAULT_WARP_QUALITY


@dataclass(frozen=True)
class SweepArg:
    """A parsed ``--sweep PARAM=START:STOP:STEPS``: STEPS values from START to STOP, both included."""

    parameter: str
    start: float
    stop: float
    steps: int

    def values(self) -> list[float]:
        return [self.start + (self.stop - self.start) * i / (self.steps - 1) for i in range(self.steps)]
