"""ExplorerState on its own, without a window: undo merging, fitting latents to a model,
bookmarks, keyframes, the render request and the workspace it builds."""

from __future__ import annotations

import pytest

from creps_core.jobs.video import record
from creps_core.latent.latents import LatentSpec
from creps_core.model.network import CREPSConfig
from creps_core.render.costs import line_macs_per_coordinate, pixel_macs
from creps_core.vocabulary import WARP_QUALITIES
from creps_viewer.model.records import Geometry, ModelSummary, RenderSettings
from creps_viewer.model.state import ExplorerState

CFG = CREPSConfig(z_dim=32, w_dim=32, img_resolution=32, mapping_layers=2, channel_base=512, channel_max=32,
                  biline_channels=8)


def summary(num_ws: int = 9, c_dim: int = 0, sha: str = "ab" * 32) -> ModelSummary:
    return ModelSummary(label="m", path="/models/m.pkl", sha256=sha, num_ws=num_ws, w_dim=32, c_dim=c_dim,
                        resolution=64, parameters=1000, cfg=CFG)


@pytest.fixture
def state(qapp) -> ExplorerState:
    s = ExplorerState()
    s.set_model(summary(), "cpu")
    return s


def test_a_drag_is_one_undo_step_until_released(state):
    for z in (1.1, 1.2, 1.3):
        state.update_geometry(merge="zoom", zoom=z)
    state.close_merge()
    state.update_geometry(merge="zoom", zoom=2.0)  # a new drag
    state.undo()
    assert state.geometry.zoom == 1.3
    state.undo()
    assert state.geometry.zoom == 1.0 and not state.can_undo
    state.redo()
    assert state.geometry.zoom == 1.3


def test_different_merge_keys_are_separate_steps(state):
    state.update_latent(merge="psi", psi=0.5)
    state.update_latent(merge="seed", seed=4)
    state.undo()
    assert state.latent.seed == 0 and state.latent.psi == 0.5


def test_a_latent_from_a_bigger_model_is_fitted_and_the_user_told(state):
    spec = LatentSpec(seed=3, mix_seed=9, mix_layers=(2, 12, 13), cutoff=14, class_idx=5)
    state.restore(spec, Geometry(zoom=2.0))
    assert state.latent.mix_layers == (2,) and state.latent.cutoff == 9 and state.latent.class_idx is None
    notes = " ".join(state.fit_notes)
    assert "12, 13 dropped" in notes and "this model has 9" in notes and "14 -> 9" in notes
    state.undo()  # a restore is one step
    assert state.latent == LatentSpec() and state.geometry == Geometry()


def test_a_new_model_fits_the_latent_and_restarts_history(state):
    state.update_latent(mix_seed=1, mix_layers=(1, 8))
    state.set_model(summary(num_ws=5), "cpu")
    assert state.latent.mix_layers == (1,) and not state.can_undo


def test_bookmark_names_stay_unique_through_add_and_rename(state):
    a = state.add_bookmark()
    b = state.add_bookmark()
    assert a.name != b.name and b.name == f"{a.name} (2)"
    state.add_bookmark("mine")
    state.rename_bookmark(0, "mine")
    assert [m.name for m in state.bookmarks] == ["mine (2)", b.name, "mine"]
    state.rename_bookmark(1, "   ")  # blank: unchanged
    state.delete_bookmark(0)
    assert [m.name for m in state.bookmarks] == [b.name, "mine"]


def test_replacing_keyframes_can_be_undone_once(state):
    recorded = record([], state.view(), state.latent, 2.0, "linear")
    state.set_keyframes(recorded)
    state.replace_keyframes([])
    assert state.keyframes == () and state.replaced_keyframes == tuple(recorded)
    state.undo_replace_keyframes()
    assert state.keyframes == tuple(recorded) and state.replaced_keyframes is None


def test_the_request_and_the_workspace_come_from_the_state(state):
    state.set_viewport_size(300, 200)
    state.set_render(RenderSettings(precision="bf16", preview_scale=2))
    state.update_geometry(zoom=4.0, rotation=30.0)
    req = state.request(interactive=True)
    assert (req.view.width, req.view.height, req.view.zoom, req.view.rotation) == (300, 200, 4.0, 30.0)
    assert req.view.snap and req.precision == "bf16" and req.preview_scale == 2 and req.interactive
    state.add_bookmark("b")
    state.set_keyframes(record([], state.view(), state.latent, 1.0, "linear"))
    ws = state.workspace()
    assert (ws.checkpoint, ws.viewport_size, ws.render) == ("/models/m.pkl", (300, 200), state.render)
    assert [b.name for b in ws.bookmarks] == ["b"] and len(ws.keyframes) == 1 and ws.geometry == state.geometry


