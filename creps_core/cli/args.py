"""One command-line vocabulary for every ``creps`` subcommand and ``creps-explorer``.

The same thing is spelled the same way everywhere: ``--network``, ``--seeds 0-3,7``,
``--trunc``, ``--trunc-cutoff``, ``--class``, ``--size WxH``, ``--center U,V``, ``--zoom``,
``--rotate``, ``--warp NAME[:STRENGTH[:RADIUS[:FREQUENCY]]]``, ``--precision``,
``--device``, ``--direction FILE:INDEX:AMOUNT[:LAYERS]``, ``--mix SEED:LAYERS``,
``--ws FILE.npz``, ``--grid CxR``; layer ranges are ``A-B`` (inclusive) or ``A``.  The spellings
of the official ``gen_images.py`` / ``gen_video.py`` scripts are the primary names where they exist,
so a command copied from the official README runs.  Each subcommand's module
(:mod:`creps_core.cli.commands`) builds its parser from the option groups here; the choice lists
come from :mod:`creps_core.vocabulary`.

This module imports neither torch nor numpy: ``creps --help`` must answer at once, so the
parsers return plain values and the heavy modules turn them into Views and LatentSpecs
only when work starts (:mod:`creps_core.cli.common`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from creps_core.vocabulary import (
    MAX_DIRECTION_OPTIONS,
    MAX_LAYER,
    MAX_SEEDS,
    MAX_SWEEP_STEPS,
    NETWORK_KINDS,
    NOISE_MODES,
    PRECISION_CHOICES,
    SWEEP_PARAMETERS,
    WARP_NAMES,
    WARP_QUALITIES,
    SweepArg,
)

if TYPE_CHECKING:
    from creps_core.render.views import Warp

Options = argparse._ActionsContainer  # a parser or an argument group: both take the option groups
Subcommands = argparse._SubParsersAction  # what `creps` adds each subcommand's parser to

NETWORK_HELP = ("checkpoint: an official .pkl or a .safetensors file, or its http(s):// URL (downloaded once into "
                "the cache folder `creps info` shows); 'demo' (the shipped colour model), 'demo:faces', or "
                "'random[:SEED]' for labelled random weights")


class UsageError(argparse.ArgumentTypeError, ValueError):
    """A user-fixable problem with the command line (exit status 2)."""


@dataclass(frozen=True)
class WarpArg:
    """A parsed ``--warp NAME[:STRENGTH[:RADIUS[:FREQUENCY]]]`` or ``--warp formula:ROW;COL``
    (turned into a views.Warp later)."""

    name: str
    strength: float = 1.0
    radius: float = 1.0
    frequency: float = 2.0
    formula: tuple[str, str] | None = None

    def to_warp(self) -> Warp:
        """The views.Warp it names (imported here, when work starts, not at --help time)."""
        from creps_core.render.views import Warp

        return Warp(self.name, self.strength, self.radius, self.frequency, formula=self.formula)


@dataclass(frozen=True)
class DirectionArg:
    """A parsed ``--direction FILE:INDEX:AMOUNT[:LAYERS]`` (INDEX: a number or a direction's name)."""

    path: str
    key: str
    amount: float
    layers: tuple[int, int] | None = None


@dataclass(frozen=True)
class MixArg:
    """A parsed ``--mix SEED:LAYERS``: the layers that come from SEED."""

    seed: int
    layers: tuple[int, int]


# ----- value parsers (argparse ``type=`` functions; also usable from code) -----------------------
def parse_seeds(text: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7] (the official num_range format)."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                if len(seeds) + hi - lo + 1 > MAX_SEEDS:
                    raise UsageError(f"bad seed list {text!r}: at most {MAX_SEEDS:,} seeds at once")
                seeds.extend(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
    except UsageError:
        raise
    except ValueError:
        raise UsageError(f"bad seed list {text!r} (expected e.g. 0-3,7)") from None
    if not seeds or any(s < 0 or s >= 2**32 for s in seeds):
        raise UsageError(f"bad seed list {text!r}: seeds must be in [0, 2^32)")
    return seeds


def parse_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); '64' -> (64, 64), a square."""
    parts = str(text).lower().split("x")
    try:
        w, h = (int(x) for x in (parts * 2 if len(parts) == 1 else parts))
    except ValueError:
        raise UsageError(f"bad size {text!r} (expected WxH, e.g. 640x480, or N for a square)") from None
    if w < 1 or h < 1:
        raise UsageError(f"bad size {text!r}: both sides must be at least 1")
    return w, h


def parse_pair(text: str) -> tuple[float, float]:
    """'0.45,0.5' -> (0.45, 0.5); finite numbers only."""
    try:
        a, b = (float(x) for x in str(text).split(","))
    except ValueError:
        raise UsageError(f"bad pair {text!r} (expected two numbers, e.g. 0.45,0.5)") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise UsageError(f"bad pair {text!r}: numbers must be finite")
    return a, b


def parse_warp(text: str) -> WarpArg:
    """'swirl', 'swirl:2', 'lens:-0.3:0.8', 'wave:0.05:1:3', 'formula:y+0.1*sin(8*x);x' -> WarpArg."""
    name, _, rest = str(text).partition(":")
    if name == "formula":
        row, sep, col = rest.partition(";")
        if not (sep and row.strip() and col.strip()):
            raise UsageError(f"bad warp {text!r}: write formula:ROW;COL, two expressions of x, y, r, a "
                             "giving the new row and column offsets, e.g. 'formula:y + 0.1*sin(8*x);x'")
        return WarpArg(name, formula=(row.strip(), col.strip()))
    numbers = rest.split(":") if rest else []
    if name not in WARP_NAMES:
        raise UsageError(f"unknown warp {name!r}; choose {', '.join(WARP_NAMES)} "
                         "(as NAME[:STRENGTH[:RADIUS[:FREQUENCY]]])")
    if len(numbers) > 3:
        raise UsageError(f"bad warp {text!r}: at most NAME:STRENGTH:RADIUS:FREQUENCY")
    try:
        values = [float(x) for x in numbers]
    except ValueError:
        raise UsageError(f"bad warp {text!r}: STRENGTH, RADIUS and FREQUENCY are numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"bad warp {text!r}: numbers must be finite")
    defaults = [WarpArg.strength, WarpArg.radius, WarpArg.frequency]
    strength, radius, frequency = values + defaults[len(values):]
    warp = WarpArg(name, strength, radius, frequency)
    if warp.radius <= 0:
        raise UsageError(f"bad warp {text!r}: the radius must be positive")
    return warp


def parse_layers(text: str) -> tuple[int, int]:
    """'4-8' -> (4, 8), '5' -> (5, 5): ws indices, both ends included."""
    try:
        first, _, last = str(text).partition("-")
        a, b = int(first), int(last or first)
    except ValueError:
        raise UsageError(f"bad layer range {text!r} (expected A-B or A, e.g. 4-8)") from None
    if not 0 <= a <= b <= MAX_LAYER:
        raise UsageError(f"bad layer range {text!r}: need 0 <= A <= B <= {MAX_LAYER}")
    return a, b


def parse_direction(text: str) -> DirectionArg:
    """'dirs.npz:smile:2.5:4-8' -> DirectionArg; FILE ends in .npz or .npy (it may hold colons)."""
    text = str(text)
    lower = text.lower()
    cut = max(lower.rfind(".npz:"), lower.rfind(".npy:"))
    usage = "(expected FILE:INDEX:AMOUNT[:LAYERS], e.g. dirs.npz:0:2.5:4-8; FILE is .npz or .npy)"
    if cut < 0:
        raise UsageError(f"bad direction {text!r} {usage}")
    path, rest = text[:cut + 4], text[cut + 5:].split(":")
    if len(rest) not in (2, 3) or not rest[0]:
        raise UsageError(f"bad direction {text!r} {usage}")
    amount = _number(rest[1], float, math.isfinite, f"a finite AMOUNT in --direction {text}")
    layers = parse_layers(rest[2]) if len(rest) == 3 else None
    return DirectionArg(path, rest[0], amount, layers)


def parse_mix(text: str) -> MixArg:
    """'7:8-13' -> MixArg(7, (8, 13)): layers 8..13 take seed 7's w."""
    seed, sep, layers = str(text).partition(":")
    if not sep:
        raise UsageError(f"bad mix {text!r} (expected SEED:LAYERS, e.g. 7:8-13)")
    seeds = parse_seeds(seed)
    if len(seeds) != 1:
        raise UsageError(f"bad mix {text!r}: one seed")
    return MixArg(seeds[0], parse_layers(layers))


def parse_sweep(text: str) -> SweepArg:
    """'trunc=0:1:5' -> SweepArg('trunc', 0, 1, 5)."""
    usage = (f"(expected PARAM=START:STOP:STEPS with PARAM in {', '.join(SWEEP_PARAMETERS)}, "
             "e.g. trunc=0:1:5)")
    name, sep, values = str(text).partition("=")
    parts = values.split(":")
    if not sep or name not in SWEEP_PARAMETERS or len(parts) != 3:
        raise UsageError(f"bad sweep {text!r} {usage}")
    start, stop = (_number(v, float, math.isfinite, f"finite START and STOP in --sweep {text}") for v in parts[:2])
    steps = _number(parts[2], int, lambda n: 2 <= n <= MAX_SWEEP_STEPS,
                    f"STEPS in 2..{MAX_SWEEP_STEPS} in --sweep {text}")
    if name == "zoom" and min(start, stop) <= 0:
        raise UsageError(f"bad sweep {text!r}: zoom must stay positive")
    return SweepArg(name, start, stop, steps)


Number = TypeVar("Number", int, float)


def _number(text: str, kind: Callable[[str], Number], ok: Callable[[Number], bool], wanted: str) -> Number:
    """``kind(text)`` when it converts and passes ``ok``; else a usage error saying what was ``wanted``."""
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"expected {wanted}, got {text!r}") from None
    if not ok(value):
        raise UsageError(f"expected {wanted}, got {text!r}")
    return value


