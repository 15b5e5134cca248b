"""``creps video``: presets (zoom, orbit, pan, a walk through seeds or ws files), keyframe files (a
video's own sidecar too), a video made again from its record (``--from``), or the official
gen_video.py walk; frames rendered here or on Dask (``--workers`` / ``--scheduler``), like
``creps export``'s tiles."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from creps_core.cli.args import (
    Subcommands,
    UsageError,
    add_cluster,
    add_compute,
    add_grid,
    add_latent,
    add_latent_sources,
    add_network,
    add_outputs,
    add_seeds,
    add_view,
    add_warp_quality,
    finite_float,
    new_parser,
    parse_pair,
    positive_float,
    positive_int,
)
from creps_core.vocabulary import LATENT_MODES, OFFICIAL_WALK_KINDS, VIDEO_PRESETS, ZOOM_PRESET_FACTOR

if TYPE_CHECKING:
    from creps_core.jobs.video import VideoSpec
    from creps_core.model.checkpoint import LoadedModel
    from creps_core.model.network import CREPSConfig
    from creps_core.progress import Progress
    from creps_core.render.views import View

OFFICIAL_OPTIONS = ("grid", "num_keyframes", "w_frames", "kind", "shuffle_seed")
# What a re-rendered video (--from) takes from the command line besides its record; everything
# else that decides the frames is the record's.
FROM_CHANGES = ("size", "fps", "frames", "quality", "latent_mode", "loop", "precision", "trunc", "trunc_cutoff",
                "direction", "mix", "ws", "network")
OFFICIAL_W_FRAMES = 120
DEFAULT_QUALITY = 8.0
OFFICIAL_FPS = 60.0


def register(sub: Subcommands) -> None:
    v = new_parser(sub, "video", "zoom, pan, orbit or latent-walk videos (mp4, webm, gif)",
                   "Render a video from a preset, a keyframe file, or the options of the official "
                   f"gen_video.py (a looping latent walk through --seeds). Presets: {', '.join(VIDEO_PRESETS)}.")
    v.add_argument("out", metavar="OUT", nargs="?", default=None,
                   help="output file: .mp4, .webm or .gif (a .json sidecar records how it was made), or numbered "
                        "PNGs: a name with %%05d in it, e.g. frames/%%05d.png (each PNG records how it was made)")
    v.add_argument("--output", default=None, metavar="FILE", help="same as OUT (official gen_video.py spelling)")
    add_network(v)
    v.add_argument("--preset", choices=VIDEO_PRESETS, default=None,
                   help="zoom into --to, orbit about the centre, pan to --to, or walk through --seeds "
                        "(default: none; one of --preset, --keyframes or --seeds is needed)")
    v.add_argument("--keyframes", default=None, metavar="FILE",
                   help="a video spec JSON (see --save-spec), or a video's own .json sidecar, instead of a preset; "
                        "the model is --network's (default: none)")
    v.add_argument("--from", dest="from_file", default=None, metavar="VIDEO",
                   help="make a video again from its record: the video (its VIDEO.json sidecar is read), the "
                        "sidecar itself, or one of its numbered PNG frames; its checkpoint and precision unless "
                        "--network or --precision say otherwise; --size, --fps, --frames, --quality, "
                        "--latent-mode, --loop and the latent options change it (default: none)")
    v.add_argument("--save-spec", default=None, metavar="FILE", help="also write the video spec as JSON "
                   "(default: none)")
    add_seeds(v, "0; 0-3 for walks")
    add_latent(v)
    add_latent_sources(v, walk=True)
    add_view(v, default_size="512x512; the model's resolution for gen_video.py walks")
    v.add_argument("--to", type=parse_pair, default=(0.5, 0.5), metavar="U,V",
                   help="zoom and pan presets: the point to zoom into, or the centre to pan to")
    v.add_argument("--factor", type=positive_float, default=ZOOM_PRESET_FACTOR,
                   help="zoom preset: magnification (the explorer's zoom preset uses the same default)")
    v.add_argument("--turns", type=finite_float, default=1.0, help="orbit preset: turns")
    v.add_argument("--duration", type=positive_float, default=None, metavar="SECONDS",
                   help="length of the video; per seed for walks (default: 8, or 2 per seed for walks)")
    v.add_argument("--fps", type=positive_float, default=None, help="frames per second (default: 30; 60 "
                   "for official gen_video.py walks)")
    v.add_argument("--frames", type=positive_int, default=None, metavar="N",
                   help="exactly N frames, whatever --duration says (default: round(duration x fps))")
    v.add_argument("--quality", type=finite_float, default=None,
                   help=f"0 (smallest file) .. 10 (best) (default: {DEFAULT_QUALITY:g}, or the --from video's)")
    v.add_argument("--latent-mode", choices=LATENT_MODES, default=None,
                   help="latent interpolation (default: spline for walks, else slerp)")
    v.add_argument("--loop", action="store_true", help="return to the first keyframe at the end")
    official = v.add_argument_group("official gen_video.py options (a looping walk through --seeds)")
    add_grid(official, "a grid of C x R walks side by side (default: 1x1)")
    official.add_argument("--num-keyframes", type=positive_int, default=None, metavar="N",
                          help="keyframes per walk (default: the number of seeds / grid cells)")
    official.add_argument("--w-frames", type=positive_int, default=None, metavar="N",
                          help="frames between keyframes (default: 120)")
    official.add_argument("--kind", choices=OFFICIAL_WALK_KINDS, default=None,
                          help="interpolation between keyframes (default: cubic)")
    official.add_argument("--shuffle-seed", type=int, default=None, metavar="N",
                          help="shuffle the seeds with this random seed (default: keep their order)")
    add_compute(v, precision="auto")
    add_warp_quality(v, default=None)
    add_cluster(v, "frames")
    add_outputs(v, resumable=True)
    v.set_defaults(run=run)


def _output(args: argparse.Namespace) -> Path:
    if args.out and args.output and args.out != args.output:
        raise UsageError("name the output once: as OUT or with --output, not both")
    if not (args.out or args.output):
        raise UsageError("name the output file (OUT or --output), e.g. zoom.mp4 or frames/%05d.png")
    return Path(args.out or args.output)


def _mode(args: argparse.Namespace) -> str:
    """'from', 'keyframes', a preset name, or 'official' (gen_video.py options / seeds with no preset)."""
    from creps_core.cli.common import ws_files

    if args.from_file:
        given = [name for name, value in (("--preset", args.preset), ("--keyframes", args.keyframes),
                                          ("--seeds", args.seeds), ("--save-spec", args.save_spec))
                 if value is not None] + [f"--{k.replace('_', '-')}" for k in OFFICIAL_OPTIONS
                                          if getattr(args, k) is not None]
        if len(ws_files(args)) > 1:
            given.append("--ws (several)")
        if given:
            raise UsageError(f"--from makes the recorded video again; {given[0]} would make another one "
                             f"(the options that change it: {', '.join(_from_options())})")
        return "from"
    if len(ws_files(args)) > 1 and (args.preset != "walk" or args.keyframes):
        raise UsageError("several --ws files make a walk through them: add --preset walk")
    if args.keyframes:
        return "keyframes"
    if args.preset:
        return args.preset
    if args.seeds is not None or any(getattr(args, k) is not None for k in OFFICIAL_OPTIONS):
        return "official"
    raise UsageError("choose what to film: --preset zoom|orbit|pan|walk, --keyframes FILE, --from VIDEO, or "
                     "--seeds (a looping walk, as the official gen_video.py)")


def _from_options() -> list[str]:
    return [f"--{name.replace('_', '-')}" for name in FROM_CHANGES if name != "trunc_cutoff"]


def _sources(args: argparse.Namespace, cfg: CREPSConfig) -> dict:
    """The --direction/--mix/--ws changes of every keyframe; several --ws files are the walk's own
    keyframes (see :func:`_preset`), not a change."""
    from creps_core.cli.common import latent_sources, ws_files

    if len(ws_files(args)) > 1:
        return latent_sources(argparse.Namespace(**{**vars(args), "ws": None}), cfg)
    return latent_sources(args, cfg)


def _recorded(args: argparse.Namespace) -> tuple[LoadedModel, VideoSpec, list[VideoSpec], int]:
    """The model, spec, grid cells and grid columns of the video ``--from`` names, from its record."""
    from creps_core.cli.common import open_for_record
    from creps_core.jobs import video as vid
    from creps_core.jobs.metadata import read_record

    source = args.from_file
    record = read_record(source)
    extra = record.extra or {}
    if extra.get("kind") not in ("video", "video-frame"):
        what = f"of `creps {'export' if extra.get('kind') == 'export' else 'render'}`"
        raise ValueError(f"{source}: its record is not a video's but an image's {what}; make it again with "
                         f"that command's --from")
    model = open_for_record(args, record, source)
    spec = vid.spec_from_data(extra.get("video"), source)
    cells = [vid.spec_from_data(c, f"{source} (grid cell {i})") for i, c in enumerate(extra.get("cells") or [])]
    columns = extra.get("grid_columns", 1)
    if isinstance(columns, bool) or not isinstance(columns, int) or not 1 <= columns <= max(1, len(cells)):
        raise ValueError(f"{source}: its video record is damaged (grid_columns {columns!r})")
    return model, spec, cells, columns


def _changed(spec: VideoSpec, args: argparse.Namespace) -> VideoSpec:
    """A recorded video's spec with the --size, --fps, --frames, --quality, --latent-mode, --loop and
    --trunc/--trunc-cutoff given."""
    from creps_core.cli.common import build_latent

    changes: dict = {name: getattr(args, name) for name in ("fps", "frames", "quality", "latent_mode")
                     if getattr(args, name) is not None}
    changes["keyframes"] = tuple(replace(k, latent=build_latent(args, None, k.latent)) for k in spec.keyframes)
    if args.size is not None:
        changes.update(width=args.size[0], height=args.size[1])
    if args.loop:
        changes["loop"] = True
    return replace(spec, **changes)


def _with_sources(spec: VideoSpec, sources: dict) -> VideoSpec:
    """Every keyframe's latent with the --direction/--mix/--ws changes (a walk keeps its seeds)."""
    if not sources:
        return spec
    if "ws" in sources and len({k.latent.seed for k in spec.keyframes}) > 1:
        raise UsageError("--ws gives one latent; a walk through seeds cannot use it")
    return replace(spec, keyframes=tuple(replace(k, latent=k.latent.with_(**sources)) for k in spec.keyframes))