def test_speed_and_the_frame_cost_it_divides(state):
    assert state.speed is None and state.view_seconds() is None and state.seconds_for(10) is None
    state.note_speed(macs=2_000_000, ms=1000.0)
    assert state.speed == pytest.approx(2e6)
    assert state.model_summary.frame_macs(30, 20) == line_macs_per_coordinate(CFG) * 50 + pixel_macs(CFG) * 600
    w, h = state.viewport_size
    assert state.view_seconds() == pytest.approx(state.model_summary.frame_macs(w, h) / 2e6)  # a straight view
    state.set_model(summary(num_ws=5), "cpu")  # another model: its speed is measured anew
    assert state.speed is None


def test_rotated_views_at_each_warp_quality_are_estimated_as_such(state):
    """Costs said before they are paid: a rotated view's fine line tables cost more than its rows and
    columns (and than draft's coarser lattice), and quality exact (every pixel's own lines)
    far more; a straight view costs the same at every quality."""
    state.note_speed(macs=2_000_000, ms=1000.0)
    straight = {q: state.view_seconds(q) for q in WARP_QUALITIES}
    assert len(set(straight.values())) == 1
    assert state.view_seconds() == straight["fine"]  # the Render tab's quality (the default)
    state.update_geometry(rotation=30.0)
    draft, fine, exact = (state.view_seconds(q) for q in WARP_QUALITIES)
    # draft's lattice (1/341) is coarser than these 480 rows: its lines may cost less than the straight view's
    assert draft < fine and straight["fine"] < fine < exact and exact > 10 * fine


def test_the_video_estimate_counts_rotated_keyframes_as_rotated(state):
    from creps_core.jobs.video import VideoSpec
    from creps_core.jobs.video.keyframes import Keyframe

    state.note_speed(macs=2_000_000, ms=1000.0)
    view = state.view()

    def spec(rotation_b: float, warp_quality: str = "fine") -> VideoSpec:
        # 320x240 frames: at 64x48 fine's lattice (1/819 of the unit square) holds nearly as many
        # lines as the pixels' own, so exact would cost only ~2x there
        kfs = (Keyframe(view, state.latent, 1.0), Keyframe(view.with_(rotation=rotation_b), state.latent, 1.0))
        return VideoSpec(kfs, 320, 240, 10, "lerp", False, warp_quality=warp_quality)

    straight, turning = state.video_seconds(spec(0.0)), state.video_seconds(spec(90.0))
    still_turned = spec(0.0)
    still_turned = VideoSpec(tuple(Keyframe(k.view.with_(rotation=45.0), k.latent, k.duration)
                                   for k in still_turned.keyframes), 320, 240, 10, "lerp", False)
    assert straight < turning < state.video_seconds(still_turned)  # the ends of a 0-90 turn are straight
    assert state.video_seconds(spec(90.0, "exact")) > 5 * turning


def test_a_ws_or_direction_of_another_model_is_dropped_and_the_user_told(state):
    import numpy as np

    from creps_core.latent.latents import DirectionEdit, Floats

    fits = DirectionEdit("fits", 1.0, Floats.of(np.ones(32, np.float32)))
    wrong = DirectionEdit("wide", 1.0, Floats.of(np.ones(512, np.float32)))
    spec = LatentSpec(seed=1, ws=Floats.of(np.zeros((15, 512), np.float32)), edits=(fits, wrong))
    state.restore(spec, Geometry())
    assert state.latent.ws is None and state.latent.edits == (fits,)
    notes = " ".join(state.fit_notes)
    assert "ws [15, 512] dropped" in notes and "wide dropped" in notes


@pytest.mark.parametrize("bad", [{"zoom": "1.5"}, {"center": [0.5]}, {"rotation": True}, {"center": "ab"}])
def test_geometry_from_a_file_takes_numbers_only(bad):
    with pytest.raises(ValueError, match="geometry"):
        Geometry.from_dict(bad)


@pytest.mark.parametrize("bad", [{"device": "cuda; rm"}, {"precision": "fp64"}, {"preview_scale": 3},
                                 {"preview_scale": True}, {"warp_quality": "best"},
                                 {"warp_quality": True}])
def test_render_settings_only_as_the_panel_could_set_them(bad):
    with pytest.raises(ValueError, match="render"):
        RenderSettings(**bad)


@pytest.mark.parametrize("stored,quality", [({"exact": True}, "exact"), ({"exact": False}, "fine"), ({}, "fine"),
                                            ({"warp_quality": "draft"}, "draft")])
def test_older_workspaces_that_say_exact_still_read(stored, quality):
    assert RenderSettings.from_dict({"precision": "fp32"} | stored).warp_quality == quality


def test_a_direction_on_layers_this_model_lacks_is_dropped(state):
    import numpy as np

    from creps_core.latent.latents import DirectionEdit, Floats

    deep = DirectionEdit("deep", 1.0, Floats.of(np.ones(32, np.float32)), layers=(0, 17))
    state.restore(LatentSpec(seed=1, edits=(deep,)), Geometry())
    assert state.latent.edits == () and "deep dropped" in " ".join(state.fit_notes)
