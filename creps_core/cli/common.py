"""What turns the shared options into work: the model a ``--network`` names, latents and views from
the latent and view options, engines, estimates, and long jobs run to their end.

Each is here once so that every subcommand reads an option the same way; the explorer reuses
:func:`build_latent` and :func:`build_view` for the same options on its own command line.  This
module imports torch: command modules import it inside ``run``, never while the parser is built.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from creps_core.cli.args import UsageError
from creps_core.cli.terminal import LoadingProgress, say
from creps_core.io.untrusted import printable
from creps_core.jobs.metadata import RenderRecord
from creps_core.latent.files import load_directions, load_ws
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.demo import open_model
from creps_core.model.network import CREPSConfig
from creps_core.progress import Progress
from creps_core.render.engine import Engine
from creps_core.render.hardware import precision_warning
from creps_core.render.views import View
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, MAX_DIRECTION_OPTIONS

# `creps render` and `creps bench` hold a whole float image (12 bytes/pixel) in memory; beyond
# this, `creps export` renders in tiles.
MAX_IN_MEMORY_PIXELS = 64_000_000
CALIBRATE_ABOVE_PIXELS = 4_000_000  # smaller jobs take seconds: no calibration render, no estimate
# The options that name files a command reads (besides the checkpoint), as (option, args attribute).
INPUT_OPTIONS = (("--from", "from_file"), ("--ws", "ws"), ("--keyframes", "keyframes"), ("--import", "import_file"))


# ----- the model --------------------------------------------------------------------------------
def open_network(args: argparse.Namespace, name: str | None = None) -> LoadedModel:
    """The model named by ``--network`` (or ``name``): a path, a URL, ``demo[:NAME]`` or ``random[:SEED]``.

    The command's input files are checked first (a missing --ws is one line, not one after the load);
    the load shows ``loading NAME (233 MB)`` with a bar when it takes over a second."""
    check_inputs(args)
    return _open(args, name if name is not None else args.network, getattr(args, "network_kind", None) or "G_ema")


def _open(args: argparse.Namespace, name: str | None, network: str) -> LoadedModel:
    with LoadingProgress() as bar:
        return open_model(name, network, report=bar, offline=getattr(args, "offline", False))


def check_inputs(args: argparse.Namespace) -> None:
    """Every file a command reads besides the checkpoint (--from, --ws, --keyframes, --import,
    --direction) exists and is a file: one line naming the option, before any model is loaded."""
    named: list[tuple[str, str | list[str] | None]] = [(option, getattr(args, dest, None))
                                                       for option, dest in INPUT_OPTIONS]
    named += [("--direction", d.path) for d in getattr(args, "direction", None) or []]
    for option, value in named:
        for path in value if isinstance(value, (list, tuple)) else [value]:
            if not path:
                continue
            if not os.path.exists(path):
                raise FileNotFoundError(errno.ENOENT, f"{option} {printable(str(path))}: no such file")
            if not os.path.isfile(path):
                raise IsADirectoryError(errno.EISDIR, f"{option} {printable(str(path))}: not a file")


def check_output_folder(path: str | Path, folder: bool = False) -> None:
    """Before any model is loaded: the folder an output file goes into exists (``folder``: an output
    folder, made when missing, is not a file)."""
    path = Path(path)
    if folder:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{printable(str(path))}: not a folder (it is where the "
                                                    "outputs would go)")
        return
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise FileNotFoundError(errno.ENOENT, f"{printable(str(parent))} {what}: make it first, or choose another "
                                              f"place for {printable(path.name)}")


def checkpoint_name(args: argparse.Namespace, positional: str | None) -> str | None:
    """The checkpoint of a command that also takes it as an argument (``creps info NETWORK``):
    named once, either way."""
    if positional and args.network and positional != args.network:
        raise UsageError("name the checkpoint once: as an argument or with --network, not both")
    return positional or args.network


def open_for_record(args: argparse.Namespace, record: RenderRecord, source: str) -> LoadedModel:
    """The model to re-render ``source`` with: --network if given, else the checkpoint it names.

    A checkpoint whose hash differs from the one recorded is refused, unless the user chose
    it with --network (rendering the same view with another model is then the point: a warning)."""
    check_inputs(args)
    model = _open(args, args.network or record.checkpoint, args.network_kind or record.network)
    if record.checkpoint_sha256 and model.sha256 and record.checkpoint_sha256 != model.sha256:
        message = (f"{model.path} is not the checkpoint {source} was rendered with "
                   f"(sha256 {model.sha256[:12]}... vs {record.checkpoint_sha256[:12]}...)")
        if not args.network:
            raise ValueError(message + "; pass --network to render it with this one anyway")
        say(f"warning: {message}")
    return model


def check_class(args: argparse.Namespace, model: LoadedModel) -> None:
    """A conditional model renders nothing without --class: refused before any work."""
    if model.cfg.c_dim and getattr(args, "class_idx", None) is None:
        raise UsageError(f"this model is conditional ({model.cfg.c_dim} classes): pass --class N")


def input_files(args: argparse.Namespace, model: LoadedModel) -> list[str | Path]:
    """The files this command reads (the checkpoint, --from, --ws, --direction, --keyframes): no
    output is written over one of them unless --force."""
    named: list = []
    for _, dest in INPUT_OPTIONS:
        value = getattr(args, dest, None)
        named += value if isinstance(value, (list, tuple)) else [value]
    return [model.path, *named, *(d.path for d in getattr(args, "direction", None) or [])]


def ws_files(args: argparse.Namespace) -> list[str]:
    """The --ws files: one for most commands, several for a video walking through them."""
    ws = getattr(args, "ws", None)
    return [] if not ws else [ws] if isinstance(ws, str) else list(ws)


# ----- latents ----------------------------------------------------------------------------------
def seeds_or(args: argparse.Namespace, default: list[int]) -> list[int]:
    """--seeds, or the command's own default (None in args means 'not given', which --from needs)."""
    return args.seeds if args.seeds is not None else default


