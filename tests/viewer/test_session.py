"""The model session on its own, without a window: what a load's outcome means, what waits for a
model or a frame, and what the user is told (a recording view stands in for the window)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from creps_core.jobs.metadata import read_record
from creps_core.latent.latents import LatentSpec
from creps_core.model.demo import model_label, random_model
from creps_viewer.model.records import Geometry
from creps_viewer.model.session import ModelSession
from creps_viewer.model.state import ExplorerState
from creps_viewer.model.workspace import save_workspace
from creps_viewer.render.frame_plan import FULL, Frame

from ..core_fixtures import TINY


class View:
    """The window, as the session sees it: it records what it is told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, object]] = []
        self.notes: list[str] = []
        self.waits: list[str] = []
        self.models: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self.located: list[object] = []
        self.retracted: list[str | None] = []

    def tell(self, text, kind="error", action=None):
        self.told.append((text, kind, action))

    def retract(self, text):
        self.retracted.append(text)

    def notify(self, text):
        self.notes.append(text)

    def waiting(self, text):
        self.waits.append(text)

    def new_model(self, model, summary):
        self.models.append(summary.label)

    def resize_viewport(self, width, height):
        self.sizes.append((width, height))

    def locate_model(self, ws, path):
        self.located.append(ws)


@pytest.fixture
def session(qapp):
    loads: list[tuple[object, str]] = []
    s = ModelSession(ExplorerState(), lambda source, device: loads.append((source, device)), View())
    s.loads = loads
    return s


def frame_of(session: ModelSession) -> Frame:
    """A refined frame of the newest request (what the worker would send)."""
    req = session.last_request
    image = torch.zeros(3, req.view.height, req.view.width)
    return Frame(req, req.view, FULL, image, np.zeros((req.view.height, req.view.width, 3), np.uint8), 5.0,
                 req.view.width * req.view.height, req.view.width * req.view.height, macs=1000)


def test_a_bad_model_with_nothing_open_shows_the_demo_and_says_why_over_it(session):
    session.open_model("/models/broken.pkl")
    assert session.loads == [("/models/broken.pkl", "auto")]
    session.model_failed("broken.pkl: not a checkpoint.")
    assert session.loads[-1] == ("demo", "auto")
    note = session.view.told[-1]
    assert note[1] == "error" and "broken.pkl" in note[0] and "demo" in note[0]
    session.model_loaded(random_model(TINY), "cpu")
    assert [t[0] for t in session.view.told].count(note[0]) == 2  # said again over the demo
    assert session.state.model_summary is not None and session.state.device == "cpu"
    session.model_failed("another failure")  # something open now: it stays, no second fallback
    assert session.loads[-1] == ("demo", "auto") and "Still showing" in session.view.told[-1][0]
    session.model_loaded(random_model(TINY, seed=1), "cpu")  # a model the user opened later
    assert [t[0] for t in session.view.told].count(note[0]) == 2  # the old fallback note is not repeated


def test_the_same_model_on_another_device_keeps_the_latent_and_history(session):
    model = random_model(TINY)
    assert session.model_loaded(model, "cpu")
    session.state.update_latent(seed=4)
    assert not session.model_loaded(model, "cpu")  # a device switch: no new model
    assert session.state.can_undo and session.state.latent.seed == 4 and len(session.view.models) == 1


def test_a_save_waits_for_the_refined_frame_of_the_newest_request(session, tmp_path):
    session.model_loaded(random_model(TINY), "cpu")
    assert session.next_request(interactive=False) is not None
    assert session.next_request(interactive=False) is None  # nothing new: nothing sent
    out = tmp_path / "later.png"
    session.save_image(out)
    assert not out.exists() and "later.png" in session.view.waits[-1]
    assert session.frame_arrived(frame_of(session))
    assert out.exists() and read_record(out).latent == session.state.latent
    assert session.view.notes == [f"Saved {out}"] and session.current_full_frame() is not None


def test_a_workspace_waits_for_its_model_and_one_whose_model_is_missing_offers_to_locate_it(session, tmp_path):
    session.model_loaded(random_model(TINY), "cpu")
    session.state.set_latent(LatentSpec(seed=9))
    session.state.set_geometry(Geometry(zoom=2.0))
    ws = session.state.workspace()
    path = tmp_path / "elsewhere.creps.json"
    save_workspace(path, replace(ws, checkpoint="random:5"))
    session.state.set_latent(LatentSpec(seed=1))
    session.load_workspace(path)
    assert session.loads[-1] == ("random:5", "auto") and session.pending_workspace is not None
    assert session.state.latent.seed == 1  # not yet: its model is opening
    session.model_loaded(random_model(TINY, seed=5), "cpu")
    assert session.state.latent.seed == 9 and session.state.geometry.zoom == 2.0
    missing = tmp_path / "missing.creps.json"
    save_workspace(missing, replace(ws, checkpoint=str(tmp_path / "gone.pkl")))
    session.state.set_latent(LatentSpec(seed=2))
    session.load_workspace(missing)
    text, kind, action = session.view.told[-1]
    assert kind == "error" and "missing" in text and session.state.latent.seed == 9  # applied to this model
    action[1]()
    assert session.view.located and session.view.located[-1].checkpoint.endswith("gone.pkl")


def test_a_finished_load_takes_back_only_the_failure_it_replaces(session, tmp_path):
    session.model_loaded(random_model(TINY), "cpu")
    session.load_workspace(tmp_path / "missing.json")  # an error of its own: a load does not answer it
    workspace_error = session.view.told[-1][0]
    assert "missing.json" in workspace_error
    session.model_failed("gone.pkl: no such file")
    failure = session.view.told[-1][0]
    shown = model_label(session.loaded_model)
    assert failure == f"Could not open the model: gone.pkl: no such file. Still showing {shown}."
    session.model_loaded(random_model(TINY, seed=1), "cpu")
    assert session.view.retracted == [failure]  # the workspace's message is not taken back


def test_messages_quoting_a_failure_end_with_a_full_stop(session):
    session.model_failed("no such file: a.pkl")
    assert session.view.told[-1][0] == "Could not open the model: no such file: a.pkl. Showing the demo model instead."
