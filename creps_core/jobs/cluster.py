"""Independent pieces of a job (export tiles, video frames, the images of a render) rendered on a Dask cluster.

A piece is a pure function of (checkpoint path + sha256, what to render) -> uint8 pixels, so any
worker can render any piece and the result equals a local render bit for bit.  Workers load the
checkpoint by path (it must be readable at the same path on every worker: a shared disk) and
refuse it if its hash differs from the one the client rendered from.  Each worker process keeps
one engine per (checkpoint, precision), so per-latent programs and line caches are reused across
that worker's pieces.  The files are written by the client, in the job's own steps.

Dask (``distributed``) is the optional ``[cluster]`` extra: it is imported only here, inside the
functions, and :func:`require_dask` says in one line how to install it.

    with open_client(workers=4) as client:           # or scheduler="tcp://host:8786"
        for key, pixels in submit_bounded(client, render_piece, jobs, cancel): ...
        for key, image in dask_images(client, engine, [(key, latent, view), ...], "fine"): ...
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from creps_core.latent.latents import LatentSpec
from creps_core.progress import CancelFn, Cancelled
from creps_core.render.engine import Engine
from creps_core.render.views import View

SCHEDULER_TIMEOUT_S = 10  # a scheduler that does not answer by then is reported, not waited for
INSTALL_HINT = 'pip install "creps-explorer[cluster]"'

_ENGINES: dict[tuple[str, str, str, str], Engine] = {}


@dataclass
class ModelRef:
    """How a piece names its model: by file and hash, so other processes can load it."""

    path: str
    sha256: str
    network: str = "G_ema"
    device: str = "auto"  # the client's device kind (cpu, cuda): a --device cpu job renders on CPUs everywhere


def require_dask() -> None:
    """Refuse in one line, before any work, a cluster job on an install without the [cluster] extra."""
    try:
        import distributed  # noqa: F401 -- only whether it imports
    except ImportError:
        raise RuntimeError(f"--workers and --scheduler render on Dask, which is not installed: "
                           f"{INSTALL_HINT}") from None


def model_ref(engine: Engine) -> dict:
    """The plain-dict reference workers load ``engine``'s checkpoint by (a file: workers cannot
    receive weights held only in this process)."""
    if engine.model is None or not Path(str(engine.model.path)).is_file():
        raise ValueError("cluster rendering needs a model loaded from a checkpoint file (workers load it by path)")
    return asdict(ModelRef(str(Path(engine.model.path).resolve()), engine.model.sha256, engine.model.network,
                           engine.device.type))


def worker_engine(model: dict, precision: str) -> Engine:
    """This worker's engine for ``model`` (a :func:`model_ref`) at ``precision``, loaded once."""
    from creps_core.model.checkpoint import load_checkpoint

    ref = ModelRef(**model)
    key = (ref.path, ref.sha256, precision, ref.device)
    engine = _ENGINES.get(key)
    if engine is None:
        loaded = load_checkpoint(ref.path, ref.network)
        if loaded.sha256 != ref.sha256:
            raise ValueError(f"{ref.path} on this worker has sha256 {loaded.sha256[:12]}..., "
                             f"the client rendered {ref.sha256[:12]}...: the checkpoint differs between machines")
        engine = _ENGINES[key] = Engine(loaded, device=ref.device, precision=precision)
    return engine


def submit_bounded(client: Any, fn: Callable[..., Any], jobs: Iterable[tuple[Any, tuple]],
                   cancel: CancelFn | None = None, in_flight_per_worker: int = 2) -> Iterator[tuple[Any, Any]]:
    """``(key, fn(*args))`` for every ``(key, args)`` of ``jobs``, in the order they finish.

    At most ``in_flight_per_worker`` pieces per worker are pending at a time, so the client's
    memory stays bounded however many pieces the job has; a cancel (or an error) drops the
    pieces still queued on the cluster."""
    from distributed import as_completed

    limit = max(1, in_flight_per_worker * len(client.scheduler_info().get("workers", {})))
    pending = iter(jobs)
    running: dict[str, tuple[Any, Any]] = {}
    queue = as_completed()

    def submit_next() -> None:
        job = next(pending, None)
        if job is not None:
            key, args = job
            fut = client.submit(fn, *args, pure=False)  # two equal pieces (a grid's repeated seed) are two futures
            running[fut.key] = (fut, key)
            queue.add(fut)

    for _ in range(limit):
        submit_next()
    try:
        for fut in queue:
            if cancel is not None and cancel():
                raise Cancelled()
            result = fut.result()
            _, key = running.pop(fut.key)
            submit_next()
            yield key, result
    finally:
        if running:  # cancelled or failed: drop the pieces still queued on the cluster
            client.cancel([f for f, _ in running.values()])


def render_image_job(model: dict, precision: str, latent: dict, view: dict, warp_quality: str) -> np.ndarray:
    """One whole image, float32 [C, H, W] as :meth:`Engine.render` returns it; runs on a worker.

    The float image travels (not uint8) so the client can write ``--save-raw`` files too."""
    engine = worker_engine(model, precision)
    return engine.render(LatentSpec.from_dict(latent), View.from_dict(view), warp_quality=warp_quality).numpy()


def dask_images(client: Any, engine: Engine, images: Iterable[tuple[Any, LatentSpec, View]], warp_quality: str,
                cancel: CancelFn | None = None) -> Generator[tuple[Any, torch.Tensor], None, None]:
    """``(key, image)`` for every ``(key, latent, view)`` of ``images``, rendered on ``client``'s
    workers from ``engine``'s checkpoint at its precision, in the order they finish; each image
    equals ``engine.render(latent, view, warp_quality=...)``."""
    model = model_ref(engine)
    jobs = ((key, (model, engine.precision, latent.to_dict(), view.to_dict(), warp_quality))
            for key, latent, view in images)
    for key, pixels in submit_bounded(client, render_image_job, jobs, cancel):
        yield key, torch.from_numpy(pixels)


@contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None,
                threads_per_worker: int = 1) -> Iterator[Any]:
    """A Dask client: ``scheduler`` joins a running cluster, else ``workers`` local processes."""
    require_dask()
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