# argparse ``type=`` functions shared by every subcommand, so one option converts one way everywhere.
def positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0 and math.isfinite(v), "a positive number")


def finite_float(text: str) -> float:
    return _number(text, float, math.isfinite, "a finite number")


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a whole number of at least 1")


# ----- help that always shows the default --------------------------------------------------------
class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Appends '(default: X)' to an option's help unless the help already names its default, and
    '(required)' instead to an option that has none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        if action.nargs == 0:  # a switch: off unless given
            return text
        if action.required:  # nothing to fall back on: say so once, without a default
            return text if "required" in text else f"{text} (required)"
        default = action.default
        if isinstance(default, (list, tuple)):
            default = ",".join(map(str, default)) if default and not isinstance(default[0], (list, tuple)) else default
        return f"{text} (default: {'none' if default is None else default})"


def new_parser(sub: Subcommands, name: str, help: str, description: str | None = None,
               ) -> argparse.ArgumentParser:
    """A subcommand parser with the shared help formatter (and ``--debug``, as on ``creps`` itself)."""
    p = sub.add_parser(name, help=help, description=description or help[0].upper() + help[1:] + ".",
                       formatter_class=HelpFormatter)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the full traceback of an error")
    return p


# ----- option groups -----------------------------------------------------------------------------
def add_network(p: Options, from_file: bool = False) -> None:
    """``--network`` (aliases --checkpoint, --network-pkl, -c) and ``--network-kind``."""
    default = "demo, or the --from file's checkpoint" if from_file else "demo"
    p.add_argument("--network", "--checkpoint", "--network-pkl", "-c", dest="network", metavar="PATH",
                   default=None, help=f"{NETWORK_HELP} (default: {default})")
    kind_default = "G_ema, or the --from file's" if from_file else "G_ema"
    p.add_argument("--network-kind", choices=NETWORK_KINDS, default=None,
                   help=f"which generator of an official snapshot to use (default: {kind_default})")
    p.add_argument("--offline", action="store_true",
                   help="never touch the network: a --network URL opens only from the download cache "
                        "(see `creps info`)")


