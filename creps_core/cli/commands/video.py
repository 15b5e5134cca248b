"""``creps video``: presets (zoom, orbit, pan, walk), keyframe files, or the official gen_video.py walk."""

from __future__ import annotations

import argparse
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from creps_core.cli.args import UsageError
from creps_core.cli.common import (
    TerminalProgress,
    announce_estimate,
    build_latent,
    build_view,
    check_class,
    estimate_seconds,
    input_files,
    latent_sources,
    make_engine,
    note_noise_mode,
    open_network,
    seeds_or,
)
from creps_core.jobs import video as vid
from creps_core.jobs.outputs import claim
from creps_core.render.views import View

OFFICIAL_OPTIONS = ("grid", "num_keyframes", "w_frames", "kind", "shuffle_seed")
OFFICIAL_W_FRAMES = 120
OFFICIAL_FPS = 60.0


def _output(args: argparse.Namespace) -> Path:
    if args.out and args.output and args.out != args.output:
        raise UsageError("name the output once: as OUT or with --output, not both")
    if not (args.out or args.output):
        raise UsageError("name the output file (OUT or --output), e.g. zoom.mp4 or frames/%05d.png")
    return Path(args.out or args.output)


def _with_sources(spec: vid.VideoSpec, sources: dict) -> vid.VideoSpec:
    """Every keyframe's latent with the --direction/--mix/--ws changes (a walk keeps its seeds)."""
    if not sources:
        return spec
    if "ws" in sources and len({k.latent.seed for k in spec.keyframes}) > 1:
        raise UsageError("--ws gives one latent; a walk through seeds cannot use it")
    return replace(spec, keyframes=tuple(replace(k, latent=k.latent.with_(**sources)) for k in spec.keyframes))


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


def _preset(args: argparse.Namespace, preset: str, view: View) -> vid.VideoSpec:
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
                         None, False, args.frames)


def run(args: argparse.Namespace) -> int:
    note_noise_mode(args)
    out = _output(args)
    mode = _mode(args)
    model = open_network(args)
    check_class(args, model)
    engine = make_engine(model, args.device, args.precision)
    res = model.cfg.img_resolution  # gen_video.py films at the model's resolution
    view = build_view(args, View(res, res) if mode == "official" else View(512, 512))
    cells: list[vid.VideoSpec] = []
    columns = 1
    if mode == "keyframes":
        spec = vid.load_spec(args.keyframes)
        if args.frames:
            spec = replace(spec, frames=args.frames)
    elif mode == "official":
        if args.latent_mode or args.preset:
            raise UsageError("--latent-mode is --kind in a gen_video.py walk")
        seeds = seeds_or(args, [0, 1, 2, 3])
        cells = vid.official_walk(view, seeds, args.grid or (1, 1), args.num_keyframes,
                                  args.w_frames or OFFICIAL_W_FRAMES, args.kind or "cubic", build_latent(args, 0).psi,
                                  args.class_idx, args.shuffle_seed, args.fps or OFFICIAL_FPS, args.quality)
        if args.frames:
            cells = [replace(c, frames=args.frames) for c in cells]
        spec, columns = cells[0], (args.grid or (1, 1))[0]
    else:
        spec = _preset(args, mode, view)
    sources = latent_sources(args, model.cfg)
    spec = replace(_with_sources(spec, sources), precision=engine.precision)
    cells = [replace(_with_sources(c, sources), precision=engine.precision) for c in cells]
    rows = -(-max(1, len(cells)) // columns)
    vid.validate(replace(spec, width=spec.width * columns, height=spec.height * rows), vid.format_of(out))
    inputs = input_files(args, model)
    if args.save_spec:
        claim([(Path(args.save_spec), vid.saved_spec)], inputs, args.force)
    first = vid.frame_at(engine, spec, 0)
    pixels = spec.width * spec.height * spec.n_frames * max(1, len(cells))
    if pixels > 16 * spec.width * spec.height:  # more than a few frames: worth an estimate
        side = min(256, spec.width, spec.height)
        announce_estimate(estimate_seconds(engine, first.latent, first.view, pixels, side),
                          f"rendering {spec.n_frames} frames")
    args.interrupt_note = "finished frames are kept: run the same command again to resume"
    steps = vid.video_steps(engine, spec, out, cells=cells, columns=columns, force=args.force, fresh=args.fresh,
                            inputs=inputs)
    with TerminalProgress("frame") as progress, closing(steps):
        for n, step in enumerate(steps):
            if n == 0 and args.save_spec:  # the video's own names were checked by now: a refusal writes nothing
                vid.save_spec(args.save_spec, spec)
            progress(step)
    if step.note:  # another process finished this very video meanwhile: the note said so
        return 0
    what = "numbered PNGs" if vid.format_of(out) == "png" else f"at {spec.fps:g} fps"
    print(f"wrote {out} ({spec.n_frames} frames, {spec.width * columns}x{spec.height * rows}, {what})")
    return 0
