"""The Latent tab's files, without Qt: a directions file read for the open model, the rendered ws
written as a projector's .npz, and a ws read from one to render instead of the seed.

Each call returns the line to show the user, or raises ValueError with the line that says what
is wrong (the core's readers check headers and shapes before reading any data), so the widgets
only show text and the rules are tested without a window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from creps_core.latent.files import Directions, load_directions, load_ws, save_ws
from creps_core.latent.latents import LatentSpec
from creps_viewer.model.records import ModelSummary

if TYPE_CHECKING:  # the state is a Qt object; this module stays importable without Qt
    from creps_viewer.model.state import ExplorerState

# What an imported ws is rendered with: nothing on top of it (the ws hold every edit already).
IMPORTED_WS_PLAIN = {"psi": 1.0, "cutoff": None, "mix_seed": None, "mix_layers": (), "interp_seed": None,
                     "interp_t": 0.0, "pca_amounts": (), "edits": ()}

WsOf = Callable[[LatentSpec], np.ndarray]  # the ws [num_ws, w_dim] the engine renders for a spec


class LatentFiles:
    """``ws_of`` (the render engine's ws of a spec) is needed to export the current ws only.
    ``folder`` is the last folder a file was read from or written to: where the next dialog starts."""

    def __init__(self, state: ExplorerState, ws_of: WsOf | None = None, folder: str = "") -> None:
        self.state, self.ws_of, self.folder = state, ws_of, folder

    def _used(self, path: str | Path) -> None:
        self.folder = str(Path(path).resolve().parent)

    def _model(self) -> ModelSummary:
        if self.state.model_summary is None:
            raise ValueError("Open a model first.")
        return self.state.model_summary

    def read_directions(self, path: str | Path) -> Directions:
        """A directions file's directions, checked against the open model's ws."""
        model = self._model()
        directions = load_directions(path, model.num_ws, model.w_dim)
        self._used(path)
        return directions

    def export_ws(self, path: str | Path) -> str:
        """Write the current latent's ws (what is rendered) as a projector's .npz."""
        if self.ws_of is None:
            raise ValueError("Exporting a ws needs the render engine.")
        try:
            save_ws(path, self.ws_of(self.state.latent))
        except (OSError, ValueError) as e:
            raise ValueError(f"Could not write {path}: {e}") from None
        self._used(path)
        return f"Wrote {Path(path).name}."

    def import_ws(self, path: str | Path) -> str:
        """Render the ws of a file instead of the seed, exactly as they were exported.

        Exported ws already hold the truncation, mixing, interpolation, PCA amounts and file
        directions they were rendered with; applying the current ones again on top would show
        another picture. So they are cleared in the same undo step (one Undo brings them back),
        and the line returned says which."""
        model = self._model()
        ws = load_ws(path, model.num_ws, model.w_dim)
        spec = self.state.latent
        cleared = [name for name, edited in (
            ("ψ", spec.psi != 1 or spec.cutoff is not None),
            ("mixing", spec.mix_seed is not None or bool(spec.mix_layers)),
            ("A↔B", spec.interp_seed is not None or spec.interp_t != 0),
            ("PCA directions", bool(spec.pca_amounts)),
            ("file directions", bool(spec.edits))) if edited]
        self._used(path)
        self.state.ws_names[ws] = Path(path).name  # bookmarks of it are named after the file
        self.state.close_merge()
        self.state.set_latent(spec.with_(ws=ws, **IMPORTED_WS_PLAIN))
        if not cleared:
            return f"Rendering the ws of {Path(path).name}."
        return (f"Rendering the ws of {Path(path).name} as exported: {', '.join(cleared)} cleared "
                "(the ws already hold them; Edit ▸ Undo brings them back).")