def one_seed(args: argparse.Namespace) -> int | None:
    """The single seed of a command that renders one latent (None when not given)."""
    if args.seeds is None:
        return None
    if len(args.seeds) != 1:
        raise UsageError(f"this command renders one seed; got {len(args.seeds)} ({args.seeds[0]}...)")
    return args.seeds[0]


def note_noise_mode(args: argparse.Namespace) -> None:
    """--noise-mode is accepted so official command lines run; say once that it changes nothing."""
    if getattr(args, "noise_mode", None) is not None:
        say(f"note: CREPS has no noise inputs; --noise-mode {args.noise_mode} has no effect")


def latent_sources(args: argparse.Namespace, cfg: CREPSConfig) -> dict:
    """LatentSpec changes that --direction, --mix and --ws ask for, their files read and checked
    against the model once per command ({} when none is given)."""
    changes: dict = {}
    directions = getattr(args, "direction", None) or []
    if len(directions) > MAX_DIRECTION_OPTIONS:
        raise UsageError(f"--direction is given {len(directions)} times; at most {MAX_DIRECTION_OPTIONS}")
    files = {}
    for d in directions:
        if d.path not in files:
            files[d.path] = load_directions(d.path, cfg.num_ws, cfg.w_dim)
        changes.setdefault("edits", []).append(files[d.path].edit(d.key, d.amount, d.layers))
    if "edits" in changes:
        changes["edits"] = tuple(changes["edits"])
    mix = getattr(args, "mix", None)
    if mix is not None:
        first, last = mix.layers
        if last >= cfg.num_ws:
            raise UsageError(f"--mix layers {first}-{last} do not exist: this model has layers 0-{cfg.num_ws - 1}")
        changes.update(mix_seed=mix.seed, mix_layers=tuple(range(first, last + 1)))
    ws = ws_files(args)
    if len(ws) > 1:
        raise UsageError(f"--ws is given {len(ws)} times; one ws is one latent (a video walks through "
                         "several with --preset walk)")
    if ws:
        changes["ws"] = load_ws(ws[0], cfg.num_ws, cfg.w_dim)
    return changes


def build_latent(args: argparse.Namespace, seed: int | None, base: LatentSpec | None = None,
                 sources: dict | None = None) -> LatentSpec:
    """A LatentSpec from --trunc/--trunc-cutoff/--class and ``sources`` (:func:`latent_sources`)
    over ``base`` (options given win; ``seed`` None keeps the base's).

    Reads only those three options (absent ones count as not given), so any parser that adds
    them with ``args.add_latent`` -- ``creps-explorer``'s too -- can use it."""
    spec = base or LatentSpec()
    changes = {"seed": seed, "psi": getattr(args, "trunc", None), "cutoff": getattr(args, "trunc_cutoff", None),
               "class_idx": getattr(args, "class_idx", None)}
    return spec.with_(**{k: v for k, v in changes.items() if v is not None}, **(sources or {}))