def _preset(args: argparse.Namespace, preset: str, view: View, cfg: CREPSConfig) -> VideoSpec:
    from creps_core.cli.common import build_latent, seeds_or, ws_files
    from creps_core.jobs import video as vid
    from creps_core.latent.files import load_ws
    from creps_core.latent.latents import LatentSpec

    walk_files = ws_files(args) if preset == "walk" and len(ws_files(args)) > 1 else []
    if walk_files and args.seeds is not None:
        raise UsageError("a walk goes through --seeds or through --ws files, not both")
    seeds = seeds_or(args, [0, 1, 2, 3] if preset == "walk" else [0])
    if preset != "walk" and len(seeds) > 1:
        raise UsageError(f"the {preset} preset films one seed; got {len(seeds)}")
    latent = build_latent(args, seeds[0])
    duration = args.duration or (2.0 if preset == "walk" else 8.0)
    if preset == "zoom":
        kfs = vid.zoom_into(view, latent, args.to, args.factor, duration)
    elif preset == "orbit":
        kfs = vid.orbit(view, latent, args.turns, duration)
    elif preset == "pan":
        kfs = vid.pan(view, latent, args.to, duration)
    elif walk_files:
        walked = [build_latent(args, None, LatentSpec(ws=load_ws(f, cfg.num_ws, cfg.w_dim))) for f in walk_files]
        kfs = vid.walk_through(view, walked, duration)
    else:
        kfs = vid.latent_walk(view, seeds, duration, latent.psi, latent.class_idx)
    mode = args.latent_mode or ("spline" if preset == "walk" else "slerp")
    return vid.VideoSpec(tuple(kfs), view.width, view.height, args.fps or 30.0, mode, args.loop,
                         _quality(args), frames=args.frames)


