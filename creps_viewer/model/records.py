"""The explorer's records: immutable values the state holds and files store (no Qt).

Geometry, render settings, the model's summary and bookmarks are plain frozen dataclasses that
check themselves when built, so a value read from a workspace, a bookmark store or an image's
provenance that the window could not show is refused before it reaches it. They import no Qt,
so gesture maths and tests use them without a display.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

from creps_core.latent.latents import LatentSpec
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.demo import model_label
from creps_core.model.network import CREPSConfig
from creps_core.render.costs import frame_macs, view_macs
from creps_core.render.views import View, Warp
from creps_core.vocabulary import DEFAULT_WARP_QUALITY, PRECISION_CHOICES, WARP_QUALITIES, read_warp_quality


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

    def with_(self, **changes) -> Geometry:
        return replace(self, **changes)

    @classmethod
    def of(cls, view: View) -> Geometry:
        """The geometry a view looks through (its size aside)."""
        return cls(center=view.center, zoom=view.zoom, rotation=view.rotation, warp=view.warp)

    def to_dict(self) -> dict:
        return {"center": list(self.center), "zoom": self.zoom, "rotation": self.rotation,
                "warp": self.warp.to_dict() if self.warp else None}

    @classmethod
    def from_dict(cls, d: dict) -> Geometry:
        """A geometry from a file: numbers must be numbers (a string such as "1.5" is refused)."""
        center = d.get("center", (0.5, 0.5))
        if not isinstance(center, (list, tuple)) or len(center) != 2:
            raise ValueError(f"geometry centre must be two numbers, got {str(center)[:40]}")
        return cls(center=(_number(center[0], "centre"), _number(center[1], "centre")),
                   zoom=_number(d.get("zoom", 1.0), "zoom"), rotation=_number(d.get("rotation", 0.0), "rotation"),
                   warp=Warp.from_dict(d.get("warp")))


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"geometry {name} must be a number, got {str(value)[:40]!r}")
    return float(value)


PREVIEW_SCALES = ((1, "off (full resolution only)"), (2, "1/2 size"), (4, "1/4 size"), (8, "1/8 size"))
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d{1,3})?"


@dataclass(frozen=True)
class RenderSettings:
    """How frames are made: device, precision, preview downscale factor, the sharp frames' warp
    quality (previews and drags are drawn at draft whatever it says).

    ``precision`` is what the user asked for: ``auto`` (the default) is what this machine does
    fastest while keeping the pixels (the engine measures it), so the same workspace is fast on
    every machine; what actually ran is recorded beside it (``Workspace.precision_ran``)."""

    device: str = "auto"
    precision: str = "auto"
    preview_scale: int = 4  # the coarse preview is 1/preview_scale of the viewport per side (1 = off)
    warp_quality: str = DEFAULT_WARP_QUALITY

    def __post_init__(self) -> None:
        """Only what the Render tab could have set: settings read from a file that the panel could
        not show are refused here, before they reach the window."""
        if not isinstance(self.device, str) or not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ValueError(f"render device must be auto, cpu, cuda, cuda:N or mps, got {str(self.device)[:40]!r}")
        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"render precision must be one of {', '.join(PRECISION_CHOICES)}, "
                             f"got {str(self.precision)[:40]!r}")
        scales = [scale for scale, _ in PREVIEW_SCALES]
        if isinstance(self.preview_scale, bool) or self.preview_scale not in scales:
            raise ValueError(f"render preview_scale must be one of {scales}, got {str(self.preview_scale)[:40]}")
        if self.warp_quality not in WARP_QUALITIES:
            raise ValueError(f"render warp_quality must be one of {', '.join(WARP_QUALITIES)}, "
                             f"got {str(self.warp_quality)[:40]!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RenderSettings:
        known = set(cls.__dataclass_fields__)
        # older workspaces say exact: true/false (read_warp_quality turns it into a quality)
        return cls(**{k: v for k, v in d.items() if k in known - {"warp_quality"}},
                   warp_quality=read_warp_quality(d))


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
    cfg: CREPSConfig | None = field(default=None, compare=False)  # the architecture, for costs
    info: dict = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, model: LoadedModel) -> ModelSummary:
        c = model.cfg
        return cls(label=model_label(model), path=str(model.path), sha256=model.sha256, num_ws=c.num_ws,
                   w_dim=c.w_dim, c_dim=c.c_dim, resolution=c.img_resolution, parameters=model.num_params,
                   cfg=c, info=model.info())

    def frame_macs(self, width: int, height: int) -> int:
        """The work of one straight frame with every line new (a video frame, a new latent)."""
        assert self.cfg is not None, "a summary made without the model's config has no costs"
        return frame_macs(self.cfg, width, height)

    def view_macs(self, view: View, warp_quality: str = DEFAULT_WARP_QUALITY) -> int:
        """The work of a render of ``view`` at ``warp_quality`` with every line new, rotated or warped
        views counted as such."""
        assert self.cfg is not None, "a summary made without the model's config has no costs"
        return view_macs(self.cfg, view, warp_quality)


@dataclass(frozen=True)
class Bookmark:
    name: str
    latent: LatentSpec
    geometry: Geometry

    def to_dict(self) -> dict:
        return {"name": self.name, "latent": self.latent.to_dict(), "geometry": self.geometry.to_dict()}

    @classmethod
    def from_dict(cls, d: object) -> Bookmark:
        """A bookmark from a workspace or the settings; a missing or mistyped field is a ValueError naming it."""
        if not isinstance(d, dict):
            raise ValueError(f"a bookmark must be an object, got {type(d).__name__}")
        for name, kind in (("name", str), ("latent", dict), ("geometry", dict)):
            if not isinstance(d.get(name), kind):
                raise ValueError(f"bookmark {name} must be {'text' if kind is str else 'an object'}")
        return cls(d["name"], LatentSpec.from_dict(d["latent"]), Geometry.from_dict(d["geometry"]))


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``… whichever is not taken yet."""
    n, unique = 2, name
    while unique in taken:
        unique, n = f"{name} ({n})", n + 1
    return unique
