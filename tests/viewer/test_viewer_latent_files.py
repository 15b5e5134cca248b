"""The Latent tab's directions file and ws export/import (pytest-qt, offscreen, a tiny random model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from creps_core.latent.directions import sefa
from creps_core.latent.files import save_directions, save_ws
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import load_checkpoint
from creps_core.render.engine import Engine
from creps_core.render.views import View
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.latent import LatentPanel


@pytest.fixture
def setup(qtbot, tiny_ckpt, tmp_path):
    model = load_checkpoint(tiny_ckpt)
    engine = Engine(model, device="cpu")
    state = ExplorerState()
    c = model.cfg
    state.set_model(ModelSummary("tiny", str(model.path), model.sha256, c.num_ws, c.w_dim, c.c_dim, c.img_resolution,
                                 model.num_params))
    panel = LatentPanel(state, ws_of=lambda spec: engine.ws(spec).cpu().numpy())
    qtbot.addWidget(panel)
    found = sefa(engine.g, 4, (2, 6))
    path = save_directions(tmp_path / "sefa.npz", ["smile", "age", "pose", "light"], found.vectors, found.layers,
                           found.values, "sefa")
    return state, panel, engine, path, found


def test_latent_tab_lists_a_files_directions_and_a_slider_moves_the_rendered_latent(setup):
    state, panel, engine, path, found = setup
    assert panel.load_directions(path)
    assert [r.name for r in panel.direction_rows] == ["smile", "age", "pose", "light"]
    assert [r.layers.text() for r in panel.direction_rows] == ["2-6"] * 4
    assert "sefa.npz" in panel.directions_note.text()
    base_ws = engine.ws(state.latent).clone()
    base_img = engine.render(state.latent, View(24, 20))
    row = panel.direction_rows[1]
    row.amount.spin.setValue(3.0)  # as a user types or drags it
    (edit,) = state.latent.edits
    assert edit.name == "age" and edit.amount == 3.0 and edit.layers == (2, 6)
    moved = engine.ws(state.latent)
    expect = base_ws.clone()
    expect[2:7] += 3.0 * torch.from_numpy(found.vectors[1])
    assert torch.allclose(moved, expect, atol=1e-5)
    assert not torch.equal(engine.render(state.latent, View(24, 20)), base_img)
    state.close_merge()  # the slider is released
    row.layers.setText("0-1")  # the layer range is editable
    row.layers.editingFinished.emit()
    assert state.latent.edits[0].layers == (0, 1)
    row.layers.setText("0-99")  # not a range of this model: refused, the latent keeps its layers
    row.layers.editingFinished.emit()
    assert state.latent.edits[0].layers == (0, 1)
    row.amount.spin.setValue(0.0)  # amount 0 removes the edit: the image is the seed's again
    assert state.latent.edits == () and torch.equal(engine.render(state.latent, View(24, 20)), base_img)
    state.undo()  # undo brings the amount back, and the slider follows
    assert panel.direction_rows[1].amount.value() == 3.0


def test_a_bad_directions_file_is_said_in_the_panel(setup, tmp_path):
    state, panel, _, _, _ = setup
    bad = tmp_path / "bad.npz"
    np.savez(bad, vectors=np.ones((2, 5), np.float32), names=np.array(["a", "b"]))
    assert not panel.load_directions(bad)
    assert "bad.npz" in panel.directions_note.text() and panel.direction_rows == []


def test_export_and_import_the_current_ws(setup, tmp_path):
    state, panel, engine, _, _ = setup
    state.set_latent(LatentSpec(seed=5, psi=0.6, mix_seed=2, mix_layers=(3, 4)))
    out = tmp_path / "ws.npz"
    panel.ws_file.export_ws(out)
    with np.load(out, allow_pickle=False) as d:
        assert d["w"].shape == (1, engine.cfg.num_ws, engine.cfg.w_dim)
    want = engine.render(state.latent, View(20, 20))
    state.set_latent(LatentSpec(seed=0))
    assert panel.import_ws(out)
    assert state.latent.ws is not None and torch.equal(engine.render(state.latent, View(20, 20)), want)
    panel.ws_file.clear_ws.click()
    assert state.latent.ws is None
    save_ws(tmp_path / "wrong.npz", np.ones((3, 4), np.float32))
    assert not panel.import_ws(tmp_path / "wrong.npz") and "wrong.npz" in panel.ws_note.text()