def add_seeds(p: Options, default: str, several: bool = True) -> None:
    """``--seeds`` (alias --seed), always a list with ranges (e.g. 0-3,7); ``default`` is shown in the
    help and applied by the handler (None in args means 'not given', which --from needs)."""
    what = "seeds, e.g. 0-3,7" if several else "the seed to render: one number, e.g. 7"
    p.add_argument("--seeds", "--seed", dest="seeds", type=parse_seeds, metavar="SEEDS", default=None,
                   help=f"{what} (default: {default})")


def add_latent(p: Options, from_file: bool = False) -> None:
    """``--trunc`` (alias --psi), ``--trunc-cutoff`` (alias --cutoff), ``--class``, ``--noise-mode``.

    None in args means 'not given' (so a --from file's values can stand)."""
    default = "1, or the --from file's" if from_file else "1"
    p.add_argument("--trunc", "--psi", dest="trunc", type=finite_float, default=None, metavar="PSI",
                   help=f"truncation psi: 1 = none, 0 = the average image (default: {default})")
    p.add_argument("--trunc-cutoff", "--cutoff", dest="trunc_cutoff", type=int, default=None, metavar="N",
                   help="truncate only the first N ws (default: all)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, metavar="N",
                   help="class of a conditional model (default: none; required for conditional models)")
    p.add_argument("--noise-mode", choices=NOISE_MODES, default=None,
                   help="accepted for the official scripts; CREPS has no noise inputs, so it has no effect "
                        "(default: const)")


