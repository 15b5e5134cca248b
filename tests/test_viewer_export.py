"""GUI tests of File ▸ Export image… and the Video tab (pytest-qt, offscreen, a tiny model).

Exports and videos run in their real background threads; tests wait until the jobs
have stopped and assert what ends up in the files, never how long it took.  They
join the job's thread and then deliver its queued signals, rather than block in
``qtbot.waitSignal``: after test_viewer's in-process ``creps-explorer --screenshot``
run has returned from ``app.exec()``, a nested Qt event loop no longer lets other
Python threads take the GIL (PySide6), so a worker would starve until the wait ends.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import imageio.v3 as iio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from creps_core.checkpoint import save_safetensors  # noqa: E402
from creps_core.engine import Engine, to_uint8  # noqa: E402
from creps_core.network import CREPSConfig, CREPSGenerator  # noqa: E402
from creps_viewer.main_window import MainWindow  # noqa: E402

TINY = CREPSConfig(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2, channel_base=512, channel_max=32,
                   biline_channels=8)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        g = CREPSGenerator(TINY)
    return save_safetensors(tmp_path_factory.mktemp("models") / "tiny.safetensors", TINY, g.state_dict())


def finish(job) -> None:
    """Wait for a background job's thread, then deliver the signals it queued."""
    assert job is not None and job.wait(60), "the job did not stop"
    for _ in range(3):
        QApplication.processEvents()


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    win = MainWindow(sync=True, settings=settings)
    qtbot.addWidget(win)
    win.resize(620, 400)
    win.show()
    qtbot.waitExposed(win)
    win.open_model(str(tiny_ckpt))
    assert win.current_full_frame() is not None
    win.state.update_geometry(center=(0.4, 0.55), zoom=1.7, rotation=12.0)
    win.latent_panel.seed.setValue(3)
    return win


def test_export_dialog_prefills_and_validates(window, tmp_path):
    dlg = window.export_image_dialog()
    assert (dlg.width_spin.value(), dlg.height_spin.value()) == (window.viewport.width(), window.viewport.height())
    assert dlg.geometry == window.state.geometry and dlg.latent == window.state.latent
    dlg.path_edit.setText(str(tmp_path / "a.png"))
    dlg.preset.setCurrentIndex(1)  # viewport x 2
    assert dlg.width_spin.value() == 2 * window.viewport.width()
    assert dlg.export_button.isEnabled() and dlg.validation.text().startswith("✓")
    dlg.tile.setValue(100)  # not a multiple of 16
    assert not dlg.export_button.isEnabled() and "multiple of 16" in dlg.validation.text()
    dlg.tile.setValue(512)
    dlg.pyramid.setValue(2)  # pyramids need TIFF
    assert not dlg.export_button.isEnabled() and "TIFF" in dlg.validation.text()
    dlg.path_edit.setText(str(tmp_path / "a.tif"))
    assert dlg.export_button.isEnabled()
    dlg.path_edit.setText(str(tmp_path / "a.bmp"))
    assert not dlg.export_button.isEnabled()
    dlg.path_edit.setText(str(tmp_path / "missing" / "a.png"))
    assert not dlg.export_button.isEnabled() and "does not exist" in dlg.validation.text()
    dlg.close()


def test_export_png_matches_engine_render(window, qtbot, tmp_path, tiny_ckpt):
    dlg = window.export_image_dialog()
    out = tmp_path / "view.png"
    dlg.path_edit.setText(str(out))
    dlg.set_size(64, 48)
    dlg.tile.setValue(32)  # several tiles, so the joins are checked too
    exported = []
    dlg.exported.connect(exported.append)
    dlg.start()
    assert dlg.running and not dlg.export_button.isEnabled()
    finish(dlg.job)
    assert not dlg.running
    assert exported == [out] and out.exists()
    got = np.asarray(Image.open(out).convert("RGB"))
    engine = Engine(window.model)
    want = to_uint8(engine.render(window.state.latent, window.state.geometry.view(64, 48)))
    assert got.shape == (48, 64, 3)
    np.testing.assert_array_equal(got, want)
    assert "Exported" in dlg.status.text() and dlg.export_button.isEnabled()


def test_cancel_export_leaves_no_file(window, qtbot, tmp_path):
    dlg = window.export_image_dialog()
    out = tmp_path / "big.png"
    dlg.path_edit.setText(str(out))
    dlg.set_size(640, 480)
    dlg.tile.setValue(16)  # many tiles: cancel lands between two of them
    dlg.start()
    job = dlg.job
    work = tmp_path / ".big.png.partial"
    deadline = time.monotonic() + 30
    while not list(work.glob("*.npy")) and time.monotonic() < deadline:  # some tiles are done
        time.sleep(0.01)
    dlg.cancel_button.click()
    finish(job)
    assert list(work.glob("*.npy")), "tiles are kept for a resume"
    assert not out.exists()
    assert "resume" in dlg.status.text() and "same file" in dlg.status.text()
    assert not dlg.running and dlg.export_button.isEnabled()
    dlg.close()
    assert dlg.isHidden()
