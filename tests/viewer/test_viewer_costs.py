"""Costs said before they are paid (issue 20, item 10): the Render tab says what a frame of this view
costs with the line table and with exact warps, and asks before an expensive one; the export dialog
says how long an export takes and offers the line table before exact warps that would take long
(pytest-qt, offscreen)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from creps_core.jobs.metadata import read_record
from creps_core.progress import format_duration

from ..viewer_fixtures import make_window


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    assert win.current_full_frame() is not None and win.state.speed is not None
    return win


def test_the_render_tab_says_what_exact_warps_cost_and_asks_first(window):
    panel, s = window.render_panel, window.state
    assert "change nothing on a straight view" in panel.cost.text()
    s.update_geometry(rotation=30.0)
    table, exact = panel.costs()
    assert exact > table
    assert f"about {format_duration(table)} with the line table, {format_duration(exact)} exact" in panel.cost.text()

    s.speed = exact * s.speed / 1000  # as on a machine where an exact frame takes 1000 s
    asked = []
    panel.confirm_expensive = lambda t, e: asked.append((t, e)) or False  # the user keeps the line table
    frame = window.current_full_frame()
    panel.exact.setChecked(True)
    assert asked and asked[0][1] == pytest.approx(1000.0)
    assert not panel.exact.isChecked() and not s.render.exact
    assert window.current_full_frame() is frame  # nothing was started
    panel.confirm_expensive = lambda t, e: True
    panel.exact.setChecked(True)
    assert s.render.exact


def test_the_export_dialog_says_the_time_and_offers_the_line_table(window, tmp_path):
    s = window.state
    s.update_geometry(rotation=30.0)
    dlg = window.file_menu.export_image_dialog()
    dlg.path_edit.setText(str(tmp_path / "e.png"))
    dlg.set_size(64, 48)
    assert "here" in dlg.validation.text() and "without exact warps" not in dlg.validation.text()
    dlg.exact.setChecked(True)
    assert "without exact warps: about" in dlg.validation.text()
    seconds, cheaper = dlg.costs(dlg.spec())
    assert seconds > cheaper
    s.speed = seconds * s.speed / 3600  # an hour with exact warps
    asked = []
    dlg.confirm_cost = lambda exact, table: asked.append((exact, table))  # Cancel: nothing starts
    dlg.start()
    assert asked and asked[0][0] == pytest.approx(3600.0) and dlg.job is None
    dlg.confirm_cost = lambda exact, table: "table"  # the cheaper choice
    dlg.start()
    job = dlg.job
    assert job is not None and not dlg.exact.isChecked()
    assert job.wait(60), "the export did not finish"
    for _ in range(3):
        QApplication.processEvents()
    assert read_record(tmp_path / "e.png").exact is False