# ----- views ------------------------------------------------------------------------------------
def build_view(args: argparse.Namespace, base: View, *, resize: bool = True) -> View:
    """``base`` changed by the view options that were given (--size --center --zoom --rotate --warp
    --translate).  --translate moves the content by X, Y image sides, as in gen_images.py.

    Absent options count as not given.  ``resize=False`` leaves --size to the caller: the
    explorer's --size is its window's, not the view's."""
    size, center, warp = (getattr(args, name, None) for name in ("size", "center", "warp"))
    given = {"zoom": getattr(args, "zoom", None), "rotation": getattr(args, "rotate", None),
             "center": None if center is None else tuple(center), "warp": None if warp is None else warp.to_warp()}
    changes = {name: value for name, value in given.items() if value is not None}
    if size is not None and resize:
        changes.update(width=size[0], height=size[1])
    translate = getattr(args, "translate", None)
    try:
        view = base.with_(**changes)
        if translate is not None and any(translate):
            x, y = translate
            u, v = view.center
            view = view.with_(center=(u - y / view.zoom, v - x / view.zoom))
    except ValueError as e:  # View validates itself on every change
        raise UsageError(str(e)) from None
    return view


def check_in_memory(view: View) -> None:
    """Refuse, before any work, a frame too large to hold in memory at once."""
    if view.width * view.height > MAX_IN_MEMORY_PIXELS:
        raise UsageError(f"{view.width}x{view.height} is too large to hold in memory here; "
                         "`creps export` renders any size in tiles with bounded memory")


# ----- engines and jobs -------------------------------------------------------------------------
def make_engine(model: LoadedModel, device: str, precision: str, workers: int | None = None) -> Engine:
    """An engine (``auto`` precision resolved); says when the precision is slow on this device."""
    engine = Engine(model, device=device, precision=precision, workers=workers)
    warning = precision_warning(engine.precision, engine.device)
    if warning:
        say(f"warning: {warning}")
    return engine


def set_threads(threads: int | None) -> None:
    """--threads: torch's own threads (the engine's pool takes its size as ``workers``)."""
    if threads:
        torch.set_num_threads(threads)


def estimate_seconds(engine: Engine, latent: LatentSpec | torch.Tensor, view: View, pixels: float,
                     side: int = 96, warp_quality: str = DEFAULT_WARP_QUALITY,
                     line_coords: int | None = None) -> float:
    """Seconds to render ``pixels`` pixels of ``view``, from a short calibration render of a crop.

    Without ``line_coords``, the crop's time per pixel, lines included (the latent is compiled
    first), scales to the job: right for frames like the crop. With the job's own count of line
    coordinates (an export's, whose tiles share lines: the crop would count them again and again),
    the crop is rendered twice, the second time from cached lines, and the line and pixel parts
    scale separately.
    """
    crop = view.tile(0, 0, min(side, view.height), min(side, view.width))
    crop_pixels = crop.shape[0] * crop.shape[1]
    engine.program(engine.ws(latent))
    before = engine.stats.line_coords_computed
    t0 = time.perf_counter()
    engine.render(latent, crop, warp_quality=warp_quality)
    first = time.perf_counter() - t0
    if line_coords is None:
        return first / crop_pixels * pixels
    computed = engine.stats.line_coords_computed - before
    t0 = time.perf_counter()
    engine.render(latent, crop, warp_quality=warp_quality)  # its lines are cached now: the pixel part
    pixel_part = time.perf_counter() - t0
    per_line = max(0.0, first - pixel_part) / max(1, computed)
    return pixel_part / crop_pixels * pixels + per_line * line_coords


@contextmanager
def closing_job(steps: Iterator[Progress]) -> Iterator[Iterator[Progress]]:
    """``steps`` (a job's generator, see :mod:`creps_core.progress`), closed when the block is left
    however it is left: an interrupt that arrives between two steps, while a bar is drawn, runs
    the job's own clean-up at once, before the command says it was interrupted, rather than
    whenever the suspended generator happens to be collected."""
    try:
        yield steps
    finally:
        close = getattr(steps, "close", None)
        if close is not None:
            close()


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """Ctrl-C and SIGTERM ask a job to stop between steps (a fit writes a snapshot first, a projection
    its best ws so far); a second Ctrl-C interrupts at once.  Outside the main thread signals cannot
    be caught: nothing changes."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def ask(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
