"""Precision `auto` in the explorer (issue 20, item 9): the default everywhere; workspaces and images
record what was asked (auto) and what ran; opening one never silently switches the window to a
slower precision; the export dialog keeps its own choice (pytest-qt, offscreen)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from creps_core.jobs.metadata import RenderRecord, read_record, write_png
from creps_core.vocabulary import PRECISION_CHOICES
from creps_viewer.model.records import RenderSettings
from creps_viewer.model.workspace import load_workspace

from ..viewer_fixtures import make_window


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    assert win.current_full_frame() is not None
    return win


def test_auto_is_the_default_and_the_frame_says_what_ran(window):
    panel = window.render_panel
    assert [panel.precision.itemText(i) for i in range(panel.precision.count())] == list(PRECISION_CHOICES)
    assert RenderSettings().precision == "auto" and window.state.render.precision == "auto"
    assert panel.precision.currentText() == "auto"
    frame = window.current_full_frame()
    ran = window.worker.engine.precision
    assert frame.request.precision == "auto" and frame.precision == ran and ran != "auto"
    assert window.state.precision_ran == ran and f"auto → {ran}" in panel.last_frame.text()
    panel.precision.setCurrentText("fp32")
    assert window.current_full_frame().precision == "fp32" and window.state.precision_ran == "fp32"


def test_an_image_records_what_was_asked_and_what_ran(window, tmp_path):
    window.save_image(tmp_path / "a.png")
    record = read_record(tmp_path / "a.png")
    assert record.precision_asked == "auto" and record.precision == window.worker.engine.precision


def _image(window, tmp_path, name: str, asked: str | None, ran: str):
    frame = window.current_full_frame()
    m = window.session.loaded_model
    record = RenderRecord(str(m.path), m.sha256, frame.request.latent.with_(seed=7), frame.request.view,
                          precision=ran, precision_asked=asked)
    return write_png(tmp_path / name, frame.rgb, record)


def test_opening_an_image_asks_what_it_asked_never_what_auto_chose_elsewhere(window, tmp_path):
    window.open_image(_image(window, tmp_path, "auto_fp32.png", "auto", "fp32"))  # auto chose fp32 over there
    assert window.state.latent.seed == 7 and window.state.render.precision == "auto"
    window.open_image(_image(window, tmp_path, "bf16.png", "bf16", "bf16"))  # asked for by name: honoured
    assert window.state.render.precision == "bf16"
    window.render_panel.precision.setCurrentText("auto")
    window.message.dismiss()
    other = "bf16" if window.state.precision_ran == "fp32" else "fp32"  # not what auto runs here
    window.open_image(_image(window, tmp_path, "old.png", None, other))  # made before auto was recorded
    assert window.state.render.precision == "auto"
    assert window.message.kind == "info" and f"old.png was rendered in {other}" in window.message.text()


def test_a_workspace_records_auto_and_what_ran_and_old_ones_do_not_slow_the_window(window, tmp_path):
    path = tmp_path / "w.creps.json"
    window.save_workspace(path)
    saved = json.loads(path.read_text())
    assert saved["render"]["precision"] == "auto" and saved["precision_ran"] == window.worker.engine.precision
    assert load_workspace(path).precision_ran == window.worker.engine.precision

    explicit = json.loads(path.read_text())
    explicit["render"]["precision"] = "fp32"  # fp32 chosen by name in a workspace that records what ran
    (tmp_path / "fp32.creps.json").write_text(json.dumps(explicit))
    window.load_workspace(tmp_path / "fp32.creps.json")
    assert window.state.render.precision == "fp32"

    window.state.set_render(replace(window.state.render, precision="auto"))
    window.state.precision_ran = "bf16"  # as where auto chose bf16: an old fp32 workspace would be slower
    old = dict(explicit)
    del old["precision_ran"]  # written when fp32 was everyone's default
    (tmp_path / "old.creps.json").write_text(json.dumps(old))
    window.load_workspace(tmp_path / "old.creps.json")
    assert window.state.render.precision == "auto" and "rendered in fp32" in window.message.text()
    bad = dict(explicit, precision_ran="fp64")
    (tmp_path / "bad.creps.json").write_text(json.dumps(bad))
    window.load_workspace(tmp_path / "bad.creps.json")
    assert window.message.kind == "error" and "precision_ran" in window.message.text()


def test_the_export_dialog_remembers_its_own_precision(window):
    window.render_panel.precision.setCurrentText("fp32")  # the view's choice is not the export's
    dlg = window.file_menu.export_image_dialog()
    assert dlg.precision.currentText() == "auto"
    assert [dlg.precision.itemText(i) for i in range(dlg.precision.count())] == list(PRECISION_CHOICES)
    dlg.precision.setCurrentText("bf16")
    dlg.close()
    window.render_panel.precision.setCurrentText("auto")
    again = window.file_menu.export_image_dialog()
    assert again.precision.currentText() == "bf16"
    again.close()
