"""GUI tests of File ▸ Project image… (pytest-qt, offscreen, a tiny model): progress and the fit are shown,
Stop keeps the best ws so far, the fitted ws become the current latent and are saved in workspaces.

The projection runs in its real background thread; as in test_viewer_export, tests join the job's thread
and then deliver its queued signals, never asserting how long anything took."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from creps_core.latent.latents import LatentSpec
from creps_core.render.engine import Engine, to_uint8
from creps_core.render.views import View

from ..viewer_fixtures import make_window


def deliver() -> None:
    for _ in range(5):
        QApplication.processEvents()


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    assert win.current_full_frame() is not None
    win.state.update_latent(seed=3, psi=0.7)
    return win


@pytest.fixture
def picture(window, tmp_path):
    """A render of the tiny model's seed 9 at 16x16: a picture the model can reach."""
    rgb = to_uint8(Engine(window.session.loaded_model, precision="fp32", workers=1).render(LatentSpec(seed=9),
                                                                                          View(16, 16)))
    path = tmp_path / "seed9.png"
    Image.fromarray(rgb).save(path)
    return path, rgb


def _dialog(window, path, steps: int):
    action = next(a for a in window.file_menu.actions() if a.text() == "&Project image…")
    assert action.isEnabled()
    dlg = window.file_menu.project_image_dialog()
    dlg.path_edit.setText(str(path))
    dlg.steps.setValue(steps)
    dlg.size.setValue(16)
    return dlg


def test_project_image_shows_progress_and_makes_the_fit_the_current_latent(window, picture, tmp_path, qtbot):
    path, rgb = picture
    dlg = _dialog(window, path, 40)
    seen = []
    job = dlg.start()
    assert job is not None and not dlg.start_button.isEnabled() and dlg.stop_button.isEnabled()
    job.progress.connect(lambda step: seen.append(step))
    assert dlg.target_view.pixmap() is not None and not dlg.target_view.pixmap().isNull()
    assert job.wait(300), "the projection did not end"
    deliver()
    assert seen and seen[-1].done == 40
    assert dlg.fit_view.pixmap() is not None and not dlg.fit_view.pixmap().isNull()
    assert "The fitted ws are the current latent" in dlg.progress.eta.text()
    spec = window.state.latent
    assert spec.ws is not None and spec.psi == 1.0  # the truncation of the seed before is not applied to the fit
    assert np.array_equal(spec.ws.array(), job.projection.best_ws)
    qtbot.waitUntil(lambda: window.current_full_frame() is not None
                    and window.current_full_frame().request.latent == spec, timeout=60_000)
    # the window shows the fitted picture: its 16x16 render is the fit's, close to the target
    fit = to_uint8(Engine(window.session.loaded_model, precision="fp32", workers=1).render(spec, View(16, 16)))
    mse = np.mean((fit.astype(float) - rgb) ** 2)
    assert 10 * np.log10(255 ** 2 / max(mse, 1e-9)) >= job.projection.best_psnr - 0.5
    # saved in a workspace, by value: it opens again with the same ws
    saved = tmp_path / "projected.creps.json"
    window.save_workspace(saved)
    other = make_window(qtbot, tmp_path / "other", window.session.loaded_model.path) \
        if (tmp_path / "other").mkdir() is None else None
    other.load_workspace(saved)
    qtbot.waitUntil(lambda: other.state.latent == spec, timeout=60_000)
    dlg.close()


def test_stop_keeps_the_best_ws_so_far(window, picture):
    path, _ = picture
    dlg = _dialog(window, path, 100_000)
    job = dlg.start()
    deadline = time.monotonic() + 120
    while (job.projection is None or job.projection.step_idx < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.projection is not None and job.projection.step_idx >= 3
    dlg.stop_button.click()
    assert "stopping" in dlg.progress.eta.text()
    assert job.wait(120), "Stop did not stop the projection"
    deliver()
    assert job.projection.step_idx < 100_000
    assert "Stopped after" in dlg.progress.eta.text() and dlg.start_button.isEnabled()
    ws = window.state.latent.ws
    assert ws is not None and np.array_equal(ws.array(), job.projection.best_ws)
    dlg.close()


def test_closing_the_dialog_stops_the_projection_and_keeps_its_best(window, picture):
    path, _ = picture
    dlg = _dialog(window, path, 100_000)
    job = dlg.start()
    deadline = time.monotonic() + 120
    while (job.projection is None or job.projection.step_idx < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    dlg.close()
    deliver()
    assert not job.running
    assert window.state.latent.ws is not None and np.array_equal(window.state.latent.ws.array(),
                                                                 job.projection.best_ws)


def test_a_picture_it_cannot_read_is_said_in_the_dialog(window, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"<b>not</b> a picture")
    before = window.state.latent
    dlg = _dialog(window, bad, 10)
    assert dlg.start() is None and dlg.job is None
    assert "not a picture this tool can read" in dlg.message.text()
    assert dlg.start_button.isEnabled() and window.state.latent == before
    dlg.path_edit.setText("")
    assert dlg.start() is None and "Choose a picture" in dlg.message.text()
    dlg.close()




def test_a_result_for_a_model_no_longer_open_is_not_applied(window, picture):
    path, _ = picture
    dlg = _dialog(window, path, 5)
    before = window.state.latent
    job = dlg.start()
    assert job.wait(300)
    window.jobs.loaded_model = replace(window.jobs.loaded_model)  # another model opened meanwhile
    deliver()
    assert "Another model is open now" in dlg.progress.eta.text()
    assert window.state.latent == before
    dlg.close()
