"""The video job: render every frame into the work folder, then encode them (or write numbered PNGs).

Output is written under a temporary name and renamed when complete; a ``NAME.json`` sidecar
records everything needed to render it again.  An output name with a ``%05d``-style number in it
(``frames/%05d.png``) writes numbered PNGs instead, each carrying its own frame's latent and view
(``creps render --from`` re-renders one).  Those records (the sidecar's, each frame's) are also how
a later video knows the files for its own and replaces them: an input of the command or a file it
did not write is kept (:mod:`creps_core.jobs.outputs`).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from creps_core.io.safe_files import (
    DiskFullError,
    disk_full,
    is_regular_file,
    no_space,
    open_exclusive,
    remove_stale_temps,
    temp_sibling,
)
from creps_core.jobs.grids import layout
from creps_core.jobs.metadata import RenderRecord, read_record, write_png
from creps_core.jobs.outputs import Owned, carries_record, claim
from creps_core.jobs.video.encode import check_encoded, format_of, open_writer
from creps_core.jobs.video.keyframes import Keyframe, VideoSpec, validate
from creps_core.jobs.video.timeline import Frame, frames
from creps_core.jobs.workdir import TileStore, check_free_space, model_identity, remove_finished_work, work_dir
from creps_core.latent.latents import Floats, LatentSpec
from creps_core.progress import DONE, ENCODING, RENDERING_FRAMES, CancelFn, Cancelled, Progress, run_job
from creps_core.render.engine import ENGINE_VERSION, Engine, to_uint8
from creps_core.vocabulary import DEFAULT_WARP_QUALITY


def video_record(spec: VideoSpec, engine: Engine, cells: Sequence[VideoSpec] = (), columns: int = 1,
                 ) -> RenderRecord:
    """The sidecar record: the first keyframe as the record's state, the whole spec in ``extra``
    (and every cell of a grid video)."""
    m = engine.model
    first = spec.keyframes[0]
    return RenderRecord(checkpoint=str(m.path) if m else "", checkpoint_sha256=m.sha256 if m else "",
                        latent=first.latent, view=first.view.with_(width=spec.width, height=spec.height),
                        precision=spec.precision or engine.precision, warp_quality=spec.warp_quality,
                        network=m.network if m else "G_ema",
                        extra={"kind": "video", "frames": spec.n_frames, "video": spec.to_dict(),
                               **({"grid_columns": columns, "cells": [c.to_dict() for c in cells]} if cells else {})})


def video_steps(engine: Engine, spec: VideoSpec, out_path: str | os.PathLike, *,
                cancel: CancelFn | None = None, cells: Sequence[VideoSpec] = (), columns: int = 1,
                force: bool = False, fresh: bool = False, inputs: Sequence[str | os.PathLike] = (),
                renderer: FrameRenderer | None = None) -> Iterator[Progress]:
    """Render every frame, encoding each in order as soon as the frames before it are there,
    yielding a :class:`Progress` after each (and DONE).

    Frames are independent: ``renderer`` renders them (default: :func:`local_frame_renderer`;
    :mod:`.cluster` renders them on Dask, in any order); they are encoded in order all the same.

    ``cells`` (row-major, ``columns`` wide) makes a grid of videos side by side, as the official
    gen_video.py ``--grid``: each frame tiles frame i of every cell; ``spec`` is then the first
    cell.  Finished frames wait in a work folder beside the output (``.NAME.partial/``), so a
    cancelled or killed video resumes where it stopped when the same video is asked for again.
    Raises Cancelled on cancel (nothing is left under the final name).

    Nothing is written when a name it would write holds one of ``inputs`` (the checkpoint is one),
    a link or a file no video wrote, unless ``force``; nor when the work folder holds the frames of
    another video, unless ``fresh`` (both KeptError).  When another process finishes the same video
    to the same name meanwhile, this one ends with a note saying so.
    """
    out = Path(out_path)
    fmt = format_of(out)
    cells = list(cells) or [spec]
    rows = -(-len(cells) // columns)
    canvas = replace(spec, width=spec.width * columns, height=spec.height * rows)
    validate(canvas, fmt)
    record = video_record(spec, engine, cells if len(cells) > 1 else (), columns)
    job = hashlib.sha256(f"{record.to_json()}|{model_identity(engine)}|{ENGINE_VERSION}".encode()).hexdigest()
    read: list[str | os.PathLike | None] = [engine.model.path if engine.model else None, *inputs]
    if fmt == "png":
        yield from _png_sequence_steps(engine, spec, out, cells, columns, rows, record, job, cancel,
                                       partial(claim, inputs=read, force=force),
                                       renderer or local_frame_renderer(engine))
        return
    sidecar = out.with_name(out.name + ".json")
    check_outputs = partial(claim, [(out, _with_record(sidecar)), (sidecar, carries_record)], read, force)
    check_outputs()
    remove_stale_temps(out)
    try:
        # Finished frames are kept in a work folder, like export tiles, as lossless PNGs (a few
        # hundred frames of raw pixels would take gigabytes): an interrupted video resumes.
        store = TileStore(work_dir(out), job, {"video": str(out.name)}, fresh, what="a video", compressed=True)
        shape = (canvas.height, canvas.width)
        total = spec.n_frames
        todo = {i for i in range(total) if not store.has(0, i, 0, shape)}
        check_free_space(store.root, len(todo) * shape[0] * shape[1] * 3)
        kept = total - len(todo)
        note = f"resuming: {kept} of {total} frames were already rendered" if kept else None
        yield Progress(RENDERING_FRAMES, kept, total, note=note)
        tmp = temp_sibling(out)  # keeps the suffix: ffmpeg picks the muxer by it
        sidecar_tmp = temp_sibling(sidecar)
        try:
            open_exclusive(tmp).close()  # ours alone: the encoder reopens it by name
            writer = open_writer(tmp, fmt, canvas)
            encoded = 0  # frames 0..encoded-1 are in the file
            stored = set(range(total)) - todo  # frames in the work folder

            def keep_and_encode(index: int, states: list, image: np.ndarray) -> None:
                """Store the frame (for a resume), then encode every frame now ready, in order."""
                nonlocal encoded
                store.save(0, index, 0, image)
                stored.add(index)
                while encoded in stored:
                    writer.add(image if encoded == index else store.load(0, encoded, 0))
                    encoded += 1

            try:
                yield from _render_frames(engine, spec, cells, columns, rows, todo, keep_and_encode, cancel,
                                          renderer or local_frame_renderer(engine))
                if encoded < total:  # frames kept from an earlier run, after the last one rendered now
                    yield Progress(ENCODING, encoded, total)
                while encoded < total:
                    if cancel is not None and cancel():
                        raise Cancelled()
                    writer.add(store.load(0, encoded, 0))
                    encoded += 1
                    yield Progress(ENCODING, encoded, total)
            finally:
                writer.close()
            if fmt != "gif":
                check_encoded(tmp, out, total)
            with open_exclusive(sidecar_tmp) as f:
                f.write(record.to_json().encode())
            check_outputs()
            os.replace(tmp, out)
            os.replace(sidecar_tmp, sidecar)
        except OSError as e:
            if no_space(e) and not isinstance(e, DiskFullError):
                raise disk_full(e, out, "free space and run again (finished frames are kept)") from None
            raise
        finally:
            tmp.unlink(missing_ok=True)
            sidecar_tmp.unlink(missing_ok=True)
        store.remove()
        yield Progress(DONE, total, total, 0.0, out)
    except FileNotFoundError:
        if not _finished_elsewhere(out, sidecar, record):
            raise
        remove_finished_work(work_dir(out), job)
        yield Progress(DONE, spec.n_frames, spec.n_frames, 0.0, out,
                       note=f"another process finished the same video to {out} meanwhile; nothing more to do")


def _with_record(sidecar: Path) -> Owned:
    """A video is recognised by its sidecar: it carries no record of its own."""
    return lambda video: is_regular_file(video) and carries_record(sidecar)


def _finished_elsewhere(out: Path, sidecar: Path, record: RenderRecord) -> bool:
    """True when ``out`` now holds this very video, finished meanwhile by another process that worked
    in the same work folder (and removed it)."""
    try:
        return is_regular_file(out) and sidecar.read_text() == record.to_json()
    except (OSError, ValueError):
        return False


def frame_path(pattern: Path, index: int) -> Path:
    """The file of frame ``index`` of a numbered PNG sequence."""
    return pattern.with_name(pattern.name % index)


def _frame_record(record: RenderRecord, frame: Frame, job: str, single: bool) -> RenderRecord:
    """A PNG frame's record: its own latent (as a ws when no LatentSpec expresses it) and view, so
    `creps render --from` re-renders it; the frame of a grid keeps the whole video's record."""
    extra = {**(record.extra or {}), "frame": frame.index, "job": job}
    if not single:
        return replace(record, extra=extra)
    latent = frame.latent
    if not isinstance(latent, LatentSpec):
        latent = LatentSpec(ws=Floats.of(latent.detach().cpu().numpy()))
    return replace(record, latent=latent, view=frame.view, extra={**extra, "kind": "video-frame"})


