"""The Style mixing box shows the exact set of layers (issue 20, item 6): a range slider only for a
run, the set in words, selected toggles in the highlight colour (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QPalette

from creps_core.latent.latents import LatentSpec
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.mixing import MixingBox, layer_set_text


@pytest.fixture
def box(qtbot):
    state = ExplorerState()
    state.set_model(ModelSummary("m", "", "", 15, 32, 0, 256, 1))
    widget = MixingBox(state)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return state, widget


def test_layer_set_text_shortens_runs_only():
    assert layer_set_text((3, *range(7, 15))) == "3, 7–14"
    assert layer_set_text((0, 2, 4)) == "0, 2, 4"
    assert layer_set_text(()) == ""


def test_a_set_with_a_gap_is_not_shown_as_a_range(box):
    state, w = box
    state.set_latent(LatentSpec(mix_seed=9, mix_layers=(3, *range(7, 15))))
    assert w.range_row.isHidden()  # no slider claiming 3-14
    assert "3, 7–14" in w.layer_set.text()
    assert [i for i, b in enumerate(w.layer_buttons) if b.isChecked()] == [3, *range(7, 15)]
    state.set_latent(LatentSpec(mix_seed=9, mix_layers=tuple(range(4, 9))))
    assert not w.range_row.isHidden() and (w.mix_range.low, w.mix_range.high) == (4, 9)
    assert "4–8" in w.layer_set.text()


def test_selected_layers_look_selected_not_disabled(box):
    state, w = box
    state.set_latent(LatentSpec(mix_seed=9, mix_layers=(3, 7)))
    on, off = w.layer_buttons[3], w.layer_buttons[4]
    assert on.isEnabled() and off.isEnabled()
    highlight = np.array(on.palette().color(QPalette.Highlight).getRgb()[:3])

    def centre_colour(button) -> np.ndarray:
        img = button.grab().toImage()
        c = img.pixelColor(img.width() // 2 - 6, img.height() // 2 - 6)  # beside the digit
        return np.array([c.red(), c.green(), c.blue()])

    assert np.abs(centre_colour(on) - highlight).max() <= 8
    assert np.abs(centre_colour(off) - highlight).max() > 40


def test_picking_a_layer_while_mixing_is_off_turns_it_on(box):
    state, w = box
    w.mix_seed.setValue(6)
    state.set_latent(LatentSpec())  # mixing off
    w.layer_buttons[5].click()
    assert state.latent.mix_seed == 6 and state.latent.mix_layers == (5,)
    assert w.mix_on.isChecked()
