"""GUI tests of File ▸ Export image… and the Video tab (pytest-qt, offscreen, a tiny model).

Exports and videos run in their real background threads; tests wait until the jobs
have stopped and assert what ends up in the files, never how long it took.  They
join the job's thread and then deliver its queued signals, rather than block in
``qtbot.waitSignal``: after test_viewer's in-process ``creps-explorer --screenshot``
run has returned from ``app.exec()``, a nested Qt event loop no longer lets other
Python threads take the GIL (PySide6), so a worker would starve until the wait ends.
"""

from __future__ import annotations

import time

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from creps_core.jobs.metadata import read_record
from creps_core.render.engine import Engine, to_uint8

from ..viewer_fixtures import make_window


def finish(job) -> None:
    """Wait for a background job's thread, then deliver the signals it queued."""
    assert job is not None and job.wait(60), "the job did not stop"
    for _ in range(3):
        QApplication.processEvents()


def finish_restarted(owner) -> None:
    """Wait for the job ``owner`` started again once the user agreed: the signals delivered by the
    last :func:`finish` may already have ended a small one (then ``owner.job`` is None)."""
    if owner.job is not None:
        finish(owner.job)


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    assert win.current_full_frame() is not None
    win.state.update_geometry(center=(0.4, 0.55), zoom=1.7, rotation=12.0)
    win.latent_panel.seed_box.seed.setValue(3)
    return win


def test_export_dialog_prefills_and_validates(window, tmp_path):
    dlg = window.file_menu.export_image_dialog()
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
    dlg = window.file_menu.export_image_dialog()
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
    engine = Engine(window.session.loaded_model, precision="auto")  # the dialog's default
    want = to_uint8(engine.render(window.state.latent, window.state.geometry.view(64, 48)))
    assert got.shape == (48, 64, 3)
    np.testing.assert_array_equal(got, want)
    assert read_record(out).precision == engine.precision  # what ran, never "auto"
    assert "Exported" in dlg.status.text() and dlg.export_button.isEnabled()


def test_cancel_export_leaves_no_file(window, qtbot, tmp_path):
    dlg = window.file_menu.export_image_dialog()
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


def test_record_two_keyframes_and_render_mp4(window, tmp_path):
    panel = window.video_panel
    window.tabs.setCurrentIndex(window.tabs.count() - 1)
    panel.record()
    window.state.update_geometry(zoom=3.0, rotation=40.0)
    window.latent_panel.seed_box.seed.setValue(7)
    panel.record()
    assert [k.latent.seed for k in panel.keyframes] == [3, 7]
    assert panel.keyframes[1].view.zoom == 3.0 and panel.list.count() == 2
    panel.width_spin.setValue(32)
    panel.height_spin.setValue(32)
    panel.list.setCurrentRow(0)
    panel.duration.setValue(0.3)  # segment 1 -> 2: 0.3 s at 10 fps = 3 frames, the last on keyframe 2
    panel.fps.setValue(10)
    assert panel.spec().n_frames == 3 and panel.render_button.isEnabled()
    out = tmp_path / "walk.mp4"
    job = panel.render_to(out)
    assert job is not None and panel.progress_dialog is not None
    finish(job)
    assert panel.last_error == "" and panel.last_path == out and out.exists()
    frames = iio.imread(out, plugin="pyav") if _has_pyav() else np.stack(list(iio.imiter(out)))
    assert frames.shape[0] == 3 and frames.shape[1:3] == (32, 32)
    assert panel.progress_dialog is None and panel.render_button.isEnabled()


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def test_keyframe_list_edits_and_presets(window):
    panel = window.video_panel
    panel.record()
    window.state.update_geometry(zoom=2.0)
    panel.record()
    window.state.update_geometry(zoom=5.0)
    panel.record()
    panel.list.setCurrentRow(2)
    panel.move_selected(-1)
    assert [k.view.zoom for k in panel.keyframes] == [1.7, 5.0, 2.0]
    panel.remove_selected()
    assert [k.view.zoom for k in panel.keyframes] == [1.7, 2.0]
    panel.list.setCurrentRow(0)
    panel.easing.setCurrentText("linear")
    assert panel.keyframes[0].easing == "linear"
    panel.list.setCurrentRow(1)
    panel.show_selected()  # the explorer jumps to the keyframe
    assert window.state.geometry.zoom == 2.0
    panel.presets.zoom_factor.setValue(10)
    panel.presets.preset_zoom()
    assert len(panel.keyframes) == 2 and panel.keyframes[1].view.zoom == 20.0
    assert panel.keyframes[1].view.center == window.state.geometry.center
    panel.presets.preset_orbit()
    assert panel.keyframes[-1].view.rotation - panel.keyframes[0].view.rotation == 360.0
    panel.presets.preset_pan()
    assert panel.keyframes[0].view.center != panel.keyframes[1].view.center
    panel.presets.seed_from.setValue(2)
    panel.presets.seed_to.setValue(5)
    panel.presets.preset_walk()
    assert [k.latent.seed for k in panel.keyframes] == [2, 3, 4, 5] and panel.loop.isChecked()
    panel.width_spin.setValue(40)  # mp4 needs multiples of 16
    assert not panel.render_button.isEnabled() and "16" in panel.summary.text()


