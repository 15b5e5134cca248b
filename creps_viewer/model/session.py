"""The open model's life cycle, without Qt: which model is open, what happens when a load
succeeds or fails, what waits for a model or a frame, and the explorer's documents (workspaces,
images with provenance).

Models open in the render worker's thread (so a slow or broken checkpoint never freezes the
window); the session only asks for a load and answers the worker's outcome:

- a load that fails leaves the previous model in place; when nothing was open yet (a bad model
  on the command line) the demo model opens instead and the message says why, over the demo;
- a workspace or image naming another model waits (``pending_workspace``) until that model has
  opened; one whose model is missing is shown on the current model, with a way to locate it;
- a save asked for before the refined frame has arrived waits for it (``pending_save``).

Everything the user must be told, and the few things only the window can do, go through a
:class:`SessionView`, so these rules are one place and are tested without widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from creps_core.jobs.metadata import RenderRecord, read_record, write_png
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.demo import is_model_name, is_random, model_label
from creps_core.render.hardware import device_or_none, pick_device, precision_warning
from creps_viewer.model.records import Bookmark, Geometry, ModelSummary, RenderSettings
from creps_viewer.model.workspace import Workspace, WorkspaceError, load_workspace, save_workspace
from creps_viewer.render.frame_plan import Frame, RenderRequest

if TYPE_CHECKING:  # the state is a Qt object; this module stays importable without Qt
    from creps_viewer.model.state import ExplorerState

ModelSource = str | Path | LoadedModel  # a path, a --network name ("demo", "random:3") or a loaded model
Action = tuple[str, Callable[[], None]]  # a button a message offers: its label, what it does


def sentence(text: str) -> str:
    """``text`` ending with a full stop (a message quoted inside another one)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


class SessionView(Protocol):
    """What the session asks of the window."""

    def tell(self, text: str, kind: str = "error", action: Action | None = None) -> None:
        """Show a message ("error" stays until dismissed, "info" goes by itself)."""

    def notify(self, text: str) -> None:
        """A passing line in the status bar (what was saved)."""

    def waiting(self, text: str) -> None:
        """Say what the window is waiting for (a save until its frame is refined)."""

    def retract(self, text: str) -> None:
        """Take back a message that is no longer true, if it still shows (others stay)."""

    def new_model(self, model: LoadedModel, summary: ModelSummary) -> None:
        """Another model opened: forget the old picture, name the new one."""

    def resize_viewport(self, width: int, height: int) -> None:
        """Give the viewport this size (a workspace's), as far as the screen allows."""

    def locate_model(self, ws: Workspace, path: str | Path) -> None:
        """Ask the user where the missing model of ``ws`` (read from ``path``) went."""


