"""ExplorerState: the single model every panel reads and writes.

It holds everything the window shows: the open model's summary and the device it runs
on, the latent, the geometry, the viewport's size, render settings, bookmarks and the
Video tab's keyframes, with the undo history; it builds the render request and the
workspace from them and announces changes through Qt signals.  It owns no widgets and
does no rendering, so it is tested without a window, and everything it hands out is
immutable.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from creps_core.jobs.video import Keyframe, VideoSpec, video_macs
from creps_core.latent.latents import Floats, LatentSpec
from creps_core.render.features import FeatureView
from creps_core.render.views import View
from creps_viewer.model.records import Bookmark, Geometry, ModelSummary, RenderSettings, unique_name
from creps_viewer.render.frame_plan import RenderRequest

if TYPE_CHECKING:
    from creps_viewer.model.workspace import Workspace

UNDO_LIMIT = 200


class ExplorerState(QObject):
    """Observable state with undo/redo of (latent, geometry).

    Setters take an optional ``merge`` key: consecutive changes with the same key
    (a slider being dragged, a mouse drag) collapse into one undo step until
    :meth:`close_merge` is called (on release), like QUndoCommand.mergeWith.
    """

    latentChanged = Signal(object)
    geometryChanged = Signal(object)
    renderChanged = Signal(object)
    modelChanged = Signal(object)
    bookmarksChanged = Signal()
    keyframesChanged = Signal()
    viewportChanged = Signal(object)  # (width, height)
    featureChanged = Signal(object)  # FeatureView or None (the image)
    historyChanged = Signal()
    speedChanged = Signal()  # this machine's measured speed (what estimates divide by)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.latent = LatentSpec()
        self.geometry = Geometry()
        self.render = RenderSettings()
        self.model_summary: ModelSummary | None = None
        self.device: str | None = None  # where the open model's engine runs ("cpu", "cuda:0")
        self.speed: float | None = None  # multiply-accumulates per second on the explorer's sharp frames
        self.viewport_size: tuple[int, int] = (640, 480)
        self.feature: FeatureView | None = None  # a block's features shown instead of the image (View ▸ Layer)
        self.precision_ran: str | None = None  # what the last refined frame computed in (``auto`` resolved)
        self.bookmarks: list[Bookmark] = []
        self.keyframes: tuple[Keyframe, ...] = ()
        self.replaced_keyframes: tuple[Keyframe, ...] | None = None  # what the last replace_keyframes replaced
        self.fit_notes: list[str] = []  # how the last restored or carried-over latent was fitted to the model
        self.ws_names: dict[Floats, str] = {}  # the file each imported ws came from (what bookmarks are named)
        self._undo: list[tuple[LatentSpec, Geometry]] = []
        self._redo: list[tuple[LatentSpec, Geometry]] = []
        self._merge_key: str | None = None

    # ----- setters ------------------------------------------------------------------
    def set_latent(self, spec: LatentSpec, merge: str | None = None) -> None:
        if spec == self.latent:
            return
        self._record(merge)
        self.latent = spec
        self.latentChanged.emit(spec)

    def set_geometry(self, geometry: Geometry, merge: str | None = None) -> None:
        if geometry == self.geometry:
            return
        self._record(merge)
        self.geometry = geometry
        self.geometryChanged.emit(geometry)

    def update_latent(self, merge: str | None = None, **changes) -> None:
        self.set_latent(self.latent.with_(**changes), merge)

    def update_geometry(self, merge: str | None = None, **changes) -> None:
        self.set_geometry(self.geometry.with_(**changes), merge)

    def set_render(self, settings: RenderSettings) -> None:
        if settings != self.render:
            self.render = settings
            self.renderChanged.emit(settings)

    def update_render(self, **changes) -> None:
        self.set_render(replace(self.render, **changes))

    def fit(self, spec: LatentSpec) -> tuple[LatentSpec, list[str]]:
        """``spec`` adapted to the open model (class, mixing layers, cutoff) and what was changed,
        in words for the user ([] when it fits as it is)."""
        model = self.model_summary
        if model is None:
            return spec, []
        notes = []
        class_idx = None if model.c_dim == 0 else min(spec.class_idx or 0, model.c_dim - 1)
        if spec.class_idx is not None and class_idx != spec.class_idx:
            notes.append(f"class {spec.class_idx} -> {'none' if class_idx is None else class_idx}")
        layers = tuple(i for i in spec.mix_layers if i < model.num_ws)
        if layers != spec.mix_layers:
            dropped = sorted(set(spec.mix_layers) - set(layers))
            notes.append(f"mixing layers {', '.join(map(str, dropped))} dropped (this model has {model.num_ws})")
        cutoff = None if spec.cutoff is None else min(spec.cutoff, model.num_ws)
        if cutoff != spec.cutoff:
            notes.append(f"truncation cutoff {spec.cutoff} -> {cutoff}")
        ws = spec.ws
        if ws is not None and ws.shape != (model.num_ws, model.w_dim):
            notes.append(f"the loaded ws {list(ws.shape)} dropped (this model's is [{model.num_ws}, {model.w_dim}])")
            ws = None

        edits = tuple(e for e in spec.edits if e.misfit(model.num_ws, model.w_dim) is None)
        if edits != spec.edits:
            names = [e.name for e in spec.edits if e not in edits]
            notes.append(f"direction(s) {', '.join(names)} dropped (made for another model's W or layers)")
        return spec.with_(class_idx=class_idx, mix_layers=layers, cutoff=cutoff, ws=ws, edits=edits), notes

    def set_viewport_size(self, width: int, height: int) -> None:
        size = (max(1, int(width)), max(1, int(height)))
        if size != self.viewport_size:
            self.viewport_size = size
            self.viewportChanged.emit(size)

    def view(self, snap: bool = True) -> View:
        """The view the viewport shows now."""
        return self.geometry.view(*self.viewport_size, snap=snap)

    def request(self, interactive: bool = False) -> RenderRequest:
        """What the render worker should draw now (``interactive``: a drag or a slider is moving)."""
        r, view = self.render, self.view()
        # no pixel of an axis-aligned view changes with the warp quality: another one renders nothing anew
        return RenderRequest(self.latent, view, r.precision, view.pixel_quality(r.warp_quality), r.preview_scale,
                             interactive, self.feature)

    def set_feature(self, feature: FeatureView | None) -> None:
        """Show a block's features instead of the image (None: the image). Not an undo step: it
        changes what is drawn, not what is explored."""
        if feature is not None and self.model_summary is not None and self.model_summary.cfg is not None:
            cfg = self.model_summary.cfg
            problem = feature.misfit(cfg.composed_blocks, cfg.biline_channels)
            if problem is not None:
                raise ValueError(problem)
        if feature != self.feature:
            self.feature = feature
            self.featureChanged.emit(feature)

    def set_device(self, device: str) -> None:
        """The same model's engine moved to another device: its speed is measured anew."""
        self.device, self.speed = device, None

    def note_speed(self, macs: int, ms: float) -> None:
        """A sharp frame took ``ms`` for ``macs`` of work: how fast this machine renders (smoothed)."""
        if macs > 0 and ms > 0:
            rate = macs / (ms / 1000)
            self.speed = rate if self.speed is None else 0.7 * self.speed + 0.3 * rate
            self.speedChanged.emit()

    def seconds_for(self, macs: int) -> float | None:
        """About how long ``macs`` multiply-adds take here, at the speed measured on the explorer's
        own sharp frames; None before the first one."""
        return None if self.speed is None else macs / self.speed

    def view_seconds(self, warp_quality: str | None = None) -> float | None:
        """About how long the viewport's view takes with every line new (a new latent), its sharp
        frame at ``warp_quality`` (default: as the Render tab says); None before the first sharp frame."""
        if self.model_summary is None or self.model_summary.cfg is None:
            return None
        quality = self.render.warp_quality if warp_quality is None else warp_quality
        return self.seconds_for(self.model_summary.view_macs(self.view(), quality))

    def video_seconds(self, spec: VideoSpec) -> float | None:
        """About how long rendering the video ``spec`` takes here, each frame costed by its own view
        (rotated and warped keyframes as such); None before the first sharp frame."""
        if self.model_summary is None or self.model_summary.cfg is None:
            return None
        return self.seconds_for(video_macs(self.model_summary.cfg, spec))

    def set_model(self, model: ModelSummary, device: str | None = None) -> None:
        """A new model: latents that do not fit it (class, layers) are adapted, history restarts."""
        self.model_summary = model
        self.device = device
        self.speed = None
        if self.feature is not None and model.cfg is not None and self.feature.misfit(
                model.cfg.composed_blocks, model.cfg.biline_channels) is not None:
            self.feature = None  # that block or channel is not in this model: the image again
            self.featureChanged.emit(None)
        spec, self.fit_notes = self.fit(self.latent)
        self.latent = spec
        self._undo.clear()
        self._redo.clear()
        self._merge_key = None
        self.modelChanged.emit(model)
        self.latentChanged.emit(spec)
        self.geometryChanged.emit(self.geometry)
        self.historyChanged.emit()

    def restore(self, latent: LatentSpec, geometry: Geometry) -> None:
        """Jump to a saved latent and geometry as one undo step (bookmarks, workspaces); a latent
        made for another model is fitted to this one (``fit_notes`` says how)."""
        latent, self.fit_notes = self.fit(latent)
        self.close_merge()
        if (latent, geometry) == (self.latent, self.geometry):
            return
        self._record(None)
        self.latent, self.geometry = latent, geometry
        self.latentChanged.emit(latent)
        self.geometryChanged.emit(geometry)

    # ----- undo / redo --------------------------------------------------------------
    def _record(self, merge: str | None) -> None:
        if merge is not None and merge == self._merge_key and self._undo:
            return
        self._merge_key = merge
        self._undo.append((self.latent, self.geometry))
        del self._undo[:-UNDO_LIMIT]
        self._redo.clear()
        self.historyChanged.emit()

    def close_merge(self) -> None:
        self._merge_key = None

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> None:
        self._step(self._undo, self._redo)

    def redo(self) -> None:
        self._step(self._redo, self._undo)

    def _step(self, source: list, target: list) -> None:
        if not source:
            return
        target.append((self.latent, self.geometry))
        latent, geometry = source.pop()
        self._merge_key = None
        changed_latent, changed_geom = latent != self.latent, geometry != self.geometry
        self.latent, self.geometry = latent, geometry
        if changed_latent:
            self.latentChanged.emit(latent)
        if changed_geom:
            self.geometryChanged.emit(geometry)
        self.historyChanged.emit()

    # ----- bookmarks ------------------------------------------------------------------
    def add_bookmark(self, name: str | None = None) -> Bookmark:
        """Bookmark the current latent and geometry; names are unique (a repeat gets " (2)")."""
        g = self.geometry
        name = name or f"{self.latent_name()} · zoom {g.zoom:.3g} · ({g.center[0]:.3f}, {g.center[1]:.3f})"
        bm = Bookmark(unique_name(name, {b.name for b in self.bookmarks}), self.latent, g)
        self.bookmarks.append(bm)
        self.bookmarksChanged.emit()
        return bm

    def latent_name(self) -> str:
        """What the latent on screen is called: its seed, or the file of the ws shown instead."""
        ws = self.latent.ws
        if ws is None:
            return f"seed {self.latent.seed}"
        return self.ws_names.get(ws, "imported ws")

    def rename_bookmark(self, index: int, name: str) -> None:
        name, old = name.strip(), self.bookmarks[index]
        if name and name != old.name:
            others = {b.name for i, b in enumerate(self.bookmarks) if i != index}
            self.bookmarks[index] = replace(old, name=unique_name(name, others))
            self.bookmarksChanged.emit()

    def delete_bookmark(self, index: int) -> None:
        del self.bookmarks[index]
        self.bookmarksChanged.emit()

    def set_bookmarks(self, bookmarks: list[Bookmark]) -> None:
        self.bookmarks = list(bookmarks)
        self.bookmarksChanged.emit()

    # ----- keyframes (the Video tab) -----------------------------------------------------
    def set_keyframes(self, keyframes) -> None:
        """Edit the list (record, remove, reorder, retime)."""
        keyframes = tuple(keyframes)
        if keyframes != self.keyframes:
            self.keyframes = keyframes
            self.keyframesChanged.emit()

    def replace_keyframes(self, keyframes) -> None:
        """Replace the whole list (a preset, Clear) so that :meth:`undo_replace_keyframes` brings
        the old one back: recorded work is never lost to one click."""
        keyframes = tuple(keyframes)
        if self.keyframes and keyframes != self.keyframes:
            self.replaced_keyframes = self.keyframes
        self.set_keyframes(keyframes)

    def undo_replace_keyframes(self) -> None:
        if self.replaced_keyframes is not None:
            replaced, self.replaced_keyframes = self.replaced_keyframes, None
            self.set_keyframes(replaced)
            self.keyframesChanged.emit()  # the Undo button goes grey even when the list is the same

    # ----- workspaces ------------------------------------------------------------------
    def workspace(self) -> Workspace:
        """Everything needed to come back to this state (the model by path and sha256)."""
        from creps_viewer.model.workspace import Workspace  # workspace.py imports this module's records

        m = self.model_summary
        return Workspace(m.path if m else "", m.sha256 if m else "", self.latent, self.geometry, self.render,
                         self.viewport_size, list(self.bookmarks), list(self.keyframes), self.precision_ran)
