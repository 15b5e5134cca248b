"""Rendering a video's frames on a Dask cluster (:mod:`creps_core.jobs.cluster`); the frames are
stored and encoded, in order, by the client (:func:`.job.video_steps`).

A frame is a pure function of (checkpoint path + sha256, each cell's latent and view, precision):
the client works out every frame's state (the walk's spline needs the whole timeline) and ships
it as plain dicts, a latent that no seed expresses as its ws, exactly.

    with open_client(workers=4) as client:
        run_job(video_steps(engine, spec, "walk.mp4", renderer=dask_frame_renderer(client, engine)))
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from creps_core.jobs.cluster import model_ref, submit_bounded, worker_engine
from creps_core.jobs.video.job import FrameRenderer, frame_pixels
from creps_core.jobs.video.keyframes import VideoSpec
from creps_core.jobs.video.timeline import Frame
from creps_core.latent.latents import Floats, LatentSpec
from creps_core.progress import CancelFn
from creps_core.render.engine import Engine
from creps_core.render.views import View


def state_to_dict(frame: Frame) -> dict:
    """A frame's state as plain data (a ws tensor travels as a LatentSpec holding it)."""
    latent = frame.latent
    if not isinstance(latent, LatentSpec):
        latent = LatentSpec(ws=Floats.of(latent.detach().cpu().numpy()))
    return {"index": frame.index, "latent": latent.to_dict(), "view": frame.view.to_dict()}


def state_from_dict(d: dict) -> Frame:
    return Frame(int(d["index"]), View.from_dict(d["view"]), LatentSpec.from_dict(d["latent"]))


def render_frame_job(model: dict, spec: dict, states: list[dict], columns: int, rows: int) -> np.ndarray:
    """Pixels of one frame; runs on a worker."""
    video = VideoSpec.from_dict(spec)
    engine = worker_engine(model, video.precision or "fp32")
    return frame_pixels(engine, video, [state_from_dict(s) for s in states], columns, rows)


def dask_frame_renderer(client, engine: Engine, in_flight_per_worker: int = 2) -> FrameRenderer:
    """A renderer for :func:`.job.video_steps` that submits frames to ``client``."""
    model = model_ref(engine)

    def run(items: Iterator[tuple[int, list[Frame]]], spec: VideoSpec, columns: int, rows: int,
            cancel: CancelFn | None) -> Iterator[tuple[int, list[Frame], np.ndarray]]:
        settings = spec.to_dict()  # a frame needs the settings, not the keyframes: its state is shipped
        spec_d = {**settings, "keyframes": settings["keyframes"][:1], "precision": spec.precision or engine.precision}
        jobs = (((index, states), (model, spec_d, [state_to_dict(s) for s in states], columns, rows))
                for index, states in items)
        for (index, states), pixels in submit_bounded(client, render_frame_job, jobs, cancel, in_flight_per_worker):
            yield index, states, pixels

    return run
