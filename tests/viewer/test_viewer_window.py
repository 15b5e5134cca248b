"""The explorer's window as a whole: it fits the screen, messages stay until they stop being true,
the wheel scrolls panels, the view's keys work whatever has the focus, banners float over the view,
and start-up without a display says so in one line (pytest-qt offscreen; the offscreen screen is
800x800, and a subprocess gets a 900x600 one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, QSettings, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QScrollArea

from creps_viewer.qt.main_window import MainWindow
from creps_viewer.qt.screen_fit import fitted

from ..viewer_fixtures import make_window

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    assert win.current_full_frame() is not None
    return win


def fresh_window(qtbot, settings_file: Path) -> MainWindow:
    win = MainWindow(sync=True, settings=QSettings(str(settings_file), QSettings.IniFormat))
    qtbot.addWidget(win)
    return win


def inside(outer: QRect, inner: QRect) -> bool:
    return outer.contains(inner.topLeft()) and outer.contains(inner.bottomRight())


# ----- the screen -------------------------------------------------------------------------------
def test_fitted_shrinks_a_frame_to_the_available_area_and_moves_it_back_inside():
    available = QRect(0, 30, 900, 570)  # a 900x600 screen less a 30 px panel at the top
    assert fitted(QRect(0, 0, 1288, 836), available) == QRect(0, 30, 900, 570)
    assert fitted(QRect(2000, 1500, 400, 300), available) == QRect(500, 300, 400, 300)  # off screen: moved back
    assert fitted(QRect(-300, -50, 400, 300), available) == QRect(0, 30, 400, 300)
    assert fitted(QRect(100, 100, 400, 300), available) == QRect(100, 100, 400, 300)  # inside: kept


def test_a_first_start_and_a_restored_oversized_window_fit_the_screen(qtbot, tmp_path):
    settings = tmp_path / "settings.ini"
    win = fresh_window(qtbot, settings)
    win.show()
    qtbot.waitExposed(win)
    available = win.screen().availableGeometry()
    assert inside(available, win.frameGeometry()) and win.width() > available.width() * 0.8
    win.resize(1700, 1300)  # as saved on a larger screen, and left where this screen is not
    win.move(2500, 1900)
    win.close()
    again = fresh_window(qtbot, settings)
    again.show()
    qtbot.waitExposed(again)
    assert inside(available, again.frameGeometry())
    status = again.statusBar()
    assert inside(available, QRect(status.mapToGlobal(QPoint(0, 0)), status.size()))


def test_at_900x600_the_dock_and_status_bar_lie_inside_the_screen_fresh_and_restored(tmp_path):
    """A subprocess with a 900x600 offscreen screen: a fresh profile, then one that saved 1280x800."""
    (tmp_path / "screen.json").write_text(json.dumps({"screens": [{"name": "s", "x": 0, "y": 0,
                                                                  "width": 900, "height": 600}]}))
    script = tmp_path / "probe.py"
    script.write_text(textwrap.dedent(f"""
        import json
        from PySide6.QtCore import QPoint, QSettings
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from creps_viewer.qt.main_window import MainWindow
        out = []
        for run in range(2):
            win = MainWindow(sync=True, settings=QSettings({str(tmp_path / "s.ini")!r}, QSettings.IniFormat))
            win.show()
            for _ in range(20):
                app.processEvents()
            def rect(w):
                p = w.mapToGlobal(QPoint(0, 0))
                return [p.x(), p.y(), w.width(), w.height(), w.isVisible()]
            f = win.frameGeometry()
            out.append(dict(frame=[f.x(), f.y(), f.width(), f.height()], dock=rect(win.dock),
                            status=rect(win.statusBar()), tabs=rect(win.tabs)))
            win.resize(1280, 800)  # saved bigger than this screen: the next run restores it
            win.close()
        print(json.dumps(out))
    """))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={tmp_path / 'screen.json'}",
           "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    screen = QRect(0, 0, 900, 600)
    for result in json.loads(run.stdout.strip().splitlines()[-1]):
        assert inside(screen, QRect(*result["frame"]))
        for part in ("dock", "status", "tabs"):
            x, y, w, h, visible = result[part]
            assert visible and w > 100 and h > 10 and inside(screen, QRect(x, y, w, h)), (part, result)


def test_the_structure_window_fits_the_screen_and_scrolls(window, qtbot):
    dlg = window.show_structure()
    qtbot.waitExposed(dlg)
    available = dlg.screen().availableGeometry()  # 800x800: the window's wish (820 px high) does not fit
    assert inside(available, dlg.frameGeometry())
    scroll = dlg.findChild(QScrollArea)
    assert scroll is not None and scroll.widget().isAncestorOf(dlg.preview_label)
    assert scroll.widget().isAncestorOf(dlg.checkboxes[-1])  # every block can be scrolled to
    dlg.close()


# ----- messages -----------------------------------------------------------------------------------
def test_a_missing_workspace_keeps_its_message_when_the_model_has_loaded(qtbot, tmp_path, tiny_ckpt):
    """As ``creps-explorer --workspace missing.json``: the error comes before the model has opened."""
    win = fresh_window(qtbot, tmp_path / "settings.ini")
    win.show()
    win.load_workspace(tmp_path / "missing.json")
    assert win.message.kind == "error" and "missing.json" in win.message.text()
    win.open_model(str(tiny_ckpt))
    assert win.session.loaded_model is not None and win.current_full_frame() is not None
    assert win.message.kind == "error" and "missing.json" in win.message.text()  # still there
    win.open_model(str(tmp_path / "gone.pkl"))  # a failed load says so...
    failure = win.message.text()
    assert failure.startswith("Could not open the model") and failure.endswith(".")
    win.open_model(str(tiny_ckpt))  # ...and the load that replaces it takes it back
    assert win.message.kind == ""


def test_a_banner_floats_over_the_view_without_resizing_it_or_rendering_again(window, monkeypatch):
    sent = []
    monkeypatch.setattr(window.worker, "submit", sent.append)
    size = window.viewport.size()
    window.message.show_message("Something to read " * 20, "error")
    QApplication.processEvents()
    assert window.viewport.size() == size and not sent
    bar = window.message.geometry()
    assert bar.height() > 20 and inside(window.viewport.geometry(), bar)  # over the picture, all of it shown
    window.message.dismiss()
    QApplication.processEvents()
    assert window.viewport.size() == size and not sent


def test_the_warp_quality_of_an_axis_aligned_view_renders_nothing(window, monkeypatch):
    sent = []
    monkeypatch.setattr(window.worker, "submit", sent.append)
    window.render_panel.warp_quality.setCurrentText("exact")  # no warp, no rotation: no pixel can change
    assert window.state.render.warp_quality == "exact" and not sent
    window.state.update_geometry(rotation=30.0)  # now it matters
    assert sent and sent[-1].warp_quality == "exact"


# ----- the wheel and the keys ------------------------------------------------------------------------
def wheel(widget, notches: int = -1) -> None:
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_over_an_unfocused_slider_scrolls_the_panel_and_changes_nothing(window, qtbot):
    window.resize(620, 300)  # the Latent tab scrolls
    QApplication.processEvents()
    psi = window.latent_panel.seed_box.psi
    bar = window.tabs.currentWidget().verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0
    undo_before = window.state.can_undo
    assert window.focusWidget() is not psi.slider
    for control in (psi.slider, psi.spin, window.latent_panel.interpolation.space):
        before = window.state.latent
        bar.setValue(0)
        wheel(control)
        assert window.state.latent == before and bar.value() > 0, type(control).__name__
    assert psi.value() == 1.0 and window.state.can_undo == undo_before
    psi.slider.setFocus()  # clicked or tabbed to: now the wheel is the slider's
    assert window.focusWidget() is psi.slider
    wheel(psi.slider)
    assert window.state.latent.psi != 1.0
    assert psi.slider.focusPolicy() == Qt.StrongFocus and psi.spin.focusPolicy() == Qt.StrongFocus


def test_the_view_keys_reach_the_view_after_a_panel_edit_but_not_inside_a_text_field(window, qtbot):
    window.activateWindow()
    qtbot.waitActive(window)
    psi = window.latent_panel.seed_box.psi
    slider = psi.slider
    qtbot.mouseClick(slider, Qt.LeftButton, pos=QPoint(slider.width() - 3, slider.height() // 2))
    assert window.state.latent.psi != 1.0 and window.focusWidget() is slider  # an edit: the slider has the focus
    g = window.state.geometry
    qtbot.keyClick(slider, Qt.Key_Minus)
    assert window.state.geometry.zoom == pytest.approx(g.zoom / 1.25)
    qtbot.keyClick(slider, Qt.Key_BracketRight)
    assert window.state.geometry.rotation == pytest.approx(15.0)
    centre = window.state.geometry.center
    qtbot.keyClick(slider, Qt.Key_Right)
    assert window.state.geometry.center != centre
    psi.spin.setFocus()  # a text field keeps what is typed into it
    g = window.state.geometry
    psi.spin.lineEdit().selectAll()
    qtbot.keyClicks(psi.spin, "-0.5")
    qtbot.keyClick(psi.spin, Qt.Key_Left)
    assert window.state.geometry == g and psi.spin.text().startswith("-0.5")


# ----- start-up ----------------------------------------------------------------------------------------
def test_without_a_display_the_explorer_says_so_in_one_line_and_exits_1(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path))
    run = subprocess.run([sys.executable, "-m", "creps_viewer.qt.app"], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert lines == ["creps-explorer: no display: run under xvfb-run, or use --screenshot"], run.stderr


def test_reset_settings_forgets_them_in_one_line_that_says_where(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CONFIG_HOME": str(tmp_path)}
    settings = tmp_path / "CREPS" / "CREPS Explorer.conf"
    settings.parent.mkdir()
    settings.write_text("[General]\nrecent=/models/a.pkl\n")
    run = subprocess.run([sys.executable, "-m", "creps_viewer.qt.app", "--reset-settings"], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0 and run.stdout == f"creps-explorer: forgot the saved settings in {settings}\n"
    assert "a.pkl" not in settings.read_text()
    again = subprocess.run([sys.executable, "-m", "creps_viewer.qt.app", "--reset-settings"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert again.returncode == 0 and again.stdout.startswith("creps-explorer: no saved settings")


def test_display_problems_name_the_platform_the_display_or_the_missing_libraries():
    from creps_viewer.qt import display_check as dc

    assert dc.display_problem({}) == dc.NO_DISPLAY
    assert dc.display_problem({"QT_QPA_PLATFORM": "xcb"}) == dc.NO_DISPLAY
    assert dc.display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None  # Qt needs no display then
    assert dc.display_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert "WAYLAND_DISPLAY" in dc.display_problem({"QT_QPA_PLATFORM": "wayland", "DISPLAY": ":0"})
    assert dc.platform_names({"QT_QPA_PLATFORM": "offscreen:configfile=a.json;xcb"}) == ["offscreen", "xcb"]
    ldd = ("\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibQt6Gui.so.6 => /x/libQt6Gui.so.6 (0x7f)\n\tlibxcb-keysyms.so.1 => not found\n"
           "\tlibxcb-icccm.so.4 => not found\n")
    missing = dc.not_found(ldd)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    line = dc.missing_libraries_line(missing)
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in line and "apt install libxcb-icccm4 libxcb-keysyms1" in line
    assert not dc.x_display_answers(":87")  # no X server there


# ----- help, capture, files -------------------------------------------------------------------------------
def test_the_shortcut_list_holds_every_key_of_the_window(window):
    from PySide6.QtGui import QAction, QKeySequence

    dlg = window.show_shortcuts()
    listed = dict(dlg.rows())
    keyed = [a for a in window.findChildren(QAction) if a.shortcuts() and a.menu() is None]
    assert len(keyed) > 20
    for act in keyed:
        key = act.shortcut().toString(QKeySequence.NativeText)
        assert any(key in keys.split(", ") for keys in listed.values()), act.text()
    # no key does two things (Qt fires neither of two actions that share one)
    owners: dict[str, list[str]] = {}
    for act in keyed:
        for seq in act.shortcuts():
            owners.setdefault(seq.toString(QKeySequence.PortableText), []).append(act.text())
    assert not {k: v for k, v in owners.items() if len(v) > 1}
    for what, key in (("Bookmarks ▸ Add bookmark", "Ctrl+D"), ("File ▸ Export image…", "Ctrl+E"),
                      ("View ▸ Structure…", "Ctrl+Shift+B"), ("Edit ▸ Undo", "Ctrl+Z"), ("View ▸ Zoom out", "-")):
        assert key in listed[what].split(", ")
    assert listed["Pan"] == "drag"
    about = window.show_about()
    assert about.facts["Version"] and about.facts["PyTorch"] and about.facts["Device"] == window.state.device
    assert about.facts["Settings file"] == window.prefs.settings.fileName()


def test_capture_saves_a_new_picture_of_the_window_and_never_replaces_a_file(window, tmp_path, monkeypatch):
    from PySide6.QtGui import QImage

    from creps_viewer.qt import capture

    monkeypatch.setattr(capture, "pictures_folder", lambda: tmp_path)
    monkeypatch.setattr(capture.time, "strftime", lambda fmt: "creps-explorer-20260101-120000")
    mine = tmp_path / "creps-explorer-20260101-120000.png"
    mine.write_bytes(b"the user's own file")
    first = window.capture()
    second = window.capture()
    assert mine.read_bytes() == b"the user's own file"
    assert (first.name, second.name) == ("creps-explorer-20260101-120000-2.png", "creps-explorer-20260101-120000-3.png")
    img = QImage(str(first))
    assert (img.width(), img.height()) == (window.width(), window.height())
    assert str(second) in window.statusBar().currentMessage()


def test_load_directions_starts_in_the_last_folder_used_and_bookmarks_name_the_ws_file(window, qtbot, tmp_path,
                                                                                      monkeypatch):
    import numpy as np

    from creps_core.latent.files import save_ws
    from creps_viewer.qt.panels import file_boxes

    summary = window.state.model_summary
    folder = tmp_path / "projected"
    folder.mkdir()
    ws = save_ws(folder / "portrait.npz", np.full((summary.num_ws, summary.w_dim), 0.1, np.float32))
    assert window.latent_panel.ws_file.import_ws(ws)
    mark = window.state.add_bookmark()
    assert mark.name.startswith("portrait.npz · zoom 1")
    starts = []
    monkeypatch.setattr(file_boxes.QFileDialog, "getOpenFileName", lambda parent, title, start, filter_: (
        starts.append(start), ("", ""))[1])
    window.latent_panel.file_directions._choose()
    assert starts == [str(folder)]
    window.close()  # remembered for the next run
    again = MainWindow(sync=True, settings=window.prefs.settings)
    qtbot.addWidget(again)
    again.latent_panel.file_directions._choose()
    assert starts[-1] == str(folder)
