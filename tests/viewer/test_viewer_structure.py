"""The Structure window: one row per block, blocks switched off in its preview, off the UI thread."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from creps_core.jobs.structure import KINDS, StructureProbe
from creps_core.model.demo import random_model
from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.views import View
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.dialogs.structure import StructureWindow

from ..core_fixtures import TINY
from ..viewer_fixtures import make_window

VIEW = View(48, 40, center=(0.5, 0.45), zoom=1.2)


@pytest.fixture(scope="module")
def models():
    return {9: random_model(TINY, seed=3), 15: random_model(PAPER_CONFIGS[256], seed=0)}


def open_window(qtbot, model, sync: bool = True) -> StructureWindow:
    state = ExplorerState()
    window = StructureWindow(state, lambda: StructureProbe(model, "cpu", "fp32"), lambda: VIEW, sync=sync)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.mark.parametrize("num_ws,names", [(9, ["b8", "b16", "b32"]),
                                          (15, ["b8", "b16", "b32", "b64", "b128", "b256"])])
def test_one_row_of_pictures_per_block(qtbot, models, num_ws, names):
    window = open_window(qtbot, models[num_ws])
    assert models[num_ws].cfg.num_ws == num_ws
    assert [box.text() for box in window.checkboxes] == names
    assert len(window.cells) == len(names) and all(list(cells) == list(KINDS) for cells in window.cells)
    assert all(not cell.pixmap().isNull() for cells in window.cells for cell in cells.values())
    assert window.structure is not None and len(window.structure.blocks) == len(names)
    assert np.array_equal(window.preview, window.structure.image)  # every block on: the normal render


def test_unchecking_a_block_shows_the_render_without_it(qtbot, models):
    window = open_window(qtbot, models[15])
    image = window.structure.image
    window.checkboxes[4].setChecked(False)
    probe = window.probe
    assert window.disabled_blocks == {4}
    assert np.array_equal(window.preview, probe.render(window.state.latent, VIEW, {4}))
    assert not np.array_equal(window.preview, image)
    assert "blocks off: b128" in window.info.text()
    window.checkboxes[4].setChecked(True)
    assert np.array_equal(window.preview, image)


def settle(condition, timeout: float = 60.0) -> None:
    """Deliver the jobs' queued signals until ``condition()``.  (Not qtbot.waitUntil: once an earlier
    test ran and quit QApplication.exec(), as the screenshot test does, a nested QEventLoop returns
    at once and never delivers them.)"""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the Structure window never showed its result"
        QApplication.processEvents()
        time.sleep(0.01)


def test_off_the_ui_thread_the_newest_request_wins(qtbot, models):
    window = open_window(qtbot, models[9], sync=False)
    settle(lambda: window.structure is not None and window.preview is not None)
    image = window.structure.image
    window.checkboxes[0].setChecked(False)
    window.checkboxes[2].setChecked(False)  # while the first toggle may still be computing
    settle(lambda: "blocks off: b8, b32" in window.info.text())
    window.wait_idle()  # the probe's engine is the job's until it ends
    expect = window.probe.render(window.state.latent, VIEW, {0, 2})
    assert np.array_equal(window.preview, expect) and not np.array_equal(window.preview, image)
    window.close()
    assert not window.analyses.running


def test_view_menu_opens_it_for_the_explorer_s_latent_and_view(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    action = next(a for m in win.menuBar().actions() if m.text() == "&View"
                  for a in m.menu().actions() if a.text() == "&Structure…")
    action.trigger()
    window = win.findChild(StructureWindow)
    assert window is not None and window.isVisible() and len(window.checkboxes) == 3
    assert window.structure.latent == win.state.latent
    win.state.update_latent(seed=11)  # the window follows the explorer
    assert window.structure.latent.seed == 11
    v = window.structure.view
    assert max(v.width, v.height) <= 256 and (v.center, v.zoom) == (win.state.geometry.center, win.state.geometry.zoom)
    # ... at the explorer's warp quality: a turned view is analysed as the Render tab draws it
    win.state.update_geometry(rotation=30.0)
    assert window.structure.warp_quality == win.state.render.warp_quality == "fine"
    image_fine = window.structure.image
    win.state.set_render(replace(win.state.render, warp_quality="exact"))
    assert window.structure.warp_quality == "exact"
    exact = window.probe.render(win.state.latent, window.structure.view, warp_quality="exact")
    assert np.array_equal(window.structure.image, exact) and not np.array_equal(image_fine, exact)