class ModelSession:
    """The open model (``loaded_model``, weights and all; ``state.model_summary`` is what the panels
    see of it), the newest render request and its refined frame, and what waits for either.

    ``load(source, device)`` opens a model in the background; the window calls
    :meth:`model_loaded` or :meth:`model_failed` with the outcome."""

    def __init__(self, state: ExplorerState, load: Callable[[ModelSource, str], None], view: SessionView) -> None:
        self.state, self._load, self.view = state, load, view
        self.loaded_model: LoadedModel | None = None
        self.fallback_note: str | None = None  # why the demo model is shown instead of the one asked for
        self.pending_workspace: Workspace | None = None  # applied once its model has opened
        self.pending_save: Path | None = None  # written once the newest request's refined frame arrives
        self.last_request: RenderRequest | None = None  # the newest request sent to the worker
        self.last_full: Frame | None = None  # the newest refined frame (of any request)
        self.load_error: str | None = None  # the message of the last failed load: a finished load replaces it

    # ----- models -----------------------------------------------------------------------------
    def open_model(self, source: ModelSource) -> None:
        """Open a checkpoint path, a model name or a loaded model; on failure the current model stays."""
        self._load(source, self.state.render.device)

    def model_loaded(self, model: LoadedModel, device: str) -> bool:
        """The worker opened ``model`` on ``device``. False when it is the open model moved to
        another device: the latent, view and history stay, and the caller renders again."""
        self.last_full, self.last_request = None, None
        if model is self.loaded_model:
            self.state.set_device(device)
            return False
        self.loaded_model = model
        summary = ModelSummary.of(model)
        self.view.new_model(model, summary)
        if self.load_error is not None:  # a model is open now; every other message stays
            self.view.retract(self.load_error)
            self.load_error = None
        note, self.fallback_note = self.fallback_note, None
        if note is not None:  # the demo shown instead: say why over it, once (a later model is no fallback)
            self.view.tell(note, "error")
        if is_random(model):
            self.view.tell(f"Showing a model with {model_label(model)}: the pictures are noise-like. "
                           "Open a checkpoint with File ▸ Open or drop one on the window.", "info")
        pending, self.pending_workspace = self.pending_workspace, None
        self.state.set_model(summary, device)  # emits latent/geometry changes -> the first render
        self.tell_fit()
        if pending is not None:
            self.apply_workspace(pending)
        return True

    def model_failed(self, message: str) -> None:
        """A load failed: the previous model (and its device) stays; with none, the demo opens."""
        self.pending_workspace = None
        if self.state.device is not None and device_or_none(self.state.render.device) != self.state.device:
            self.state.update_render(device=self.state.device)  # the engine stayed where it was
        if self.loaded_model is None and self.fallback_note is None:
            # Nothing to show yet (a bad model on the command line): the demo, not a dead window.
            self.fallback_note = f"Could not open the model: {sentence(message)} Showing the demo model instead."
            self.view.tell(self.fallback_note, "error")
            self.open_model("demo")
            return
        keep = f" Still showing {model_label(self.loaded_model)}." if self.loaded_model is not None else ""
        self.load_error = f"Could not open the model: {sentence(message)}{keep}"
        self.view.tell(self.load_error, "error")

    def render_settings_changed(self, settings: RenderSettings) -> None:
        """Another device reopens the model there (the next request is sent then even when it
        equals the last one: the engine changed); a precision that is slow here is explained.
        A setting that changes no pixel (the warp quality of an axis-aligned view) leaves the request
        as it was, so nothing is rendered again."""
        wanted = device_or_none(settings.device)
        if self.loaded_model is not None and wanted != self.state.device:
            self.open_model(self.loaded_model)  # a new engine on the new device, same model
            self.last_request = None
        warning = precision_warning(settings.precision, pick_device(wanted)) if wanted else None
        if warning:
            self.view.tell(f"{settings.precision}: {warning}.", "info")

    # ----- frames -------------------------------------------------------------------------------
    def next_request(self, interactive: bool) -> RenderRequest | None:
        """What the worker should render now, or None (no model, an invalid view, nothing new)."""
        if self.state.model_summary is None:
            return None
        try:
            req = self.state.request(interactive=interactive)
        except ValueError as e:  # e.g. an invalid view typed into a panel
            self.view.tell(f"Cannot render this view: {e}", "error")
            return None
        if req == self.last_request:
            return None
        self.last_request = req
        return req

    def is_newest(self, frame: Frame) -> bool:
        return frame.request == self.last_request

    def frame_arrived(self, frame: Frame) -> bool:
        """A preview or refined frame is on screen; True when it is the refined frame of the newest
        request (a waiting save is written then)."""
        if not frame.is_final:
            return False
        self.state.note_speed(frame.macs, frame.ms)
        self.state.precision_ran = frame.precision
        self.last_full = frame
        if not self.is_newest(frame):
            return False
        if self.pending_save is not None:
            path, self.pending_save = self.pending_save, None
            self._write_image(path, frame)
        return True

    def current_full_frame(self) -> Frame | None:
        """The refined frame of exactly what is on screen, if it has arrived."""
        f = self.last_full
        return f if f is not None and self.is_newest(f) else None

    # ----- images -------------------------------------------------------------------------------
    def save_image(self, path: str | Path) -> None:
        """Save the current view as PNG with provenance (now, or when its refined frame arrives)."""
        frame = self.current_full_frame()
        if frame is None:
            self.pending_save = Path(path)
            self.view.waiting(f"Will save {Path(path).name} when the frame is refined…")
            return
        self._write_image(Path(path), frame)

    def _write_image(self, path: Path, frame: Frame) -> None:
        m, r = self.loaded_model, frame.request
        assert m is not None  # frames come only from an open model
        extra = None
        if r.feature is not None:  # a feature picture is not a render: its record says so (as `creps lines`)
            blocks = m.cfg.composed_blocks
            extra = {"kind": "lines", "image": r.feature.mode, "block": f"b{blocks[r.feature.block]}",
                     **({"channel": r.feature.channel} if r.feature.mode == "channel" else {})}
        record = RenderRecord(checkpoint=str(m.path), checkpoint_sha256=m.sha256, latent=r.latent, view=r.view,
                              precision=frame.precision, warp_quality=r.warp_quality, network=m.network,
                              extra=extra, precision_asked=r.precision)
        try:
            write_png(path, frame.rgb, record)
        except OSError as e:
            self.view.tell(f"Could not save {path}: {e.strerror or e}", "error")
        else:
            self.view.notify(f"Saved {path}")

    def open_image(self, path: str | Path) -> None:
        """Open a PNG/TIFF this tool made: its model, latent and view, from the provenance it carries.

        The window keeps its size and everything else (bookmarks, keyframes) stays as it is."""
        try:
            record = read_record(path)
        except (ValueError, OSError) as e:
            self.view.tell(f"Cannot open {Path(path).name}: {e}", "error")
            return
        here = self.state.workspace()
        precision = self._opened_precision(Path(path).name, record.precision_asked, record.precision)
        ws = replace(here, checkpoint=record.checkpoint, checkpoint_sha256=record.checkpoint_sha256,
                     latent=record.latent, geometry=Geometry.of(record.view),
                     render=replace(here.render, precision=precision, warp_quality=record.warp_quality),
                     precision_ran=record.precision)
        self.open_state(ws, path)

    def _opened_precision(self, name: str, asked: str | None, ran: str) -> str:
        """The precision a document opens with. What it asked for is asked again (``auto`` stays auto,
        whatever auto chose on the machine that made it); a document that only says what ran (made
        before ``auto`` was recorded, or by `creps render`) cannot tell a choice from a default, so
        the window keeps its own precision rather than silently switch to a slower one, and says so."""
        if asked is not None:
            return asked
        current = self.state.render.precision
        if ran != current and ran != self.state.precision_ran:
            self.view.tell(f"{name} was rendered in {ran}; the window stays on {current} "
                           f"(choose {ran} in the Render tab for its exact pixels).", "info")
        return current

    # ----- workspaces ---------------------------------------------------------------------------
    def save_workspace(self, path: str | Path) -> None:
        try:
            save_workspace(path, self.state.workspace())
        except OSError as e:
            self.view.tell(f"Could not save the workspace {path}: {e.strerror or e}", "error")

    def load_workspace(self, path: str | Path) -> None:
        """Open a workspace: its model (if different), then its latent, view, settings and bookmarks."""
        try:
            ws = load_workspace(path)
        except WorkspaceError as e:
            self.view.tell(str(e), "error")
            return
        self.open_state(ws, path)

    def open_state(self, ws: Workspace, path: str | Path) -> None:
        """Switch to ``ws``'s model if it is another one, then apply ``ws`` (read from ``path``)."""
        current = str(self.loaded_model.path) if self.loaded_model is not None else None
        if not ws.checkpoint or ws.checkpoint == current:
            self.apply_workspace(ws)
            return
        if Path(ws.checkpoint).exists() or is_model_name(ws.checkpoint):
            self.pending_workspace = ws
            self.open_model(ws.checkpoint)
            return
        if self.loaded_model is None:  # nothing open yet: show the view on the demo model
            self.fallback_note = f"{path}: its model {ws.checkpoint} is missing; showing the demo model."
            self.pending_workspace = ws
            self.open_model("demo")
            return
        self.apply_workspace(ws)
        self.view.tell(f"{path}: its model {ws.checkpoint} is missing; the view was applied to the current model.",
                       "error", ("Locate the model…", lambda: self.view.locate_model(ws, path)))

    def apply_workspace(self, ws: Workspace) -> None:
        m = self.loaded_model
        if m is not None and ws.checkpoint == str(m.path) and ws.checkpoint_sha256 and m.sha256 != ws.checkpoint_sha256:
            self.view.tell("The workspace was saved with a different version of this model file "
                           "(sha256 differs): the picture may not match.", "info")
        if ws.viewport_size != self.state.viewport_size:
            self.view.resize_viewport(*ws.viewport_size)
        render = ws.render
        if ws.precision_ran is None and render.precision == "fp32":  # written when fp32 was the default
            render = replace(render, precision=self._opened_precision("The workspace", None, "fp32"))
        self.state.set_render(render)
        self.state.set_bookmarks(ws.bookmarks)
        self.state.set_keyframes(ws.keyframes)
        self.state.restore(ws.latent, ws.geometry)
        self.tell_fit()

    def restore_bookmark(self, bookmark: Bookmark) -> None:
        self.state.restore(bookmark.latent, bookmark.geometry)
        self.tell_fit()

    def tell_fit(self) -> None:
        """Say how a latent made for another model was adapted to this one (if it was)."""
        if self.state.fit_notes:
            self.view.tell("Adapted to this model: " + "; ".join(self.state.fit_notes) + ".", "info")