def test_export_disk_full_is_a_clear_message(window, tmp_path, monkeypatch):
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10))
    dlg = window.file_menu.export_image_dialog()
    out = tmp_path / "full.tif"
    dlg.path_edit.setText(str(out))
    dlg.set_size(64, 48)
    dlg.start()
    finish(dlg.job)
    assert not out.exists() and not dlg.running
    assert "failed" in dlg.status.text() and "disk space" in dlg.status.text()
    assert dlg.export_button.isEnabled()


def start_long_export(window, out):
    """Start a 640x480 export in 16-px tiles (long enough to interrupt); returns (dialog, job)."""
    dlg = window.file_menu.export_image_dialog()
    dlg.path_edit.setText(str(out))
    dlg.set_size(640, 480)
    dlg.tile.setValue(16)
    dlg.start()
    return dlg, dlg.job


def test_closing_export_dialog_asks_then_cancels_the_export(window, tmp_path, monkeypatch):
    out = tmp_path / "closed.png"
    dlg, job = start_long_export(window, out)
    monkeypatch.setattr(dlg, "confirm_stop", lambda: False)
    dlg.reject()  # Esc / Close while running, the user says No: the export goes on
    assert not job.cancel_requested and dlg.isVisible()
    monkeypatch.setattr(dlg, "confirm_stop", lambda: True)
    dlg.reject()  # ... says Yes: cancel first, then close
    assert job.cancel_requested
    finish(job)
    assert not out.exists()


def test_cancel_video_leaves_no_file(window, tmp_path):
    panel = window.video_panel
    panel.presets.preset_orbit()
    panel.width_spin.setValue(64)
    panel.height_spin.setValue(64)
    out = tmp_path / "orbit.mp4"
    job = panel.render_to(out)
    from PySide6.QtWidgets import QPushButton

    panel.progress_dialog.findChild(QPushButton).click()  # the progress dialog's Cancel button
    finish(job)
    assert not out.exists() and not list(tmp_path.glob("*.mp4"))
    assert "Cancelled" in panel.summary.text() and panel.render_button.isEnabled()


def test_closing_the_window_asks_before_stopping_a_running_export(window, tmp_path, monkeypatch):
    out = tmp_path / "quit.png"
    _, job = start_long_export(window, out)
    asked = []
    monkeypatch.setattr(window, "confirm_stop_jobs", lambda jobs: asked.append(len(jobs)) or False)
    window.close()  # the user says No: nothing stops, the window stays
    assert asked == [1] and window.isVisible() and not job.cancel_requested
    monkeypatch.setattr(window, "confirm_stop_jobs", lambda jobs: True)
    window.close()
    assert job.cancel_requested and job.wait(0)
    assert not out.exists()