def _quality(args: argparse.Namespace) -> float:
    return DEFAULT_QUALITY if args.quality is None else args.quality


def _official(args: argparse.Namespace, view: View) -> tuple[list[VideoSpec], int]:
    """The cells of a gen_video.py walk (one per grid cell) and the grid's columns."""
    from creps_core.cli.common import build_latent, seeds_or
    from creps_core.jobs import video as vid

    if args.latent_mode or args.preset:
        raise UsageError("--latent-mode is --kind in a gen_video.py walk")
    seeds = seeds_or(args, [0, 1, 2, 3])
    cells = vid.official_walk(view, seeds, args.grid or (1, 1), args.num_keyframes,
                              args.w_frames or OFFICIAL_W_FRAMES, args.kind or "cubic", build_latent(args, 0).psi,
                              args.class_idx, args.shuffle_seed, args.fps or OFFICIAL_FPS, _quality(args))
    if args.frames:
        cells = [replace(c, frames=args.frames) for c in cells]
    return cells, (args.grid or (1, 1))[0]


def _saving_spec_first(report: Callable[[Progress], None], path: str | None,
                       spec: VideoSpec) -> Callable[[Progress], None]:
    """``report``, writing --save-spec at the first step: by then the video's own names were
    checked, so a refused video writes nothing at all."""
    from creps_core.jobs import video as vid

    pending = [path] if path else []

    def first_saves(step: Progress) -> None:
        if pending:
            vid.save_spec(pending.pop(), spec)
        report(step)

    return first_saves


