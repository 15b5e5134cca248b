"""View ▸ Layer, the feature view (issue 20): the viewport shows a block's features, a channel, its
row or column lines or its spectrum instead of the image, through the normal request path, and
follows block, mode, pans and rotations (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest

from creps_core.model.network import PAPER_CONFIGS
from creps_core.render.engine import Engine
from creps_core.render.features import FeatureView, feature_picture
from creps_viewer.model.viewmath import panned, rotated_about_center

from ..core_fixtures import tiny_checkpoint
from ..viewer_fixtures import make_window


def shown(win) -> np.ndarray:
    frame = win.current_full_frame()
    assert frame is not None, "no refined frame for the current state"
    return frame.rgb.copy()


def expected(win, engine: Engine) -> np.ndarray:
    """The picture of what the window shows, computed apart from the window."""
    s = win.state
    return feature_picture(engine, s.latent, s.view(), s.feature, precision=win.worker.engine.precision)


def test_the_layer_bar_switches_the_viewport_to_a_block_s_features_and_back(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    image = shown(win)
    assert win.layer_bar.isHidden()
    win.layer_action.trigger()  # View ▸ Layer
    bar = win.layer_bar
    assert bar.isVisible() and [bar.block.itemText(i) for i in range(bar.block.count())] == \
        ["image", "b8", "b16", "b32"]
    assert not bar.mode.isEnabled()  # nothing to choose while the image is shown
    engine = Engine(win.session.loaded_model, device="cpu")

    bar.block.setCurrentIndex(2)  # b16, three principal components
    assert win.state.feature == FeatureView(1, "pcs", 0)
    pcs = shown(win)
    assert pcs.shape == image.shape and not np.array_equal(pcs, image)
    np.testing.assert_array_equal(pcs, expected(win, engine))

    bar.block.setCurrentIndex(3)  # another block, another picture
    b32 = shown(win)
    assert not np.array_equal(b32, pcs)
    seen = {"pcs": b32}
    for mode in ("channel", "rows", "cols", "spectrum"):
        bar.mode.setCurrentIndex(bar.mode.findData(mode))
        seen[mode] = shown(win)
        np.testing.assert_array_equal(seen[mode], expected(win, engine))
    assert len({p.tobytes() for p in seen.values()}) == len(seen)
    bar.mode.setCurrentIndex(bar.mode.findData("channel"))
    assert bar.channel.isEnabled()
    bar.channel.setValue(5)
    assert win.state.feature == FeatureView(2, "channel", 5) and not np.array_equal(shown(win), seen["channel"])

    win.layer_action.trigger()  # hiding the bar shows the image again
    assert win.state.feature is None
    np.testing.assert_array_equal(shown(win), image)


def test_the_feature_view_follows_pans_and_rotations(qtbot, tmp_path, tiny_ckpt):
    win = make_window(qtbot, tmp_path, tiny_ckpt)
    engine = Engine(win.session.loaded_model, device="cpu")
    win.layer_action.trigger()
    win.layer_bar.block.setCurrentIndex(1)
    win.layer_bar.mode.setCurrentIndex(win.layer_bar.mode.findData("rows"))
    before = shown(win)
    s = win.state
    w, h = s.viewport_size
    s.set_geometry(panned(s.geometry, w, h, 0, -40))  # drag up by 40 px: rows come from below
    after = shown(win)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, expected(win, engine))
    # the row lines of the rows that stayed in view keep their order (each image row one colour)
    assert (after == after[:, :1]).all()
    s.set_geometry(rotated_about_center(s.geometry, 30.0))
    turned = shown(win)
    assert not (turned == turned[:, :1]).all()  # the stripes turned with the view
    np.testing.assert_array_equal(turned, expected(win, engine))


def test_a_saved_picture_of_the_feature_view_is_marked_as_one(qtbot, tmp_path, tiny_ckpt):
    from creps_core.jobs.metadata import read_record

    win = make_window(qtbot, tmp_path, tiny_ckpt)
    win.layer_action.trigger()
    win.layer_bar.block.setCurrentIndex(2)
    win.save_image(tmp_path / "f.png")
    record = read_record(tmp_path / "f.png")
    assert record.extra == {"kind": "lines", "image": "pcs", "block": "b16"}


@pytest.fixture(scope="module")
def released_ckpt(tmp_path_factory):
    """The released 256 config (15 ws, 30.5 M parameters) with random weights, as a checkpoint file."""
    return tiny_checkpoint(tmp_path_factory.mktemp("released") / "released256.safetensors", cfg=PAPER_CONFIGS[256])


@pytest.mark.parametrize("rotation", [0.0, 30.0])
def test_the_released_256_config_shows_a_block_s_features_in_the_window(qtbot, tmp_path, released_ckpt, rotation):
    win = make_window(qtbot, tmp_path, released_ckpt)
    win.resize_viewport(120, 100)
    qtbot.waitUntil(lambda: win.current_full_frame() is not None, timeout=120_000)
    win.state.update_geometry(rotation=rotation)
    win.layer_action.trigger()
    win.layer_bar.block.setCurrentIndex(6)  # b256
    assert win.state.feature == FeatureView(5, "pcs", 0)
    picture = shown(win)
    w, h = win.state.viewport_size
    assert picture.shape == (h, w, 3) and picture.std() > 1
    win.grab().save(str(tmp_path / "window.png"))
