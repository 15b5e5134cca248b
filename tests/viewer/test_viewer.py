"""GUI tests of the explorer window (pytest-qt, offscreen, a tiny random model).

Windows run with ``sync=True`` (renders happen in the calling thread) so every
assertion sees the finished frame; the responsiveness test uses the real thread.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from creps_core.jobs.metadata import read_record
from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import save_safetensors
from creps_core.model.demo import model_label
from creps_core.model.network import CREPSConfig, CREPSGenerator
from creps_core.render.views import Warp
from creps_viewer.model import viewmath
from creps_viewer.model.records import Geometry
from creps_viewer.model.workspace import load_workspace
from creps_viewer.qt.main_window import MainWindow

from ..viewer_fixtures import make_window


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    assert win.current_full_frame() is not None
    return win


def rgb(win: MainWindow) -> np.ndarray:
    frame = win.current_full_frame()
    assert frame is not None, "no refined frame for the current state"
    return frame.rgb


def test_opens_model_and_renders_at_viewport_size(window):
    frame = window.current_full_frame()
    vp = window.viewport
    assert frame.rgb.shape == (vp.height(), vp.width(), 3)
    assert vp.width() != vp.height()  # a non-square viewport is first-class
    assert frame.rgb.std() > 1  # a picture, not a blank
    assert "tiny.safetensors" in window.windowTitle()


def test_seed_changes_frame(window):
    before = rgb(window).copy()
    window.latent_panel.seed_box.seed.setValue(5)
    assert window.state.latent.seed == 5
    assert not np.array_equal(before, rgb(window))
    window.latent_panel.step_seed(-1)
    assert window.state.latent.seed == 4


def test_drag_pans_view_and_rerenders_only_exposed_pixels(window, qtbot):
    vp = window.viewport
    g0, before = window.state.geometry, rgb(window).copy()
    s = viewmath.spacing(g0, vp.width(), vp.height())
    qtbot.mousePress(vp, Qt.LeftButton, pos=QPoint(100, 100))
    for x, y in ((110, 104), (120, 108), (130, 112)):
        qtbot.mouseMove(vp, QPoint(x, y))
    qtbot.mouseRelease(vp, Qt.LeftButton, pos=QPoint(130, 112))
    g1 = window.state.geometry
    # Content follows the hand: 30 px right, 12 px down -> centre moves up/left in coordinates.
    assert vp.width() > 150 and vp.height() > 150
    assert g1.center[0] == pytest.approx(g0.center[0] - 12 * s)
    assert g1.center[1] == pytest.approx(g0.center[1] - 30 * s)
    frame = window.current_full_frame()
    assert frame.request.view.center == g1.center
    assert not np.array_equal(before, frame.rgb)
    # The overlap was reused: only the exposed strips were computed.
    assert frame.pixels_rendered < 0.2 * frame.pixels_total
    np.testing.assert_array_equal(frame.rgb[12:, 30:], before[:-12, :-30])  # new (i, j) = old (i-12, j-30)
    # One drag is one undo step.
    window.state.undo()
    assert window.state.geometry == g0


def test_right_drag_rotates_content_with_the_hand(window, qtbot):
    vp = window.viewport
    w, h = vp.width(), vp.height()
    cx, cy = (w - 1) / 2, (h - 1) / 2
    g0 = window.state.geometry
    start = QPoint(round(cx + 60), round(cy))
    grabbed = viewmath.pixel_to_coord(g0, w, h, start.x(), start.y())
    qtbot.mousePress(vp, Qt.RightButton, pos=start)
    for deg in (30, 60, 90):  # a quarter turn, clockwise on screen
        a = math.radians(deg)
        end = QPoint(round(cx + 60 * math.cos(a)), round(cy + 60 * math.sin(a)))
        qtbot.mouseMove(vp, end)
    qtbot.mouseRelease(vp, Qt.RightButton, pos=end)
    g1 = window.state.geometry
    assert g1.rotation == pytest.approx(90.0, abs=1.5)
    # The point grabbed is (about) under the cursor again.
    near = 3 * viewmath.spacing(g1, w, h)
    assert viewmath.pixel_to_coord(g1, w, h, end.x(), end.y()) == pytest.approx(grabbed, abs=near)


def test_wheel_zooms_about_cursor(window):
    vp = window.viewport
    w, h = vp.width(), vp.height()
    g0 = window.state.geometry
    x, y = 60.0, 45.0
    u0, v0 = viewmath.pixel_to_coord(g0, w, h, x, y)
    event = QWheelEvent(QPointF(x, y), vp.mapToGlobal(QPointF(x, y)), QPoint(0, 0), QPoint(0, 240),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(vp, event)
    g1 = window.state.geometry
    assert g1.zoom == pytest.approx(g0.zoom * 1.25**2)
    u1, v1 = viewmath.pixel_to_coord(g1, w, h, x, y)
    assert (u1, v1) == pytest.approx((u0, v0), abs=1e-12)
    assert window.current_full_frame().request.view.zoom == g1.zoom


def test_style_mixing_changes_pixels(window):
    plain = rgb(window).copy()
    window.latent_panel.mixing.mix_on.setChecked(True)
    spec = window.state.latent
    assert spec.mix_seed == 1 and spec.mix_layers  # defaults to the fine half
    mixed = rgb(window).copy()
    assert not np.array_equal(plain, mixed)
    window.latent_panel.mixing.layer_buttons[0].setChecked(True)  # also take the input layer from seed 1
    assert 0 in window.state.latent.mix_layers
    assert not np.array_equal(mixed, rgb(window))
    window.latent_panel.mixing.mix_reset.click()
    np.testing.assert_array_equal(plain, rgb(window))


def test_workspace_roundtrip_is_bit_exact(window, qtbot, tmp_path, tiny_ckpt):
    s = window.state
    s.set_latent(LatentSpec(seed=7, psi=0.7, mix_seed=3, mix_layers=(5, 6, 7), pca_amounts=((1, 1.5),)))
    s.set_geometry(Geometry(center=(0.3, 0.6), zoom=2.5, rotation=30.0, warp=Warp("swirl", 1.2, 0.6)))
    s.update_render(preview_scale=2)
    s.add_bookmark("here")
    window.video_panel.record()
    window.video_panel.presets.preset_orbit()
    keyframes = list(window.video_panel.keyframes)
    assert len(keyframes) >= 2
    saved = window.current_full_frame()
    path = tmp_path / "view.creps.json"
    window.save_workspace(path)

    other = make_window(qtbot, tmp_path / "other", tiny_ckpt) if (tmp_path / "other").mkdir() is None else None
    other.load_workspace(path)
    loaded = other.current_full_frame()
    assert loaded.request == saved.request
    assert torch.equal(loaded.image, saved.image)
    assert [b.name for b in other.state.bookmarks] == ["here"]
    assert other.state.render.preview_scale == 2
    assert other.video_panel.keyframes == keyframes


@pytest.mark.parametrize("damage", [
    lambda d: "{not json",
    lambda d: json.dumps(d | {"latent": d["latent"] | {"psi": float("nan")}}),
    lambda d: json.dumps(d | {"latent": d["latent"] | {"seed": "7"}}),
    lambda d: json.dumps(d | {"geometry": d["geometry"] | {"zoom": 0}}),
    lambda d: json.dumps(d | {"viewport_size": [100000, 100000]}),
    lambda d: json.dumps(d | {"geometry": d["geometry"] | {"warp": {"kind": "swirl", "strength": float("inf")}}}),
])
def test_bad_workspace_shows_error_and_changes_nothing(window, tmp_path, damage):
    good = tmp_path / "good.creps.json"
    window.save_workspace(good)
    bad = tmp_path / "bad.creps.json"
    bad.write_text(damage(json.loads(good.read_text())))
    before, size = (window.state.latent, window.state.geometry), window.size()
    window.load_workspace(bad)
    assert window.message.kind == "error" and "bad.creps.json" in window.message.text()
    assert (window.state.latent, window.state.geometry) == before and window.size() == size


def test_corrupt_checkpoint_shows_error_and_keeps_model(window, tmp_path):
    model = window.session.loaded_model
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": garbage")
    window.open_model(str(bad))
    assert window.message.kind == "error"
    assert "broken.safetensors" in window.message.text()
    assert window.session.loaded_model is model and window.worker.loaded_model is model
    before = rgb(window).copy()
    window.latent_panel.seed_box.seed.setValue(11)  # still usable
    assert not np.array_equal(before, rgb(window))


def test_undo_redo_round_trip(window):
    s = window.state
    start_latent, start_geom = s.latent, s.geometry
    start_rgb = rgb(window).copy()
    window.latent_panel.seed_box.seed.setValue(3)
    window.geometry_panel.zoom.spin.setValue(2.0)  # through the widget, like a user
    window.geometry_panel.rotation.spin.setValue(45.0)
    end_latent, end_geom, end_rgb = s.latent, s.geometry, rgb(window).copy()
    assert end_geom.zoom == 2.0 and end_geom.rotation == 45.0 and end_latent.seed == 3
    assert window.undo_action.isEnabled() and not window.redo_action.isEnabled()
    for _ in range(3):
        s.undo()
    assert (s.latent, s.geometry) == (start_latent, start_geom)
    np.testing.assert_array_equal(start_rgb, rgb(window))
    assert window.latent_panel.seed_box.seed.value() == 0 and window.geometry_panel.zoom.value() == 1.0
    for _ in range(3):
        s.redo()
    assert (s.latent, s.geometry) == (end_latent, end_geom)
    np.testing.assert_array_equal(end_rgb, rgb(window))


def test_slider_changes_merge_into_one_undo_step(window):
    s = window.state
    for psi in (0.9, 0.8, 0.7):
        window.latent_panel.seed_box.psi.spin.setValue(psi)
    s.close_merge()
    assert s.latent.psi == pytest.approx(0.7)
    s.undo()
    assert s.latent.psi == 1.0


def test_reset_buttons_track_defaults(window):
    row = window.latent_panel.seed_box.psi
    assert not row.reset.isEnabled()
    row.spin.setValue(0.5)
    assert row.reset.isEnabled()
    row.reset.click()
    assert window.state.latent.psi == 1.0 and not row.reset.isEnabled()
    pc = window.latent_panel.pca.pcs[0]
    pc.spin.setValue(2.0)
    assert window.state.latent.pca_amounts == ((0, 2.0),) and pc.reset.isEnabled()


def test_keyboard_and_double_click(window, qtbot):
    vp = window.viewport
    qtbot.keyClick(vp, Qt.Key_Right)
    assert window.state.geometry.center[1] > 0.5
    qtbot.keyClick(vp, Qt.Key_BracketRight)
    assert window.state.geometry.rotation == 15.0
    qtbot.keyClick(vp, Qt.Key_0)
    assert window.state.geometry == Geometry()
    w, h = vp.width(), vp.height()
    target = viewmath.pixel_to_coord(window.state.geometry, w, h, 20, 30)
    qtbot.mouseDClick(vp, Qt.LeftButton, pos=QPoint(20, 30))
    assert window.state.geometry.center == pytest.approx(target)


def test_save_image_with_provenance(window, tmp_path):
    window.latent_panel.seed_box.seed.setValue(9)
    out = tmp_path / "shot.png"
    window.save_image(out)
    record = read_record(out)
    assert record.latent.seed == 9
    assert record.checkpoint_sha256 == window.session.loaded_model.sha256
    assert record.view == window.current_full_frame().request.view


def test_missing_file_errors_and_random_model_is_labelled(qtbot, tmp_path):
    from creps_core.model.demo import random_model

    win = make_window(qtbot, tmp_path, tmp_path / "missing.pkl")
    assert "demo" in model_label(win.session.loaded_model)  # shown instead of a dead window, and the error says why
    assert win.message.kind == "error" and "missing.pkl" in win.message.text()
    win.open_model(random_model())
    assert "random" in win.windowTitle() and win.message.kind == "info"
    assert win.current_full_frame() is not None


def test_responsiveness_while_rendering_large_frame(qtbot, tmp_path, tiny_ckpt):
    """The UI thread's longest stall stays under 100 ms while the worker renders."""
    import gc
    import time

    from PySide6.QtCore import QTimer

    win = make_window(qtbot, tmp_path, tiny_ckpt, sync=False)
    qtbot.waitUntil(lambda: win.current_full_frame() is not None, timeout=20000)
    win.state.update_render(preview_scale=1)
    win.resize(1500, 1100)
    qtbot.wait(300)  # let the window lay out and repaint at its new size (UI work, not the worker's)
    gaps, last = [], [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    # Garbage the earlier tests left (dozens of windows, engines) would be collected in one long
    # pass in the middle of the measurement: collect it now, and keep it out of later passes.
    gc.collect()
    gc.freeze()
    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    win.state.update_latent(seed=12)
    last[0] = time.perf_counter()
    qtbot.waitUntil(lambda: win.current_full_frame() is not None, timeout=60000)
    timer.stop()
    gc.unfreeze()
    frame = win.current_full_frame()
    assert frame.pixels_total > 1_000_000 and frame.ms > 300  # it really was a large frame
    assert max(gaps) < 0.1, f"UI stalled for {max(gaps) * 1000:.0f} ms"
    win.close()


def test_screenshot_command(tmp_path, tiny_ckpt, qapp):
    from PySide6.QtGui import QImage

    from creps_viewer.qt.app import main

    QSettings.setPath(QSettings.NativeFormat, QSettings.UserScope, str(tmp_path / "config"))
    out = tmp_path / "window.png"
    assert main(["--network", str(tiny_ckpt), "--screenshot", str(out), "--seed", "2", "--size", "900x600"]) == 0
    img = QImage(str(out))
    assert (img.width(), img.height()) == (900, 600)


def test_failed_render_shows_message_and_window_recovers(window):
    window.render_panel.precision.setCurrentText("fp16")  # not usable on a CPU
    assert window.message.kind == "error" and "fp16" in window.message.text()
    window.render_panel.precision.setCurrentText("fp32")
    window.latent_panel.seed_box.seed.setValue(21)
    assert window.current_full_frame().request.latent.seed == 21
    assert window.message.kind == ""  # the failure is no longer true: its message is gone
    assert "fps" not in window.status_bar.timing_label.text()  # settled: no stale frame rate


def test_drop_conditional_model_shows_classes_and_remembers_it(window, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    cfg = CREPSConfig(z_dim=32, w_dim=32, c_dim=3, img_resolution=32, mapping_layers=2, channel_base=512,
                      channel_max=32, biline_channels=8)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        g = CREPSGenerator(cfg)
    path = save_safetensors(tmp_path / "cond.safetensors", cfg, g.state_dict())
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))
    assert window.session.loaded_model.cfg.c_dim == 3 and window.state.latent.class_idx == 0
    assert not window.latent_panel.seed_box.class_combo.isHidden()
    assert window.file_menu.recent_files()[0] == str(path)
    before = rgb(window).copy()
    window.latent_panel.seed_box.class_combo.setCurrentIndex(2)
    assert window.state.latent.class_idx == 2
    assert not np.array_equal(before, rgb(window))


