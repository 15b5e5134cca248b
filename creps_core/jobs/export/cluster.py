"""Rendering export tiles on a Dask cluster (:mod:`creps_core.jobs.cluster`); the file writer
stays in the client.

A tile job is a pure function of (checkpoint path + sha256, latent spec, view, supersample,
precision, tile rectangle) -> uint8 pixels, so any worker can render any tile and the result
equals a local render bit for bit.

    with open_client(workers=4) as client:           # or scheduler="tcp://host:8786"
        export_image(engine, latent, view, "big.tif", renderer=dask_renderer(client, engine))

``export_image`` / ``export_steps`` take the renderer; :func:`cluster_export` wraps both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from creps_core.jobs.cluster import model_ref, open_client, submit_bounded, worker_engine
from creps_core.jobs.export.job import export_image
from creps_core.jobs.export.spec import ExportSpec
from creps_core.jobs.export.tiles import Renderer, TileTask, line_cache_limit, tile_pixels
from creps_core.latent.latents import LatentSpec
from creps_core.render.engine import Engine
from creps_core.render.views import View
from creps_core.vocabulary import read_warp_quality

__all__ = ["cluster_export", "dask_renderer", "open_client", "render_tile_job", "spec_from_dict", "spec_to_dict"]


def render_tile_job(model: dict, spec: dict, task: dict) -> np.ndarray:
    """Pixels of one tile; runs on a worker.  Arguments are plain dicts (cheap to ship, versioned by content)."""
    engine = worker_engine(model, spec["precision"])
    export_spec = spec_from_dict(spec)
    with engine.line_cache_limit(line_cache_limit(engine, export_spec)):
        return tile_pixels(engine, export_spec, TileTask(**task))


def spec_to_dict(spec: ExportSpec) -> dict:
    return {"latent": spec.latent.to_dict(), "view": spec.view.to_dict(), "supersample": spec.supersample,
            "precision": spec.precision, "warp_quality": spec.warp_quality, "tile": spec.tile}


def spec_from_dict(d: dict) -> ExportSpec:
    return ExportSpec(latent=LatentSpec.from_dict(d["latent"]), view=View.from_dict(d["view"]),
                      supersample=d["supersample"], precision=d["precision"], warp_quality=read_warp_quality(d),
                      tile=d["tile"])


def dask_renderer(client, engine: Engine, in_flight_per_worker: int = 2) -> Renderer:
    """A renderer for :func:`export_steps` that submits tiles to ``client`` (at most
    ``in_flight_per_worker`` tiles per worker pending at a time)."""
    model = model_ref(engine)

    def run(spec: ExportSpec, tasks: list[TileTask], cancel) -> Iterator[tuple[TileTask, np.ndarray]]:
        spec_d = spec_to_dict(spec)
        jobs = ((task, (model, spec_d, asdict(task))) for task in tasks)
        yield from submit_bounded(client, render_tile_job, jobs, cancel, in_flight_per_worker)

    return run


def cluster_export(engine: Engine, latent: LatentSpec, view: View, out_path, *, workers: int | None = None,
                   scheduler: str | None = None, **kw) -> Path:
    """:func:`export_image` with tiles rendered on Dask (``workers`` local processes or ``scheduler``)."""
    with open_client(workers, scheduler) as client:
        return export_image(engine, latent, view, out_path, renderer=dask_renderer(client, engine), **kw)
