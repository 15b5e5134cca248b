"""Tiles rendered on a Dask LocalCluster equal a single-process export."""

from __future__ import annotations

import distributed  # noqa: F401 -- declared in the [test] extra: a missing install fails, never skips
import numpy as np
import pytest
import torch

from creps_core.jobs import export as ex
from creps_core.jobs.export.cluster import dask_renderer, open_client, render_tile_job
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint, save_safetensors
from creps_core.model.network import CREPSGenerator
from creps_core.render.engine import Engine
from creps_core.render.views import View

from ..core_fixtures import TINY


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_safetensors(path, TINY, CREPSGenerator(TINY).state_dict())
    return Engine(load_checkpoint(path), device="cpu")


def test_local_cluster_export_equals_single_process(engine, tmp_path):
    latent, view = LatentSpec(seed=5), View(80, 56, rotation=15.0, zoom=1.3)  # 6 tiles of 32
    local = ex.export_image(engine, latent, view, tmp_path / "local.tif", tile=32, supersample=2)
    with open_client(workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = ex.export_image(engine, latent, view, tmp_path / "dask.tif", tile=32, supersample=2,
                                 renderer=dask_renderer(client, engine))
    assert np.array_equal(ex.read_image(local), ex.read_image(remote))


def test_worker_refuses_a_different_checkpoint(engine):
    model = {"path": str(engine.model.path), "sha256": "0" * 64, "network": "G_ema"}
    spec = {"latent": LatentSpec().to_dict(), "view": View(16, 16).to_dict(), "supersample": 1,
            "precision": "fp32", "exact": False, "tile": 16}
    with pytest.raises(ValueError, match="differs"):
        render_tile_job(model, spec, {"ti": 0, "tj": 0, "row0": 0, "col0": 0, "rows": 16, "cols": 16})


def test_cluster_needs_a_checkpoint_file():
    with pytest.raises(ValueError, match="checkpoint file"):
        dask_renderer(None, Engine(CREPSGenerator(TINY), device="cpu"))


def test_workers_render_on_the_client_s_device_kind(engine):
    """A job made with --device cpu renders on CPUs on every worker, even one with a GPU."""
    from creps_core.jobs.cluster import model_ref, worker_engine

    ref = model_ref(engine)
    assert ref["device"] == "cpu" == engine.device.type
    assert worker_engine(ref, "fp32").device.type == "cpu"
    assert worker_engine({**ref, "device": "cpu"}, "fp32") is worker_engine(ref, "fp32")  # loaded once
