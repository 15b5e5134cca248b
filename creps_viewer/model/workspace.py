"""Workspace files: everything needed to reproduce the view, as JSON.

A workspace names the checkpoint (path and sha256, so a moved or changed file is
noticed), the latent spec, the geometry, the viewport size, the render settings
and the bookmarks.  Writes are atomic; a bad file raises :class:`WorkspaceError`
with a message that says what is wrong.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from creps_core.io.safe_files import atomic_write
from creps_core.io.untrusted import read_json
from creps_core.jobs.video import Keyframe
from creps_core.latent.latents import LatentSpec
from creps_core.vocabulary import PRECISIONS
from creps_viewer.model.records import Bookmark, Geometry, RenderSettings

FORMAT = "creps-explorer-workspace"
VERSION = 1
SUFFIX = ".creps.json"


MAX_VIEWPORT_SIDE = 16384  # no screen is larger; a file asking for more is wrong
MAX_WORKSPACE_BYTES = 16 << 20


def _viewport_size(value: object) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"viewport_size must be two whole numbers, got {str(value)[:60]}")
    w, h = value
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (w, h)):
        raise ValueError(f"viewport_size must be two whole numbers, got {str(value)[:60]}")
    if not (16 <= w <= MAX_VIEWPORT_SIDE and 16 <= h <= MAX_VIEWPORT_SIDE):
        raise ValueError(f"viewport size {w}x{h} is outside 16..{MAX_VIEWPORT_SIDE} pixels a side")
    return w, h


def _object(d: dict, name: str) -> dict:
    """``d[name]`` (or {}) when it is an object: a list where an object belongs is refused by name."""
    value = d.get(name, {})
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object, got {type(value).__name__}")
    return value


def _objects(d: dict, name: str) -> list[dict]:
    """``d[name]`` (or []) when it is a list of objects."""
    value = d.get(name, [])
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a list, got {type(value).__name__}")
    if not all(isinstance(item, dict) for item in value):
        raise ValueError(f"every entry of {name} must be an object")
    return value


class WorkspaceError(Exception):
    """A workspace file could not be read; the message names the file and the problem."""


@dataclass
class Workspace:
    checkpoint: str  # path, or "" for the built-in default model
    checkpoint_sha256: str
    latent: LatentSpec
    geometry: Geometry
    render: RenderSettings
    viewport_size: tuple[int, int]  # (width, height) in pixels
    bookmarks: list[Bookmark] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)  # the Video tab's keyframe list
    # What the render settings' precision gave when the workspace was saved (``auto`` resolved on that
    # machine): said, never applied. None in workspaces written before ``auto`` was the default.
    precision_ran: str | None = None

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "checkpoint": self.checkpoint,
                "checkpoint_sha256": self.checkpoint_sha256, "latent": self.latent.to_dict(),
                "geometry": self.geometry.to_dict(), "render": self.render.to_dict(),
                "viewport_size": list(self.viewport_size), "bookmarks": [b.to_dict() for b in self.bookmarks],
                "keyframes": [k.to_dict() for k in self.keyframes], "precision_ran": self.precision_ran}

    @classmethod
    def from_dict(cls, d: dict) -> Workspace:
        for name in ("checkpoint", "checkpoint_sha256"):
            if not isinstance(d.get(name, ""), str):
                raise ValueError(f"{name} must be text, got {type(d[name]).__name__}")
        ran = d.get("precision_ran")
        if ran is not None and ran not in PRECISIONS:
            raise ValueError(f"precision_ran must be one of {', '.join(PRECISIONS)}, got {str(ran)[:40]!r}")
        return cls(checkpoint=d.get("checkpoint", ""), checkpoint_sha256=d.get("checkpoint_sha256", ""),
                   latent=LatentSpec.from_dict(_object(d, "latent")),
                   geometry=Geometry.from_dict(_object(d, "geometry")),
                   render=RenderSettings.from_dict(_object(d, "render")),
                   viewport_size=_viewport_size(d.get("viewport_size", (512, 512))),
                   bookmarks=[Bookmark.from_dict(b) for b in _objects(d, "bookmarks")],
                   keyframes=[Keyframe.from_dict(k) for k in _objects(d, "keyframes")], precision_ran=ran)


def save_workspace(path: str | os.PathLike, ws: Workspace) -> Path:
    return atomic_write(path, json.dumps(ws.to_dict(), indent=2, sort_keys=True).encode())


def load_workspace(path: str | os.PathLike) -> Workspace:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_WORKSPACE_BYTES:
            raise WorkspaceError(f"{path}: too large to be a CREPS Explorer workspace")
        d = read_json(path, MAX_WORKSPACE_BYTES)
    except OSError as e:
        raise WorkspaceError(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:  # says the file and what is wrong (invalid JSON, too deep, a number out of range)
        raise WorkspaceError(str(e)) from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise WorkspaceError(f"{path}: not a CREPS Explorer workspace")
    version = d.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise WorkspaceError(f"{path}: invalid workspace (version must be a whole number, got {str(version)[:40]})")
    if version > VERSION:
        raise WorkspaceError(f"{path}: made by a newer CREPS Explorer (version {version})")
    try:
        return Workspace.from_dict(d)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        raise WorkspaceError(f"{path}: invalid workspace ({type(e).__name__}: {e})") from None