def add_latent_sources(p: Options, walk: bool = False) -> None:
    """``--direction`` (repeatable), ``--mix`` and ``--ws``: latents from files and other seeds.

    Given with --from, they replace the file's own directions, mixing or ws.  ``walk``: --ws may
    be repeated, a video walking through the files (``args.ws`` is then a list)."""
    p.add_argument("--direction", dest="direction", type=parse_direction, action="append", default=None,
                   metavar="FILE:INDEX:AMOUNT[:LAYERS]",
                   help="add AMOUNT x direction INDEX (a number or a name) of a directions file (.npz, see "
                        "`creps directions`) or a GANSpace/InterfaceGAN .npy, on ws layers A-B (default: the "
                        f"file's range); repeatable, up to {MAX_DIRECTION_OPTIONS} (default: none)")
    p.add_argument("--mix", type=parse_mix, default=None, metavar="SEED:LAYERS",
                   help="style mixing: ws layers A-B (inclusive) come from SEED (default: none)")
    walk_help = "; repeat it with --preset walk to walk through several (e.g. --ws a.npz --ws b.npz)" if walk else ""
    p.add_argument("--ws", default=None, metavar="FILE.npz", action="append" if walk else "store",
                   help="render this ws instead of a seed's: an .npz with 'w' [1, num_ws, w_dim] or "
                        f"[num_ws, w_dim], as StyleGAN projectors write it{walk_help} (default: none)")


def add_grid(p: Options, help: str) -> None:
    """``--grid CxR``: C columns by R rows of images in one frame."""
    p.add_argument("--grid", type=parse_size, default=None, metavar="CxR", help=help)


def add_view(p: Options, default_size: str | None) -> None:
    """``--size --center --zoom --rotate --warp --translate``: which part of the plane, how big."""
    size_default = (f"default: {default_size}" if default_size else
                    "default: the model's resolution, or the --from file's")
    p.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                   help=f"output size in pixels, e.g. 1280x720 ({size_default})")
    p.add_argument("--center", type=parse_pair, default=None, metavar="U,V",
                   help="view centre: row coordinate U, column coordinate V (default: 0.5,0.5, the middle "
                        "of the training square)")
    p.add_argument("--zoom", type=positive_float, default=None, metavar="Z",
                   help="magnification; at 1 the shorter side spans [0, 1] (default: 1)")
    p.add_argument("--rotate", "--rotation", dest="rotate", type=finite_float, default=None, metavar="DEG",
                   help="rotation of the view in degrees, counter-clockwise (default: 0)")
    p.add_argument("--warp", type=parse_warp, default=None, metavar="NAME[:S[:R[:F]]]",
                   help=f"bend the plane: NAME in {', '.join(WARP_NAMES)}; S strength (1), R radius (1), "
                        "F wave frequency (2); or formula:ROW;COL, the new row and column offsets as "
                        "expressions of x, y, r, a (default: none)")
    p.add_argument("--translate", type=parse_pair, default=None, metavar="X,Y",
                   help="official gen_images.py option: move the content right by X and down by Y, in "
                        "units of the image side (default: 0,0)")


def add_compute(p: Options, precision: str) -> None:
    """``--precision`` and ``--device``."""
    p.add_argument("--precision", choices=PRECISION_CHOICES, default=precision,
                   help="fp32 is the reference; bf16 is fast on CPUs with AVX512-BF16/AMX, fp16 on CUDA; "
                        "auto picks what this machine does in hardware")
    p.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")


def add_warp_quality(p: Options, default: str | None) -> None:
    """``--warp-quality`` (and ``--exact``, its older spelling for ``--warp-quality exact``)."""
    shown = "" if default is not None else " (default: fine, or the --from file's)"
    p.add_argument("--warp-quality", choices=WARP_QUALITIES, default=default,
                   help="how rotated and warped views get their lines: draft (a table as dense as the pixels, "
                        ">= 40 dB against exact), fine (twice as dense, >= 55 dB), exact (every pixel's own "
                        "coordinates, slow); straight views are the same at every quality" + shown)
    p.add_argument("--exact", dest="warp_quality", action="store_const", const="exact",
                   help="the same as --warp-quality exact")


def add_outputs(p: Options, resumable: bool) -> None:
    """``--force`` (and ``--fresh`` where unfinished work is kept for a resume): what a command that
    writes may replace besides its own earlier outputs, which it always replaces."""
    p.add_argument("--force", action="store_true",
                   help="replace what is under an output's name even when this tool did not write it or it is "
                        "an input of the command (normally kept, with a message)")
    if resumable:
        p.add_argument("--fresh", action="store_true",
                       help="discard the unfinished work of an earlier run under the same output name "
                            "(.NAME.partial) and start again; normally it is resumed, or kept when its "
                            "settings differ")


def add_cluster(p: Options, pieces: str) -> None:
    """``--workers N`` / ``--scheduler ADDRESS``: independent ``pieces`` (tiles, frames) rendered on
    Dask (the ``[cluster]`` extra), stored and written in order by this process."""
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help=f"render {pieces} on a local Dask cluster of N processes; needs the [cluster] extra: "
                        'pip install "creps-explorer[cluster]" (default: in this process)')
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help=f"render {pieces} on a running Dask cluster, e.g. tcp://host:8786; every worker reads "
                        "the checkpoint at the same path (default: none)")


def add_threads(p: Options) -> None:
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="CPU threads (default: the cores this process may use)")