def test_a_preset_or_clear_that_replaces_recorded_keyframes_can_be_undone(window):
    panel = window.video_panel
    panel.record()
    window.state.update_geometry(zoom=2.0)
    panel.record()
    recorded = list(panel.keyframes)
    assert len(recorded) == 2 and not panel.undo_button.isEnabled()
    panel.presets.preset_orbit()
    assert panel.keyframes != recorded and panel.undo_button.isEnabled()
    panel.undo_button.click()
    assert panel.keyframes == recorded and not panel.undo_button.isEnabled()
    panel.clear_button.click()
    assert panel.keyframes == [] and panel.undo_button.isEnabled()
    panel.undo_button.click()
    assert panel.keyframes == recorded


def test_the_frame_slider_shows_any_frame_of_the_video_in_the_explorer(window):
    panel = window.video_panel
    window.state.update_latent(seed=3)
    panel.record()
    window.state.update_latent(seed=8)
    window.state.update_geometry(zoom=4.0, rotation=90.0)
    panel.record()
    panel.fps.setValue(10)
    n = panel.spec().n_frames
    assert panel.scrub.isEnabled() and panel.scrub.maximum() == n - 1
    panel.scrub.setValue(n - 1)  # the last frame: the second keyframe
    assert window.state.latent.seed == 8 and window.state.geometry.rotation == pytest.approx(90.0)
    panel.scrub.setValue(0)  # the first frame: the first keyframe
    assert window.state.latent.seed == 3
    assert window.state.geometry.zoom == pytest.approx(panel.keyframes[0].view.zoom)
    panel.scrub.setValue(n // 2)  # half way: a seed blend, a zoom between the two
    lat, g = window.state.latent, window.state.geometry
    assert lat.interp_seed == 8 and 0 < lat.interp_t < 1 and panel.keyframes[0].view.zoom < g.zoom < 4.0
    assert window.current_full_frame().request.latent == lat


@pytest.mark.parametrize("agree", [False, True])
def test_an_export_over_a_file_the_tool_did_not_write_asks_first(window, tmp_path, agree):
    """The user's own picture under the export's name is kept unless they agree to replace it."""
    out = tmp_path / "mine.png"
    Image.fromarray(np.full((8, 8, 3), 7, np.uint8)).save(out)
    before = out.read_bytes()
    dlg = window.file_menu.export_image_dialog()
    dlg.path_edit.setText(str(out))
    dlg.set_size(32, 32)
    asked = []
    dlg.confirm_kept = lambda what, remedy: asked.append((what, remedy)) or agree
    dlg.start()
    finish(dlg.job)
    assert asked and asked[0][1] == "force" and str(out) in asked[0][0] and "--force" not in dlg.status.text()
    if agree:
        finish_restarted(dlg)  # started again with force
        assert np.asarray(Image.open(out)).shape == (32, 32, 3)
    else:
        assert out.read_bytes() == before and "kept" in dlg.status.text()


def test_a_video_over_another_videos_unfinished_work_asks_before_discarding_it(window, tmp_path):
    panel = window.video_panel
    panel.record()
    window.state.update_geometry(zoom=3.0)
    panel.record()
    panel.width_spin.setValue(32)
    panel.height_spin.setValue(32)
    panel.duration.setValue(0.2)
    panel.fps.setValue(10)
    out = tmp_path / "walk.mp4"
    work = tmp_path / ".walk.mp4.partial"
    work.mkdir()
    (work / "manifest.json").write_text('{"job": "another video"}')
    answers = []
    panel.confirm_kept = lambda what, remedy: answers.append(remedy) or len(answers) > 1
    finish(panel.render_to(out))
    assert answers == ["fresh"] and (work / "manifest.json").read_text() == '{"job": "another video"}'
    assert not out.exists() and "--fresh" not in panel.summary.text()
    finish(panel.render_to(out))  # asked again; this time the user agrees: the old work goes, the video is made
    finish_restarted(panel)
    assert answers == ["fresh", "fresh"] and out.exists() and panel.last_path == out
