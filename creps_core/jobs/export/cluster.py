"""Rendering export tiles on a Dask cluster; the file writer stays in the client.

A tile job is a pure function of (checkpoint path + sha256, latent spec, view,
supersample, precision, tile rectangle) -> uint8 pixels, so any worker can render
any tile and the result equals a local render bit for bit.  Workers load the
checkpoint by path (it must be readable at the same path on every worker: a shared
disk) and refuse it if its hash differs from the one the client rendered from.
Each worker process keeps one engine per (checkpoint, precision), so per-latent
programs and line caches are reused across that worker's tiles.

    with open_client(workers=4) as client:           # or scheduler="tcp://host:8786"
        export_image(engine, latent, view, "big.tif", renderer=dask_renderer(client, engine))

``export_image`` / ``export_steps`` take the renderer; :func:`cluster_export` wraps both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np

from creps_core.jobs.export.job import ModelRef, export_image
from creps_core.jobs.export.spec import ExportSpec
from creps_core.jobs.export.tiles import Renderer, TileTask, line_cache_limit, tile_pixels
from creps_core.latent.latents import LatentSpec
from creps_core.progress import Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View
from creps_core.vocabulary import read_warp_quality

SCHEDULER_TIMEOUT_S = 10  # a scheduler that does not answer by then is reported, not waited for

_ENGINES: dict[tuple[str, str, str], Engine] = {}


def render_tile_job(model: dict, spec: dict, task: dict) -> np.ndarray:
    """Pixels of one tile; runs on a worker.  Arguments are plain dicts (cheap to ship, versioned by content)."""
    from creps_core.model.checkpoint import load_checkpoint

    ref = ModelRef(**model)
    key = (ref.path, ref.sha256, spec["precision"])
    engine = _ENGINES.get(key)
    if engine is None:
        loaded = load_checkpoint(ref.path, ref.network)
        if loaded.sha256 != ref.sha256:
            raise ValueError(f"{ref.path} on this worker has sha256 {loaded.sha256[:12]}..., "
                             f"the client rendered {ref.sha256[:12]}...: the checkpoint differs between machines")
        engine = _ENGINES[key] = Engine(loaded, device="auto", precision=spec["precision"])
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
    """A renderer for :func:`export_steps` that submits tiles to ``client``.

    At most ``in_flight_per_worker`` tiles per worker are pending at a time, so the
    client's memory stays bounded however many tiles the export has.
    """
    from distributed import as_completed

    if engine.model is None or not Path(str(engine.model.path)).is_file():
        raise ValueError("cluster rendering needs a model loaded from a checkpoint file (workers load it by path)")
    model = asdict(ModelRef(str(Path(engine.model.path).resolve()), engine.model.sha256, engine.model.network))

    def run(spec: ExportSpec, tasks: list[TileTask], cancel) -> Iterator[tuple[TileTask, np.ndarray]]:
        spec_d = spec_to_dict(spec)
        limit = max(1, in_flight_per_worker * len(client.scheduler_info().get("workers", {})))
        pending = iter(tasks)
        running: dict[str, tuple[object, TileTask]] = {}
        queue = as_completed()

        def submit_next() -> None:
            task = next(pending, None)
            if task is not None:
                fut = client.submit(render_tile_job, model, spec_d, asdict(task), pure=True)
                running[fut.key] = (fut, task)
                queue.add(fut)

        for _ in range(limit):
            submit_next()
        try:
            for fut in queue:
                if cancel is not None and cancel():
                    raise Cancelled()
                pixels = fut.result()
                _, task = running.pop(fut.key)
                submit_next()
                yield task, pixels
        finally:
            if running:  # cancelled or failed: drop the tiles still queued on the cluster
                client.cancel([f for f, _ in running.values()])

    return run


@contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None,
                threads_per_worker: int = 1) -> Iterator[object]:
    """A Dask client: ``scheduler`` joins a running cluster, else ``workers`` local processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as e:
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler} "
                                  f"(within {SCHEDULER_TIMEOUT_S} s: {e})") from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def cluster_export(engine: Engine, latent: LatentSpec, view: View, out_path, *, workers: int | None = None,
                   scheduler: str | None = None, **kw) -> Path:
    """:func:`export_image` with tiles rendered on Dask (``workers`` local processes or ``scheduler``)."""
    with open_client(workers, scheduler) as client:
        return export_image(engine, latent, view, out_path, renderer=dask_renderer(client, engine), **kw)