def test_device_switch_keeps_history(window):
    window.latent_panel.seed_box.seed.setValue(4)
    window.render_panel.device.setCurrentText("cpu")
    assert window.state.can_undo and window.state.latent.seed == 4
    assert window.current_full_frame() is not None


def test_copy_image_and_bookmarks(window):
    window.file_menu.copy_image()
    image = QApplication.clipboard().image()
    frame = window.current_full_frame()
    assert (image.height(), image.width()) == frame.rgb.shape[:2]
    window.state.add_bookmark()
    marked = (window.state.latent, window.state.geometry)
    window.latent_panel.seed_box.seed.setValue(8)
    window.state.update_geometry(zoom=3.0)
    entry = next(a for a in window.bookmarks_menu.actions() if a.text().startswith("seed 0"))
    entry.trigger()
    assert (window.state.latent, window.state.geometry) == marked
    assert window.current_full_frame().request.latent == marked[0]


def test_slow_precision_is_explained(window):
    from creps_core.render.hardware import cpu_has_fast_bf16

    window.render_panel.precision.setCurrentText("bf16")
    assert window.state.render.precision == "bf16"
    if not cpu_has_fast_bf16():
        assert window.message.kind == "info" and "bf16" in window.message.text()
    window.render_panel.precision.setCurrentText("fp32")


