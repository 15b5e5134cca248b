"""What the command handlers share: the model a ``--network`` names, views and latents from the
shared options, engines, estimates and progress drawn on the terminal."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from creps_core.cli.args import MAX_DIRECTION_OPTIONS, UsageError
from creps_core.io.untrusted import printable
from creps_core.jobs.metadata import RenderRecord
from creps_core.latent.files import load_directions, load_ws
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.demo import open_model
from creps_core.model.network import CREPSConfig
from creps_core.progress import Progress, format_duration
from creps_core.render.engine import Engine
from creps_core.render.hardware import precision_warning
from creps_core.render.views import View

LONG_JOB_S = 60.0  # print an estimate before work expected to take longer than this
CALIBRATE_ABOVE_PIXELS = 4_000_000  # smaller jobs take seconds: no calibration render, no estimate
RENDER_BAR_DELAY_S = 2.0  # a render shows a progress bar once it has run this long


def say(message: str) -> None:
    """A note for the user on stderr (stdout stays for results); names from files in it are escaped."""
    print(printable(message), file=sys.stderr)


def open_network(args: argparse.Namespace, name: str | None = None) -> LoadedModel:
    """The model named by ``--network`` (or ``name``): a path, ``demo[:NAME]`` or ``random[:SEED]``."""
    return open_model(name if name is not None else args.network, getattr(args, "network_kind", None) or "G_ema")


def open_for_record(args: argparse.Namespace, record: RenderRecord, source: str) -> LoadedModel:
    """The model to re-render ``source`` with: --network if given, else the checkpoint it names.

    A checkpoint whose hash differs from the one recorded is refused, unless the user chose
    it with --network (rendering the same view with another model is then the point: a warning)."""
    model = open_model(args.network or record.checkpoint, args.network_kind or record.network)
    if record.checkpoint_sha256 and model.sha256 and record.checkpoint_sha256 != model.sha256:
        message = (f"{model.path} is not the checkpoint {source} was rendered with "
                   f"(sha256 {model.sha256[:12]}... vs {record.checkpoint_sha256[:12]}...)")
        if not args.network:
            raise ValueError(message + "; pass --network to render it with this one anyway")
        say(f"warning: {message}")
    return model


def input_files(args: argparse.Namespace, model: LoadedModel) -> list[str | Path]:
    """The files this command reads (the checkpoint, --from, --ws, --direction, --keyframes): no
    output is written over one of them unless --force."""
    named = [getattr(args, name, None) for name in ("from_file", "ws", "keyframes")]
    return [model.path, *named, *(d.path for d in getattr(args, "direction", None) or [])]


def seeds_or(args: argparse.Namespace, default: list[int]) -> list[int]:
    return args.seeds if args.seeds is not None else default


def note_noise_mode(args: argparse.Namespace) -> None:
    if getattr(args, "noise_mode", None) is not None:
        say(f"note: CREPS has no noise inputs; --noise-mode {args.noise_mode} has no effect")


def check_class(args: argparse.Namespace, model: LoadedModel) -> None:
    if model.cfg.c_dim and getattr(args, "class_idx", None) is None:
        raise UsageError(f"this model is conditional ({model.cfg.c_dim} classes): pass --class N")


def one_seed(args: argparse.Namespace) -> int | None:
    """The single seed of a command that renders one latent (None when not given)."""
    if args.seeds is None:
        return None
    if len(args.seeds) != 1:
        raise UsageError(f"this command renders one seed; got {len(args.seeds)} ({args.seeds[0]}...)")
    return args.seeds[0]


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
    if getattr(args, "ws", None):
        changes["ws"] = load_ws(args.ws, cfg.num_ws, cfg.w_dim)
    return changes


def build_latent(args: argparse.Namespace, seed: int | None, base: LatentSpec | None = None,
                 sources: dict | None = None) -> LatentSpec:
    """A LatentSpec from --trunc/--trunc-cutoff/--class and ``sources`` (:func:`latent_sources`)
    over ``base`` (options given win)."""
    spec = base or LatentSpec()
    changes = {"seed": seed, "psi": args.trunc, "cutoff": args.trunc_cutoff, "class_idx": args.class_idx}
    return spec.with_(**{k: v for k, v in changes.items() if v is not None}, **(sources or {}))


def build_view(args: argparse.Namespace, base: View) -> View:
    """``base`` changed by the view options that were given (--size --center --zoom --rotate --warp
    --translate).  --translate moves the content by X, Y image sides, as in gen_images.py."""
    changes: dict = {}
    if args.size is not None:
        changes.update(width=args.size[0], height=args.size[1])
    if args.center is not None:
        changes["center"] = tuple(args.center)
    if args.zoom is not None:
        changes["zoom"] = args.zoom
    if args.rotate is not None:
        changes["rotation"] = args.rotate
    if args.warp is not None:
        changes["warp"] = args.warp.to_warp()
    try:
        view = base.with_(**changes)
        if args.translate is not None and any(args.translate):
            x, y = args.translate
            u, v = view.center
            view = view.with_(center=(u - y / view.zoom, v - x / view.zoom))
    except ValueError as e:  # View validates itself on every change
        raise UsageError(str(e)) from None
    return view


# `creps render` and `creps bench` hold a whole float image (12 bytes/pixel) in memory; beyond
# this, `creps export` renders in tiles.
MAX_IN_MEMORY_PIXELS = 64_000_000
MAX_BENCH_REPEAT = 1000


def check_in_memory(view: View) -> None:
    """Refuse, before any work, a frame too large to hold in memory at once."""
    if view.width * view.height > MAX_IN_MEMORY_PIXELS:
        raise UsageError(f"{view.width}x{view.height} is too large to hold in memory here; "
                         "`creps export` renders any size in tiles with bounded memory")


def make_engine(model: LoadedModel, device: str, precision: str, workers: int | None = None) -> Engine:
    """An engine (``auto`` precision resolved); says when the precision is slow on this device."""
    engine = Engine(model, device=device, precision=precision, workers=workers)
    warning = precision_warning(engine.precision, engine.device)
    if warning:
        say(f"warning: {warning}")
    return engine


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def estimate_seconds(engine: Engine, latent: LatentSpec, view: View, pixels: float, side: int = 96) -> float:
    """Seconds to render ``pixels`` pixels of ``view``, from a short calibration render of a crop.

    The crop's time per pixel, lines included (the latent is compiled first), scales to the job.
    """
    crop = view.tile(0, 0, min(side, view.height), min(side, view.width))
    engine.program(engine.ws(latent))
    t0 = time.perf_counter()
    engine.render(latent, crop)
    per_pixel = (time.perf_counter() - t0) / (crop.shape[0] * crop.shape[1])
    return per_pixel * pixels


def announce_estimate(seconds: float, what: str) -> None:
    if seconds > LONG_JOB_S:
        say(f"{what}: about {format_duration(seconds)} on this machine (Ctrl-C stops it)")


class TerminalProgress:
    """Draws :class:`Progress` records as a tqdm bar labelled with the stage; a new stage starts a
    new bar.  ``delay`` hides the bar of work that finishes quickly."""

    def __init__(self, unit: str = "it", delay: float = 0.0) -> None:
        self.unit, self.delay = unit, delay
        self.bar: tqdm | None = None
        self.stage: str | None = None

    def __call__(self, step: Progress) -> None:
        if step.note:
            say(f"note: {step.note}")
        if step.path is not None:
            return
        if self.bar is None or step.stage != self.stage:
            self.close()
            self.stage = step.stage
            self.bar = tqdm(total=step.total, desc=step.stage, unit=self.unit, dynamic_ncols=True,
                            delay=self.delay, leave=True)
        if self.bar.total != step.total:
            self.bar.total = step.total
        self.bar.update(step.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fraction_to_progress(report: Callable[[Progress], None], stage: str,
                         steps: int = 100) -> Callable[[float], None]:
    """Adapts the engine's ``progress(fraction)`` callback to Progress records."""
    return lambda f: report(Progress(stage, int(round(f * steps)), steps))
