"""``creps project``: the ws whose render matches a picture of yours, written as a projector writes it.

A thin layer over :class:`creps_core.train.project.Projection` (which fits and draws nothing).  The
target is centre-cropped to a square and resized to ``--size`` (:func:`creps_core.io.images.read_square`);
the fit renders the official grid at that size.  Written to ``--outdir``:

* ``projected_w.npz``: ``w`` [1, num_ws, w_dim], the layout of the StyleGAN projectors (``--ws`` and the
  explorer's Latent ▸ Import ws read it);
* ``proj.png``: the render of those ws at the fit size, carrying the provenance record (the ws by value,
  the view, and under ``extra`` the target, its sha256, the crop, the options, PSNR and SSIM), so
  ``creps render --from proj.png --size 1024x1024`` renders the projection at any size;
* ``target.png``: the target as it was fitted (cropped and resized);
* ``proj.mp4`` with ``--save-video``: the target beside the fit, one frame per step.

Ctrl-C (or SIGTERM) stops between steps and writes the best ws so far, then exits 130; a second
Ctrl-C stops at once, writing nothing.  Every name is checked before the fit starts: an earlier
projection's files are replaced, anything else is kept (``--force`` replaces it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from creps_core.cli.args import (
    Subcommands,
    add_network,
    add_outputs,
    add_threads,
    new_parser,
    parse_size,
    positive_int,
)
from creps_core.vocabulary import MAX_PROJECT_SIZE, PROJECTION_SPACES

if TYPE_CHECKING:
    import numpy as np

    from creps_core.io.images import SquareCrop
    from creps_core.jobs.outputs import Owned
    from creps_core.model.checkpoint import LoadedModel
    from creps_core.render.engine import Engine
    from creps_core.train.project import Projection

WS_NAME = "projected_w.npz"
PNG_NAME = "proj.png"
TARGET_NAME = "target.png"
VIDEO_NAME = "proj.mp4"
VIDEO_SIDE = 256  # a video frame's target and fit are each scaled up to at least this (nearest neighbour)


def register(sub: Subcommands) -> None:
    p = new_parser(sub, "project", "find the ws whose render matches a picture (projection into the model)",
                   "Fit ws so that the model renders TARGET (centre-cropped to a square and resized to --size),\n"
                   "as the StyleGAN2 projector does, with losses that need no downloaded network: L1 at several\n"
                   "scales, edges, MSE and SSIM. The result is a latent like any other: render it at any size\n"
                   "(creps render --ws OUTDIR/projected_w.npz), zoom, export, or open it in the explorer.")
    p.add_argument("target", metavar="TARGET", help="the picture to project (PNG, JPEG, TIFF, WebP, ...)")
    add_network(p)
    p.add_argument("--outdir", default="out", metavar="DIR",
                   help=f"where {WS_NAME}, {PNG_NAME}, {TARGET_NAME} (and {VIDEO_NAME}) go")
    p.add_argument("--steps", type=positive_int, default=500, help="optimisation steps")
    p.add_argument("--space", choices=PROJECTION_SPACES, default="w+",
                   help="w: one w for every layer (stays in the model's W); w+: one w per layer (closer fits, kept "
                        "near W by a penalty)")
    p.add_argument("--size", type=parse_size, default=(64, 64), metavar="WxH",
                   help=f"fit the render at N x N pixels (N or NxN: a square, as the model's own grid), "
                        f"8..{MAX_PROJECT_SIZE}; the result renders at any size (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the noise on w and of --starts")
    p.add_argument("--starts", type=int, default=0, metavar="K",
                   help="also try K random seeds' ws as the start and begin from the closest (default: w_avg only)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, metavar="N",
                   help="class of a conditional model (default: none; required for conditional models)")
    p.add_argument("--save-video", action="store_true", help=f"also write {VIDEO_NAME}: the target beside the fit, "
                                                              "one frame per step")
    p.add_argument("--device", default="auto", metavar="DEVICE", help="auto, cpu, cuda or cuda:N")
    add_threads(p)
    add_outputs(p, resumable=False)
    p.set_defaults(run=run)


def _outputs(outdir: Path, video: bool) -> list[tuple[Path, Owned]]:
    """Every file a projection writes; the side files count as earlier output while the proj.png
    written with them carries a record (as `creps render --save-ws` does)."""
    from creps_core.jobs.outputs import carries_record

    png = outdir / PNG_NAME
    beside = [WS_NAME, TARGET_NAME] + [VIDEO_NAME] * video
    return [(png, carries_record)] + [(outdir / name, lambda _: carries_record(png)) for name in beside]


class _Video:
    """proj.mp4 written while the fit runs (a temporary sibling renamed into place when finished)."""

    def __init__(self, out: Path, target: np.ndarray) -> None:
        from creps_core.io.safe_files import temp_sibling
        from creps_core.jobs.video.encode import open_writer
        from creps_core.jobs.video.keyframes import VideoSpec

        self.out, self.tmp, self.frames = out, temp_sibling(out), 0
        self.scale = -(-VIDEO_SIDE // target.shape[0])
        self.target = self._scaled(target)
        h, w = self.target.shape[0], 2 * self.target.shape[1]
        self.height, self.width = -(-h // 16) * 16, -(-w // 16) * 16  # the codec's macroblocks
        self.writer = open_writer(self.tmp, "mp4", VideoSpec((), self.width, self.height, fps=30.0))

    def _scaled(self, rgb: np.ndarray) -> np.ndarray:
        return rgb.repeat(self.scale, 0).repeat(self.scale, 1)

    def add(self, render: np.ndarray) -> None:
        import numpy as np

        frame = np.zeros((self.height, self.width, 3), np.uint8)
        side = np.concatenate([self.target, self._scaled(render)], axis=1)
        frame[:side.shape[0], :side.shape[1]] = side
        self.writer.add(frame)
        self.frames += 1

    def finish(self) -> Path | None:
        """Close and rename into place; None when no frame was made."""
        import os

        from creps_core.jobs.video.encode import check_encoded

        try:
            self.writer.close()
            if not self.frames:
                return None
            check_encoded(self.tmp, self.out, self.frames)
            os.replace(self.tmp, self.out)
            return self.out
        finally:
            self.tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        try:
            self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    from creps_core.cli.args import UsageError
    from creps_core.cli.common import check_class, make_engine, open_network, set_threads, stop_requests
    from creps_core.cli.terminal import TrainingProgress, say
    from creps_core.io.images import read_square
    from creps_core.jobs.outputs import claim
    from creps_core.progress import DONE, Cancelled, Progress, run_job
    from creps_core.train.project import Projection, ProjectOptions

    set_threads(args.threads)
    width, height = args.size
    if width != height:
        raise UsageError(f"--size {width}x{height}: a projection is fitted on a square (the model's own grid); "
                         "render the result at any shape afterwards")
    if not 8 <= width <= MAX_PROJECT_SIZE:
        raise UsageError(f"--size {width}: a projection is fitted at 8..{MAX_PROJECT_SIZE} px "
                         "(the result renders at any size afterwards)")
    if args.starts < 0:
        raise UsageError("--starts must be 0 or more")
    target, crop = read_square(args.target, width)
    model = open_network(args)
    check_class(args, model)
    outdir = Path(args.outdir)
    claim(_outputs(outdir, args.save_video), [model.path, args.target], args.force)
    outdir.mkdir(parents=True, exist_ok=True)
    opts = ProjectOptions(steps=args.steps, size=width, space=args.space, seed=args.seed, starts=args.starts,
                          class_idx=args.class_idx)
    projection = Projection(model, target, opts, args.device)
    video = _Video(outdir / VIDEO_NAME, target) if args.save_video else None
    stopped = False
    try:
        with TrainingProgress("step", scaled=False) as bar, stop_requests() as stop:

            def report(step: Progress) -> None:
                if step.stage == DONE:
                    return
                bar(step)
                if video is not None and projection.preview is not None:
                    video.add(projection.preview)

            try:
                run_job(projection.steps(cancel=stop.is_set), report)
            except Cancelled:
                stopped = True
    except BaseException:  # a second Ctrl-C, an error: no video under the final name
        if video is not None:
            video.discard()
        raise
    if projection.best_ws is None:  # stopped before the first step
        if video is not None:
            video.discard()
        raise KeyboardInterrupt
    written = _write(args, model, projection, target, crop, make_engine(model, args.device, "fp32"), stopped)
    if video is not None and (path := video.finish()) is not None:
        written.append(f"wrote {path} ({video.frames} frames)")
    for line in written:
        print(line)
    if stopped:
        args.interrupt_note = f"the best ws so far are in {outdir / WS_NAME}"
        say(f"stopped after {projection.step_idx} of {opts.steps} steps")
        raise KeyboardInterrupt
    return 0


def _write(args: argparse.Namespace, model: LoadedModel, projection: Projection, target: np.ndarray,
           crop: SquareCrop, engine: Engine, stopped: bool) -> list[str]:
    """proj.png (with its record), target.png and projected_w.npz; the lines that say so."""
    from creps_core.jobs.metadata import RenderRecord, write_png
    from creps_core.latent.files import save_ws
    from creps_core.latent.latents import Floats, LatentSpec
    from creps_core.model.checkpoint import file_sha256
    from creps_core.render.engine import to_uint8
    from creps_core.render.views import View

    outdir, size, best = Path(args.outdir), projection.opts.size, projection.best_ws
    assert best is not None  # run() writes only after a step
    spec = LatentSpec(ws=Floats.of(best))
    view = View(size, size)
    figures = projection.figures()
    extra = {"kind": "projection", "target": str(args.target), "target_sha256": file_sha256(Path(args.target)),
             "crop": crop.to_dict(), "options": projection.opts.to_dict(), "steps_done": projection.step_idx,
             "stopped": stopped, **{k: round(v, 4) for k, v in figures.items()}}
    record = RenderRecord(str(model.path), model.sha256, spec, view, engine.precision, network=model.network,
                          extra=extra)  # a straight view: the same pixels at every warp quality
    png = write_png(outdir / PNG_NAME, to_uint8(engine.render(spec, view)), record)
    write_png(outdir / TARGET_NAME, target)
    ws = save_ws(outdir / WS_NAME, best)
    return [f"wrote {ws} (w {list(best[None].shape)}, {projection.opts.space})",
            f"wrote {png} ({size}x{size}: PSNR {figures['psnr_db']:.2f} dB, SSIM {figures['ssim']:.4f} "
            f"after {projection.step_idx} steps)", f"wrote {outdir / TARGET_NAME}"]
