"""``creps video``: presets (zoom, orbit, pan, walk), keyframe files, or the official gen_video.py walk."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from creps_core.cli.args import (
    Subcommands,
    UsageError,
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
from creps_core.vocabulary import LATENT_MODES, OFFICIAL_WALK_KINDS, VIDEO_PRESETS

if TYPE_CHECKING:
    from creps_core.jobs.video import VideoSpec
    from creps_core.progress import Progress
    from creps_core.render.views import View

OFFICIAL_OPTIONS = ("grid", "num_keyframes", "w_frames", "kind", "shuffle_seed")
OFFICIAL_W_FRAMES = 120
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
                   help="a video spec JSON (see --save-spec) instead of a preset (default: none)")
    v.add_argument("--save-spec", default=None, metavar="FILE", help="also write the video spec as JSON "
                   "(default: none)")
    add_seeds(v, "0; 0-3 for walks")
    add_latent(v)
    add_latent_sources(v)
    add_view(v, default_size="512x512; the model's resolution for gen_video.py walks")
    v.add_argument("--to", type=parse_pair, default=(0.5, 0.5), metavar="U,V",
                   help="zoom and pan presets: the point to zoom into, or the centre to pan to")
    v.add_argument("--factor", type=positive_float, default=100.0, help="zoom preset: magnification")
    v.add_argument("--turns", type=finite_float, default=1.0, help="orbit preset: turns")
    v.add_argument("--duration", type=positive_float, default=None, metavar="SECONDS",
                   help="length of the video; per seed for walks (default: 8, or 2 per seed for walks)")
    v.add_argument("--fps", type=positive_float, default=None, help="frames per second (default: 30; 60 "
                   "for official gen_video.py walks)")
    v.add_argument("--frames", type=positive_int, default=None, metavar="N",
                   help="exactly N frames, whatever --duration says (default: round(duration x fps))")
    v.add_argument("--quality", type=finite_float, default=8.0, help="0 (smallest file) .. 10 (best)")
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
    add_outputs(v, resumable=True)
    v.set_defaults(run=run)


def _output(args: argparse.Namespace) -> Path:
    if args.out and args.output and args.out != args.output:
        raise UsageError("name the output once: as OUT or with --output, not both")
    if not (args.out or args.output):
        raise UsageError("name the output file (OUT or --output), e.g. zoom.mp4 or frames/%05d.png")
    return Path(args.out or args.output)


def _mode(args: argparse.Namespace) -> str:
    """'keyframes', a preset name, or 'official' (gen_video.py options / seeds with no preset)."""
    if args.keyframes:
        return "keyframes"
    if args.preset:
        return args.preset
    if args.seeds is not None or any(getattr(args, k) is not None for k in OFFICIAL_OPTIONS):
        return "official"
    raise UsageError("choose what to film: --preset zoom|orbit|pan|walk, --keyframes FILE, or --seeds "
                     "(a looping walk, as the official gen_video.py)")


def _with_sources(spec: VideoSpec, sources: dict) -> VideoSpec:
    """Every keyframe's latent with the --direction/--mix/--ws changes (a walk keeps its seeds)."""
    if not sources:
        return spec
    if "ws" in sources and len({k.latent.seed for k in spec.keyframes}) > 1:
        raise UsageError("--ws gives one latent; a walk through seeds cannot use it")
    return replace(spec, keyframes=tuple(replace(k, latent=k.latent.with_(**sources)) for k in spec.keyframes))


def _preset(args: argparse.Namespace, preset: str, view: View) -> VideoSpec:
    from creps_core.cli.common import build_latent, seeds_or
    from creps_core.jobs import video as vid

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
    else:
        kfs = vid.latent_walk(view, seeds, duration, latent.psi, latent.class_idx)
    mode = args.latent_mode or ("spline" if preset == "walk" else "slerp")
    return vid.VideoSpec(tuple(kfs), view.width, view.height, args.fps or 30.0, mode, args.loop, args.quality,
                         frames=args.frames)


def _official(args: argparse.Namespace, view: View) -> tuple[list[VideoSpec], int]:
    """The cells of a gen_video.py walk (one per grid cell) and the grid's columns."""
    from creps_core.cli.common import build_latent, seeds_or
    from creps_core.jobs import video as vid

    if args.latent_mode or args.preset:
        raise UsageError("--latent-mode is --kind in a gen_video.py walk")
    seeds = seeds_or(args, [0, 1, 2, 3])
    cells = vid.official_walk(view, seeds, args.grid or (1, 1), args.num_keyframes,
                              args.w_frames or OFFICIAL_W_FRAMES, args.kind or "cubic", build_latent(args, 0).psi,
                              args.class_idx, args.shuffle_seed, args.fps or OFFICIAL_FPS, args.quality)
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
    from creps_core.cli.common import (
        build_view,
        check_class,
        closing_job,
        estimate_seconds,
        input_files,
        latent_sources,
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
    model = open_network(args)
    check_class(args, model)
    engine = make_engine(model, args.device, args.precision)
    res = model.cfg.img_resolution  # gen_video.py films at the model's resolution
    view = build_view(args, View(res, res) if mode == "official" else View(512, 512))
    cells: list[VideoSpec] = []
    columns = 1
    if mode == "keyframes":
        spec = vid.load_spec(args.keyframes)
        if args.frames:
            spec = replace(spec, frames=args.frames)
    elif mode == "official":
        cells, columns = _official(args, view)
        spec = cells[0]
    else:
        spec = _preset(args, mode, view)
    sources = latent_sources(args, model.cfg)
    quality = args.warp_quality or spec.warp_quality  # a --keyframes file's own, unless given
    spec = replace(_with_sources(spec, sources), precision=engine.precision, warp_quality=quality)
    cells = [replace(_with_sources(c, sources), precision=engine.precision, warp_quality=quality) for c in cells]
    rows = -(-max(1, len(cells)) // columns)
    vid.validate(replace(spec, width=spec.width * columns, height=spec.height * rows), vid.format_of(out))
    inputs = input_files(args, model)
    if args.save_spec:
        claim([(Path(args.save_spec), vid.saved_spec)], inputs, args.force)
    first = vid.frame_at(engine, spec, 0)
    pixels = spec.width * spec.height * spec.n_frames * max(1, len(cells))
    if pixels > 16 * spec.width * spec.height:  # more than a few frames: worth an estimate
        side = min(256, spec.width, spec.height)
        announce_estimate(estimate_seconds(engine, first.latent, first.view, pixels, side,
                                           warp_quality=spec.warp_quality),
                          f"rendering {spec.n_frames} frames")
    args.interrupt_note = "finished frames are kept: run the same command again to resume"
    steps = vid.video_steps(engine, spec, out, cells=cells, columns=columns, force=args.force, fresh=args.fresh,
                            inputs=inputs)
    with TerminalProgress("frame") as bar, closing_job(steps):
        last = run_job(steps, report=_saving_spec_first(bar, args.save_spec, spec))
    if last is not None and last.note:  # another process finished this very video meanwhile: the note said so
        return 0
    what = "numbered PNGs" if vid.format_of(out) == "png" else f"at {spec.fps:g} fps"
    print(f"wrote {out} ({spec.n_frames} frames, {spec.width * columns}x{spec.height * rows}, {what})")
    return 0
