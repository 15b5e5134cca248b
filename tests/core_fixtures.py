"""Shared helpers for the core tests: golden references and small models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from creps_core.model.checkpoint import save_safetensors
from creps_core.model.network import CREPSConfig, CREPSGenerator

from .official_pickle import write_official_pickle

DATA = Path(__file__).resolve().parent / "data"  # reference outputs of the official code (see data/README.md)


def data_file(name: str) -> Path:
    """A file of tests/data; a missing one fails the test (it is part of the repository)."""
    path = DATA / name
    assert path.is_file(), f"test data {path} is missing from this checkout"
    return path


def golden(name: str) -> dict:
    with np.load(data_file(name)) as d:
        data = {k: d[k] for k in d.files}
    data["meta"] = json.loads(str(data.pop("meta_json")))
    return data


def golden_state(g: dict) -> dict[str, torch.Tensor]:
    return {k[len("state/"):]: torch.from_numpy(v.copy()) for k, v in g.items() if k.startswith("state/")}


def golden_pickle(tmp_path: Path, name: str, g_state=None) -> tuple[Path, dict]:
    g = golden(name)
    path = tmp_path / (name.replace("_golden.npz", "") + ".pkl")
    write_official_pickle(path, golden_state(g), g["meta"]["G_init_kwargs"], g_state=g_state)
    return path, g


TINY = CREPSConfig(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2, channel_base=512,
                   channel_max=32, biline_channels=8)


def tiny_checkpoint(path: Path, seed: int = 0, cfg: CREPSConfig = TINY) -> Path:
    torch.manual_seed(seed)
    g = CREPSGenerator(cfg)
    return save_safetensors(path, cfg, g.state_dict())