def _finished(path: Path, job: str) -> bool:
    """True when ``path`` is a frame this very job wrote (a resume skips it)."""
    try:
        return path.is_file() and (read_record(path).extra or {}).get("job") == job
    except (OSError, ValueError):
        return False


def _png_sequence_steps(engine: Engine, spec: VideoSpec, pattern: Path, cells: list[VideoSpec], columns: int,
                        rows: int, record: RenderRecord, job: str, cancel: CancelFn | None,
                        check_outputs: Callable[[Iterator[tuple[Path, Owned]]], object],
                        renderer: FrameRenderer) -> Iterator[Progress]:
    """Numbered PNG frames, each written atomically; frames this job already wrote are kept, and
    those of another video replaced (``check_outputs`` refuses names holding anything else)."""
    total = spec.n_frames
    todo = {i for i in range(total) if not _finished(frame_path(pattern, i), job)}
    check_outputs((frame_path(pattern, i), carries_record) for i in sorted(todo))
    pattern.parent.mkdir(parents=True, exist_ok=True)
    kept = total - len(todo)
    note = f"resuming: {kept} of {total} frames were already written" if kept else None
    yield Progress(RENDERING_FRAMES, kept, total, note=note)

    def save(index: int, states: list, image: np.ndarray) -> None:
        write_png(frame_path(pattern, index), image, _frame_record(record, states[0], job, len(cells) == 1))

    yield from _render_frames(engine, spec, cells, columns, rows, todo, save, cancel, renderer)
    yield Progress(DONE, total, total, 0.0, pattern)