@pytest.mark.parametrize("size", [(1280, 800), (900, 600)])
@pytest.mark.parametrize("resolution, num_ws", [(256, 15), (1024, 19)])
def test_latent_controls_fit_the_dock_for_released_layer_counts(qtbot, tmp_path, size, resolution, num_ws):
    """The released 256 and 1024 architectures' 15 and 19 ws: every mixing toggle and value box
    stays inside the visible dock."""
    cfg = CREPSConfig(z_dim=32, w_dim=32, img_resolution=resolution, mapping_layers=2, channel_base=512,
                      channel_max=16, biline_channels=8)
    assert cfg.num_ws == num_ws
    torch.manual_seed(0)
    ckpt = save_safetensors(tmp_path / "deep.safetensors", cfg, CREPSGenerator(cfg).state_dict())
    win = make_window(qtbot, tmp_path, ckpt)
    win.resize(*size)
    qtbot.waitUntil(lambda: len(win.latent_panel.mixing.layer_buttons) == num_ws)
    QApplication.processEvents()
    panel = win.latent_panel
    assert win.width() == size[0] and win.dock.width() <= 420  # the dock did not grow to hold the toggles
    viewport = panel.parentWidget()  # the scroll area's viewport: what the dock shows
    visible = viewport.mapTo(win, QPoint(viewport.width(), 0)).x()
    assert visible <= win.width()
    shown = [w for w in panel.findChildren(QWidget) if w.isVisibleTo(panel)]
    assert len(shown) > 40 and set(panel.mixing.layer_buttons) <= set(shown)
    toggles = panel.mixing.layer_buttons
    rects = [b.geometry().translated(b.parentWidget().mapTo(panel, QPoint(0, 0))) for b in toggles]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:]), "toggles overlap"
    for w in shown:  # every control, reset button and value box, not only the toggles
        right = w.mapTo(win, QPoint(w.width(), 0)).x()
        assert right <= visible, f"{w.objectName() or type(w).__name__} ends at {right} px, the dock shows {visible}"
    assert win.dock.toggleViewAction().isEnabled()
    win.dock.toggleViewAction().trigger()
    assert not win.dock.isVisible()


