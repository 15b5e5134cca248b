"""Costs said before they are paid (issue 20, item 10): the Render tab says what a frame of this view
costs at each warp quality (draft and fine: line tables; exact: every pixel's own lines), and asks
before an expensive switch to exact; the export dialog says how long an export takes and offers the
default quality before an exact one that would take long (pytest-qt, offscreen)."""

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


def test_the_render_tab_says_what_each_warp_quality_costs_and_asks_before_exact(window):
    panel, s = window.render_panel, window.state
    assert "changes nothing on a straight view" in panel.cost.text()
    s.update_geometry(rotation=30.0)
    costs = panel.costs()
    assert costs["draft"] <= costs["fine"] < costs["exact"]
    assert (f"about {format_duration(costs['draft'])} draft, {format_duration(costs['fine'])} fine, "
            f"{format_duration(costs['exact'])} exact") in panel.cost.text()

    s.speed = costs["exact"] * s.speed / 1000  # as on a machine where an exact frame takes 1000 s
    asked = []
    panel.confirm_expensive = lambda t, e: asked.append((t, e)) or False  # the user keeps fine
    frame = window.current_full_frame()
    panel.warp_quality.setCurrentText("exact")
    assert asked and asked[0][1] == pytest.approx(1000.0) and asked[0][0] < asked[0][1]
    assert panel.warp_quality.currentText() == "fine" and s.render.warp_quality == "fine"
    assert window.current_full_frame() is frame  # nothing was started
    panel.warp_quality.setCurrentText("draft")  # cheaper: no question
    assert s.render.warp_quality == "draft" and len(asked) == 1
    panel.confirm_expensive = lambda t, e: True
    panel.warp_quality.setCurrentText("exact")
    assert s.render.warp_quality == "exact"


def test_the_export_dialog_says_the_time_and_offers_the_default_quality(window, tmp_path):
    s = window.state
    s.update_geometry(rotation=30.0)
    dlg = window.file_menu.export_image_dialog()
    dlg.path_edit.setText(str(tmp_path / "e.png"))
    dlg.set_size(64, 48)
    assert "here" in dlg.validation.text() and "at fine quality" not in dlg.validation.text()
    dlg.warp_quality.setCurrentText("exact")
    assert "at fine quality: about" in dlg.validation.text()
    seconds, cheaper = dlg.costs(dlg.spec())
    assert seconds > cheaper
    s.speed = seconds * s.speed / 3600  # an hour at quality exact
    asked = []
    dlg.confirm_cost = lambda exact, table: asked.append((exact, table))  # Cancel: nothing starts
    dlg.start()
    assert asked and asked[0][0] == pytest.approx(3600.0) and dlg.job is None
    dlg.confirm_cost = lambda exact, table: "table"  # the cheaper choice
    dlg.start()
    job = dlg.job
    assert job is not None and dlg.warp_quality.currentText() == "fine"
    assert job.wait(60), "the export did not finish"
    for _ in range(3):
        QApplication.processEvents()
    assert read_record(tmp_path / "e.png").warp_quality == "fine"