FrameRenderer = Callable[[Iterator[tuple[int, list[Frame]]], VideoSpec, int, int, CancelFn | None],
                         Iterator[tuple[int, list[Frame], np.ndarray]]]
"""Renders ``(index, cell states)`` of a video (its spec, columns, rows) to ``(index, states, pixels)``,
in any order: in this process, or on a cluster (:mod:`.cluster`)."""


def local_frame_renderer(engine: Engine) -> FrameRenderer:
    """Frames rendered here, one after the other, in order."""

    def run(items: Iterator[tuple[int, list[Frame]]], spec: VideoSpec, columns: int, rows: int,
            cancel: CancelFn | None) -> Iterator[tuple[int, list[Frame], np.ndarray]]:
        for index, states in items:
            yield index, states, frame_pixels(engine, spec, states, columns, rows, cancel)

    return run


def frame_pixels(engine: Engine, spec: VideoSpec, states: Sequence[Frame], columns: int, rows: int,
                 cancel: CancelFn | None = None) -> np.ndarray:
    """One frame: every cell's state rendered and laid out (a pure function of the model and states)."""
    images = [to_uint8(engine.render(f.latent, f.view, precision=spec.precision, warp_quality=spec.warp_quality,
                                     cancel=cancel)) for f in states]
    return layout(images, columns, rows)


def _render_frames(engine: Engine, spec: VideoSpec, cells: list[VideoSpec], columns: int, rows: int,
                   todo: set[int], save: Callable[[int, list, np.ndarray], None],
                   cancel: CancelFn | None, renderer: FrameRenderer) -> Iterator[Progress]:
    """Render the frames in ``todo`` (the grid's cells laid out side by side) and hand each to
    ``save(index, cell states, image)``; progress after every frame, the estimate counting only
    the frames still to render."""
    total, kept, start = spec.n_frames, spec.n_frames - len(todo), time.monotonic()

    def wanted() -> Iterator[tuple[int, list[Frame]]]:
        streams = [frames(engine, cell) for cell in cells]
        for index in range(total):
            states = [next(s) for s in streams]  # every stream advances: the walk's state depends on it
            if index in todo:
                yield index, states

    made = 0
    for index, states, image in renderer(wanted(), spec, columns, rows, cancel):
        save(index, states, image)
        made += 1
        yield Progress(RENDERING_FRAMES, kept + made, total, (time.monotonic() - start) / made * (len(todo) - made))


def render_video(engine: Engine, keyframes: Sequence[Keyframe], out_path: str | os.PathLike, *, fps: float = 30.0,
                 width: int | None = None, height: int | None = None, latent_mode: str = "slerp", loop: bool = False,
                 quality: float = 8.0, precision: str | None = None,
                 warp_quality: str = DEFAULT_WARP_QUALITY,
                 progress: Callable[[Progress], None] | None = None, cancel: CancelFn | None = None,
                 force: bool = False, fresh: bool = False) -> Path:
    """:func:`video_steps` of keyframes to an mp4/webm/gif (by extension), drained by
    :func:`~creps_core.progress.run_job`; returns the path (for scripts and tests).

    Frame size defaults to the first keyframe's view; ``progress(Progress)`` gets every record;
    ``cancel()`` True stops with Cancelled.
    """
    if not keyframes:
        raise ValueError("a video needs at least one keyframe")
    first = keyframes[0].view
    spec = VideoSpec(tuple(keyframes), width or first.width, height or first.height, fps, latent_mode, loop,
                     quality, precision, warp_quality)
    run_job(video_steps(engine, spec, out_path, cancel=cancel, force=force, fresh=fresh), progress)
    return Path(out_path)
