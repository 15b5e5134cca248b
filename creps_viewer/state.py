"""ExplorerState: the single model every panel reads and writes.

It holds *what* to show (model summary, latent spec, geometry, render settings,
bookmarks) and the undo history, and announces changes through Qt signals.  It
owns no widgets and does no rendering, so it can be driven from tests or scripts
and snapshotted for the render worker (everything it hands out is immutable).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from PySide6.QtCore import QObject, Signal

from creps_core.latents import LatentSpec
from creps_core.views import View, Warp

UNDO_LIMIT = 200


@dataclass(frozen=True)
class Geometry:
    """Where the viewport looks: centre (u, v), zoom, rotation (degrees) and warp.

    The pixel size is not part of it: the viewport supplies width and height when
    a :class:`View` is built, so resizing the window never creates an undo step.
    """

    center: tuple[float, float] = (0.5, 0.5)
    zoom: float = 1.0
    rotation: float = 0.0
    warp: Warp | None = None

    def __post_init__(self) -> None:
        """The same rules as a View (finite centre and rotation, positive zoom): a geometry read
        from a file that no View could take is refused here, before it reaches the window."""
        View(16, 16, center=self.center, zoom=self.zoom, rotation=self.rotation)

    def view(self, width: int, height: int, snap: bool = True) -> View:
        warp = self.warp if self.warp is not None and not self.warp.is_identity else None
        return View(max(1, width), max(1, height), center=self.center, zoom=self.zoom,
                    rotation=self.rotation, warp=warp, snap=snap)

    def with_(self, **changes) -> "Geometry":
        return replace(self, **changes)

    @classmethod
    def of(cls, view: View) -> "Geometry":
        """The geometry a view looks through (its size aside)."""
        return cls(center=view.center, zoom=view.zoom, rotation=view.rotation, warp=view.warp)

    def to_dict(self) -> dict:
        return {"center": list(self.center), "zoom": self.zoom, "rotation": self.rotation,
                "warp": self.warp.to_dict() if self.warp else None}

    @classmethod
    def from_dict(cls, d: dict) -> "Geometry":
        return cls(center=tuple(float(c) for c in d.get("center", (0.5, 0.5))), zoom=float(d.get("zoom", 1.0)),
                   rotation=float(d.get("rotation", 0.0)), warp=Warp.from_dict(d.get("warp")))


@dataclass(frozen=True)
class RenderSettings:
    """How frames are made: device, precision, preview downscale factor, exact warps."""

    device: str = "auto"
    precision: str = "fp32"
    preview_scale: int = 4  # the coarse preview is 1/preview_scale of the viewport per side (1 = off)
    exact: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RenderSettings":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class ModelSummary:
    """What the panels need to know about the open model (no weights)."""

    label: str
    path: str
    sha256: str
    num_ws: int
    w_dim: int
    c_dim: int
    resolution: int
    parameters: int
    info: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Bookmark:
    name: str
    latent: LatentSpec
    geometry: Geometry

    def to_dict(self) -> dict:
        return {"name": self.name, "latent": self.latent.to_dict(), "geometry": self.geometry.to_dict()}

    @classmethod
    def from_dict(cls, d: dict) -> "Bookmark":
        return cls(str(d["name"]), LatentSpec.from_dict(d["latent"]), Geometry.from_dict(d["geometry"]))


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
    historyChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.latent = LatentSpec()
        self.geometry = Geometry()
        self.render = RenderSettings()
        self.model: ModelSummary | None = None
        self.bookmarks: list[Bookmark] = []
        self.fit_notes: list[str] = []  # how the last restored or carried-over latent was fitted to the model
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
        model = self.model
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
        return spec.with_(class_idx=class_idx, mix_layers=layers, cutoff=cutoff), notes

    def set_model(self, model: ModelSummary) -> None:
        """A new model: latents that do not fit it (class, layers) are adapted, history restarts."""
        self.model = model
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
    def add_bookmark(self, name: str) -> Bookmark:
        bm = Bookmark(name, self.latent, self.geometry)
        self.bookmarks.append(bm)
        self.bookmarksChanged.emit()
        return bm

    def set_bookmarks(self, bookmarks: list[Bookmark]) -> None:
        self.bookmarks = list(bookmarks)
        self.bookmarksChanged.emit()
