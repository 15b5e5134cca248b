"""The model the explorer and ``creps render`` open when no checkpoint is named.

The trained demo model ships as ``assets/demo.safetensors``.  When it is absent
(a source tree without assets, or before one was trained) a small generator with
random weights is built instead, and it says so in its metadata so the window can
label it clearly rather than pass noise off as a model.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import LoadedModel, load_checkpoint
from .network import CREPSConfig, CREPSGenerator

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
DEMO_MODEL = ASSETS_DIR / "demo.safetensors"
RANDOM_LABEL = "random weights (no demo model found)"

SMALL_RANDOM_CONFIG = CREPSConfig(z_dim=64, w_dim=64, img_resolution=64, mapping_layers=2,
                                  channel_base=2048, channel_max=128, biline_channels=16)


def random_model(cfg: CREPSConfig = SMALL_RANDOM_CONFIG, seed: int = 0) -> LoadedModel:
    """A generator with seeded random weights, labelled as such."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        g = CREPSGenerator(cfg)
    state = {k: v.detach().clone() for k, v in g.state_dict().items()}
    return LoadedModel(cfg, state, Path(f"<random:{seed}>"), "", "random", metadata={"label": RANDOM_LABEL})


def default_model() -> LoadedModel:
    """The shipped demo model, or a clearly labelled random one."""
    if DEMO_MODEL.exists():
        return load_checkpoint(DEMO_MODEL)
    return random_model()


def open_model(path: str | None, network: str = "G_ema") -> LoadedModel:
    """A checkpoint by path; None means the default model; '<random:N>' the labelled random one."""
    if path is None:
        return default_model()
    if path.startswith("<random:") and path.endswith(">"):
        return random_model(seed=int(path[len("<random:"):-1]))
    return load_checkpoint(path, network)


def model_label(model: LoadedModel) -> str:
    """Short human name of a model for titles and status lines."""
    return model.metadata.get("label") or model.path.name
