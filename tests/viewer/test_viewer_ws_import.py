"""Export ws → another seed → Import ws shows exactly the exported picture, whatever edits made it
(issue 20, item 2), and one Undo brings the edits back (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest

from creps_core.latent.directions import sefa
from creps_core.latent.files import save_directions
from creps_core.model.network import CREPSConfig
from creps_core.render.engine import Engine

from ..core_fixtures import tiny_checkpoint
from ..viewer_fixtures import make_window

# 15 ws like the released 256 config (so mixing {3, 7-14} exists), narrow enough to render at once
TINY_15 = CREPSConfig(z_dim=32, w_dim=32, img_resolution=256, mapping_layers=2, channel_base=512,
                      channel_max=32, biline_channels=8)


@pytest.fixture(scope="module")
def ckpt15(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("m15") / "tiny15.safetensors", seed=4, cfg=TINY_15)


def shown(win) -> np.ndarray:
    frame = win.current_full_frame()
    assert frame is not None, "no refined frame for the current state"
    return frame.rgb.copy()


def test_ws_round_trip_is_pixel_identical_after_every_kind_of_edit_and_undo_restores_them(qtbot, tmp_path, ckpt15):
    win = make_window(qtbot, tmp_path, ckpt15)
    s, panel = win.state, win.latent_panel
    engine = Engine(win.session.loaded_model, device="cpu")
    found = sefa(engine.g, 2, (0, 3))
    directions = save_directions(tmp_path / "dirs.npz", ["a", "b"], found.vectors, found.layers, found.values, "sefa")
    assert panel.load_directions(directions)
    panel.direction_rows[0].amount.spin.setValue(4.0)  # a file direction on layers 0-3
    s.close_merge()
    s.update_latent(psi=-0.48)
    s.update_latent(mix_seed=9, mix_layers=(3, *range(7, 15)))
    s.update_latent(interp_seed=5, interp_t=0.53)
    s.update_latent(pca_amounts=((0, 2.92),))
    edited = s.latent
    assert edited.edits and edited.edits[0].layers == (0, 3)
    before = shown(win)

    out = tmp_path / "ws.npz"
    panel.ws_file.export_ws(out)
    panel.step_seed(+1)  # next seed: another picture
    assert not np.array_equal(shown(win), before)
    assert panel.import_ws(out)
    np.testing.assert_array_equal(shown(win), before)  # exactly what was exported
    imported = s.latent
    assert (imported.psi, imported.mix_layers, imported.interp_t, imported.pca_amounts, imported.edits) == \
        (1.0, (), 0.0, (), ())
    note = panel.ws_note.text()
    for word in ("ψ", "mixing", "A↔B", "PCA", "file directions", "Undo"):
        assert word in note, (word, note)
    assert "\n" not in note

    s.undo()  # one step: the edits and the seed's latent are back, the ws gone
    assert s.latent == edited.with_(seed=edited.seed + 1)
    assert panel.mixing.mix_on.isChecked() and panel.direction_rows[0].amount.value() == 4.0


def test_importing_over_a_plain_seed_says_nothing_was_cleared(qtbot, tmp_path, ckpt15):
    win = make_window(qtbot, tmp_path, ckpt15)
    out = tmp_path / "ws.npz"
    win.latent_panel.ws_file.export_ws(out)
    assert win.latent_panel.import_ws(out)
    assert win.latent_panel.ws_note.text() == "Rendering the ws of ws.npz."