def run(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from creps_core.cli.common import (
        build_view,
        check_class,
        closing_job,
        estimate_seconds,
        input_files,
        make_engine,
        note_noise_mode,
        open_network,
    )
    from creps_core.cli.terminal import TerminalProgress, announce_estimate
    from creps_core.jobs import video as vid
    from creps_core.jobs.outputs import claim
    from creps_core.progress import run_job
    from creps_core.render.views import View

    note_noise_mode(args)
    out = _output(args)
    mode = _mode(args)
    on_cluster = bool(args.workers or args.scheduler)
    if on_cluster:
        from creps_core.jobs.cluster import require_dask

        require_dask()  # before the model loads
    cells: list[VideoSpec] = []
    columns = 1
    if mode == "from":
        model, spec, cells, columns = _recorded(args)
        spec = _changed(spec, args)
        cells = [_changed(c, args) for c in cells]
        precision = args.precision if args.precision != "auto" else (spec.precision or "auto")
    else:
        model = open_network(args)
        check_class(args, model)
        precision = args.precision
    engine = make_engine(model, args.device, precision)
    sources = _sources(args, model.cfg)
    res = model.cfg.img_resolution  # gen_video.py films at the model's resolution
    view = build_view(args, View(res, res) if mode == "official" else View(512, 512))
    if mode == "keyframes":
        spec = vid.load_spec(args.keyframes)
        if args.frames:
            spec = replace(spec, frames=args.frames)
    elif mode == "official":
        cells, columns = _official(args, view)
        spec = cells[0]
    elif mode != "from":
        spec = _preset(args, mode, view, model.cfg)
    quality = args.warp_quality or spec.warp_quality  # a --keyframes or --from file's own, unless given
    spec = replace(_with_sources(spec, sources), precision=engine.precision, warp_quality=quality)
    cells = [replace(_with_sources(c, sources), precision=engine.precision, warp_quality=quality) for c in cells]
    rows = -(-max(1, len(cells)) // columns)
    vid.validate(replace(spec, width=spec.width * columns, height=spec.height * rows), vid.format_of(out))
    inputs = input_files(args, model)
    if args.save_spec:
        claim([(Path(args.save_spec), vid.saved_spec)], inputs, args.force)
    first = vid.frame_at(engine, spec, 0)
    pixels = spec.width * spec.height * spec.n_frames * max(1, len(cells))
    if pixels > 16 * spec.width * spec.height and not on_cluster:  # more than a few frames: worth an estimate
        side = min(256, spec.width, spec.height)
        announce_estimate(estimate_seconds(engine, first.latent, first.view, pixels, side,
                                           warp_quality=spec.warp_quality),
                          f"rendering {spec.n_frames} frames")
    args.interrupt_note = "finished frames are kept: run the same command again to resume"
    with ExitStack() as stack:
        renderer = None
        if on_cluster:
            from creps_core.jobs.cluster import open_client
            from creps_core.jobs.video.cluster import dask_frame_renderer

            renderer = dask_frame_renderer(stack.enter_context(open_client(args.workers, args.scheduler)), engine)
        bar = stack.enter_context(TerminalProgress("frame"))
        steps = stack.enter_context(closing_job(vid.video_steps(engine, spec, out, cells=cells, columns=columns,
                                                                force=args.force, fresh=args.fresh, inputs=inputs,
                                                                renderer=renderer)))
        last = run_job(steps, report=_saving_spec_first(bar, args.save_spec, spec))
    if last is not None and last.note:  # another process finished this very video meanwhile: the note said so
        return 0
    what = "numbered PNGs" if vid.format_of(out) == "png" else f"at {spec.fps:g} fps"
    print(f"wrote {out} ({spec.n_frames} frames, {spec.width * columns}x{spec.height * rows}, {what})")
    return 0
