"""Hostile values never reach the explorer: workspace fields of every wrong type and non-finite or
huge numbers are refused (WorkspaceError, shown as a message) or give a valid state, and the
numeric controls take NaN, infinities and extremes without an exception or an invalid view.

pytest-qt fails a test on any exception raised inside Qt (slots, paint events), so "no exception
escapes" covers what the window does with a value, not only what the loader does.
"""

from __future__ import annotations

import json
import math
import random

import pytest
from PySide6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QSpinBox

from creps_core.vocabulary import PRECISION_CHOICES, WARP_QUALITIES
from creps_viewer.model.workspace import Workspace, WorkspaceError, load_workspace
from creps_viewer.qt.panels.render import PREVIEW_SCALES

from ..viewer_fixtures import make_window

HOSTILE = [math.nan, math.inf, -math.inf, 1e308, -1e308, -1, 0, 2**64, "x", None, [], {}, True, [math.nan, 1.0]]
FIELDS = [("version",), ("checkpoint",), ("checkpoint_sha256",), ("latent",), ("latent", "seed"), ("latent", "psi"),
          ("latent", "cutoff"), ("latent", "mix_seed"), ("latent", "mix_layers"), ("latent", "pca_amounts"),
          ("latent", "interp_t"), ("geometry",), ("geometry", "center"), ("geometry", "zoom"),
          ("geometry", "rotation"), ("geometry", "warp"), ("render",), ("render", "device"), ("render", "precision"),
          ("render", "preview_scale"), ("render", "warp_quality"), ("viewport_size",), ("bookmarks",), ("keyframes",)]


@pytest.fixture
def window(qtbot, tmp_path, tiny_ckpt):
    return make_window(qtbot, tmp_path, tiny_ckpt)


def _damaged(good: dict, path: tuple[str, ...], value) -> dict:
    d = json.loads(json.dumps(good))
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return d


def _assert_valid(ws: Workspace) -> None:
    """What the window would be given: every part usable as it is."""
    w, h = ws.viewport_size
    ws.geometry.view(w, h)  # a View validates centre, zoom, rotation and warp
    for b in ws.bookmarks:
        b.geometry.view(w, h)
    assert all(math.isfinite(x) for x in (ws.latent.psi, ws.latent.interp_t))
    r = ws.render
    assert r.precision in PRECISION_CHOICES and r.preview_scale in dict(PREVIEW_SCALES) \
        and r.warp_quality in WARP_QUALITIES
    assert isinstance(r.device, str) and isinstance(ws.checkpoint, str)


def test_every_workspace_field_with_any_hostile_value_is_refused_or_valid(window, tmp_path):
    good_path = tmp_path / "good.creps.json"
    window.save_workspace(good_path)
    good = json.loads(good_path.read_text())
    good["bookmarks"] = [{"name": "b", "latent": good["latent"], "geometry": good["geometry"]}]
    refused = 0
    bad = tmp_path / "bad.creps.json"
    for path in FIELDS + [("bookmarks", 0, "geometry", "zoom"), ("bookmarks", 0, "name")]:
        for value in HOSTILE:
            bad.write_text(json.dumps(_damaged(good, path, value)))
            try:
                ws = load_workspace(bad)
            except WorkspaceError as e:
                assert str(bad) in str(e) and "\n" not in str(e)
                refused += 1
                continue
            _assert_valid(ws)
    assert refused > len(FIELDS) * len(HOSTILE) // 2  # most are refused; the rest loaded valid


def test_hostile_workspaces_opened_in_the_window_change_nothing_or_stay_valid(window, tmp_path):
    good_path = tmp_path / "good.creps.json"
    window.save_workspace(good_path)
    good = json.loads(good_path.read_text())
    rng = random.Random(10)
    bad = tmp_path / "bad.creps.json"
    for _ in range(25):
        path, value = rng.choice(FIELDS), rng.choice(HOSTILE)
        bad.write_text(json.dumps(_damaged(good, path, value)))
        before = (window.state.latent, window.state.geometry)
        try:
            expected = load_workspace(bad)
        except WorkspaceError:
            expected = None
        window.load_workspace(bad)
        if expected is None:  # refused: shown as a message, the state untouched
            assert window.message.kind == "error" and bad.name in window.message.text()
            assert (window.state.latent, window.state.geometry) == before, (path, value)
        else:
            assert (window.state.latent, window.state.geometry) == (expected.latent, expected.geometry), (path, value)
        window.state.geometry.view(window.viewport.width(), window.viewport.height())
        window.grab()  # paints the viewport with whatever the state now is


def test_numeric_controls_take_nan_infinities_and_extremes(window):
    spins = [s for s in window.findChildren(QAbstractSpinBox) if isinstance(s, (QSpinBox, QDoubleSpinBox))]
    assert len(spins) >= 5
    for spin in spins:
        values = ([math.nan, math.inf, -math.inf, 1e308, -1e308, -0.0] if isinstance(spin, QDoubleSpinBox)
                  else [-2**31, 2**31 - 1, -1, 0])
        for value in values:
            spin.setValue(value)
            value_now = spin.value()
            assert isinstance(spin, QSpinBox) or not math.isnan(value_now), spin.objectName()
            g = window.state.geometry
            g.view(window.viewport.width(), window.viewport.height())
            assert math.isfinite(window.state.latent.psi)
            window.grab()