def test_a_bad_model_at_start_shows_why_over_the_demo_model(qtbot, tmp_path):
    bad = tmp_path / "broken.pkl"
    bad.write_bytes(b"not a pickle at all")
    win = make_window(qtbot, tmp_path, bad)
    qtbot.waitUntil(lambda: win.session.loaded_model is not None, timeout=30_000)
    assert "demo" in model_label(win.session.loaded_model) and win.current_full_frame() is not None
    assert win.message.kind == "error" and "broken.pkl" in win.message.text() and "demo" in win.message.text()


def test_save_dialogs_add_the_extension_and_never_default_to_the_model_folder(window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked = {}

    def answer(parent, title, start, filter_):
        asked[title] = start
        return str(tmp_path / ("ws1" if "workspace" in title else "pic")), filter_

    monkeypatch.setattr(QFileDialog, "getSaveFileName", answer)
    window.file_menu.save_workspace_dialog()
    assert (tmp_path / "ws1.creps.json").is_file()
    window.file_menu.save_image_dialog()  # the frame is refined (sync window): saved at once
    assert (tmp_path / "pic.png").is_file()
    model_dir = str(window.session.loaded_model.path.parent)
    assert not any(start.startswith(model_dir) for start in asked.values())
    window.file_menu.save_workspace_dialog()  # the next dialog starts where the user saved last
    assert asked["Save workspace"].startswith(str(tmp_path))


def test_open_image_restores_model_latent_and_view_from_its_provenance(window, qtbot, tmp_path, tiny_ckpt):
    s = window.state
    s.set_latent(LatentSpec(seed=11, psi=0.6))
    s.set_geometry(Geometry(center=(0.35, 0.6), zoom=1.8, rotation=25.0, warp=Warp("lens", 0.2)))
    saved = window.current_full_frame()
    png = tmp_path / "made.png"
    window.save_image(png)
    (tmp_path / "other").mkdir()
    other = make_window(qtbot, tmp_path / "other", tiny_ckpt)
    other.state.set_latent(LatentSpec(seed=1))
    size = other.size()
    other.open_image(png)
    assert other.state.latent == saved.request.latent and other.state.geometry == s.geometry
    assert other.size() == size  # the window keeps its size
    bad = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(bad)
    other.open_image(bad)
    assert other.message.kind == "error" and "plain.png" in other.message.text()


def test_bookmarks_persist_per_model_and_can_be_renamed_and_deleted(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    win.state.add_bookmark()
    win.state.add_bookmark()  # same place twice: the names still differ
    names = [b.name for b in win.state.bookmarks]
    assert len(set(names)) == 2
    win.state.update_geometry(zoom=3.0)
    win.state.add_bookmark()
    win.state.rename_bookmark(2, "the zoomed one")
    win.state.delete_bookmark(0)
    kept = list(win.state.bookmarks)
    assert [b.name for b in kept] == [names[1], "the zoomed one"]
    win.close()
    again = make_window(qtbot, tmp_path, tiny_ckpt)  # same settings file: a later run
    assert again.state.bookmarks == kept
    torch.manual_seed(99)
    other = save_safetensors(tmp_path / "other.safetensors", TINY_OTHER, CREPSGenerator(TINY_OTHER).state_dict())
    again.open_model(str(other))
    assert again.state.bookmarks == []  # another model, its own (empty) list


TINY_OTHER = CREPSConfig(z_dim=16, w_dim=16, img_resolution=16, mapping_layers=1, channel_base=256,
                         channel_max=16, biline_channels=8)


def test_a_latent_from_a_deeper_model_is_fitted_and_the_user_told(window, tmp_path):
    """A bookmark with mixing layers 12-13 (a 15-layer model) restored on a 9-layer model."""
    from creps_viewer.model.records import Bookmark

    num_ws = window.state.model_summary.num_ws
    deep = LatentSpec(seed=5, mix_seed=2, mix_layers=(3, num_ws + 3, num_ws + 4), cutoff=num_ws + 6)
    window.session.restore_bookmark(Bookmark("from a deeper model", deep, Geometry(zoom=1.5)))
    assert window.state.latent.mix_layers == (3,) and window.state.latent.cutoff == num_ws
    assert window.message.kind == "info" and "dropped" in window.message.text()
    png = tmp_path / "fitted.png"
    window.save_image(png)
    assert read_record(png).latent.mix_layers == (3,)  # the provenance records what was rendered


def test_zoom_can_be_typed_down_to_its_minimum(window):
    spin = window.geometry_panel.zoom.spin
    spin.setValue(1 / 16)
    assert spin.minimum() == 1 / 16 and window.state.geometry.zoom == 1 / 16


def test_a_workspace_whose_model_moved_says_so_and_offers_to_locate_it(window, qtbot, tmp_path, tiny_ckpt):
    import shutil

    moved = tmp_path / "moved.safetensors"
    shutil.copy(tiny_ckpt, moved)
    window.open_model(str(moved))
    window.state.set_latent(LatentSpec(seed=12))
    path = tmp_path / "ws.creps.json"
    window.save_workspace(path)
    elsewhere = tmp_path / "elsewhere.safetensors"
    moved.rename(elsewhere)
    window.open_model(str(tiny_ckpt))  # a later day, another model open
    window.state.set_latent(LatentSpec(seed=1))
    window.load_workspace(path)
    assert window.message.kind == "error" and "missing" in window.message.text()
    assert "sha256" not in window.message.text() and window.message.action.isVisible()
    window.locate_model(load_workspace(path), path, found=str(elsewhere))
    assert window.session.loaded_model.path == elsewhere and window.state.latent.seed == 12


def test_a_formula_warp_typed_in_the_geometry_tab(window):
    panel = window.geometry_panel
    panel.warp_kind.setCurrentIndex(panel.warp_kind.findText("Formula"))
    warp = window.state.geometry.warp
    assert warp.kind == "formula" and warp.formula == (panel.formula_row.text(), panel.formula_col.text())
    assert not panel.formula_row.isHidden() and not panel.radius.isEnabled()
    before = window.state.geometry
    panel.formula_row.setText("y + sin(")  # being typed: refused with the reason, the view stays
    panel.formula_row.editingFinished.emit()
    assert window.state.geometry == before
    assert not panel.formula_error.isHidden() and "row formula" in panel.formula_error.text()
    panel.formula_row.setText("y*(1 + 0.2*r)")
    panel.formula_row.editingFinished.emit()
    assert window.state.geometry.warp.formula[0] == "y*(1 + 0.2*r)" and panel.formula_error.isHidden()
    window.worker.wait_idle()
    assert window.current_full_frame().request.view.warp.formula[0] == "y*(1 + 0.2*r)"
    window.state.undo()  # undo brings the previous formula back into the fields
    assert panel.formula_row.text() == before.warp.formula[0]
    panel.warp_kind.setCurrentIndex(0)
    assert window.state.geometry.warp is None and panel.formula_row.isHidden()


def test_command_line_options_set_the_latent_and_view_as_creps_render_reads_them(qtbot, tmp_path):
    from creps_viewer.qt.app import _initial_state, parse_args

    win = MainWindow(sync=True, settings=QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat))
    qtbot.addWidget(win)
    args = parse_args(["--seed", "3", "--trunc", "0.7", "--center", "0.3,0.6", "--zoom", "2", "--rotate", "30",
                       "--warp", "swirl:1.2", "--precision", "fp32", "--size", "900x600"])
    _initial_state(win, args)
    s = win.state
    assert (s.latent.seed, s.latent.psi, s.render.precision) == (3, 0.7, "fp32")
    assert s.geometry == Geometry(center=(0.3, 0.6), zoom=2.0, rotation=30.0, warp=Warp("swirl", 1.2))
    before = (s.latent, s.geometry)
    _initial_state(win, parse_args([]))  # no option given: nothing changes
    assert (s.latent, s.geometry) == before
