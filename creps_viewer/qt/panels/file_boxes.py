"""The Latent tab's boxes for latents from files: "Directions from a file" (a row per direction,
its amount and its ws layers) and "ws file" (export the rendered ws, import one to render).

The files are read and written by :class:`~creps_viewer.model.latent_files.LatentFiles`; these
widgets ask for a path, show what it says, and turn rows into the latent's direction edits.
Names and errors quote what files hold, so every label is plain text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from creps_core.cli.args import UsageError, parse_layers
from creps_core.latent.files import Directions
from creps_core.latent.latents import MAX_EDITS, DirectionEdit, LatentSpec
from creps_viewer.model.latent_files import LatentFiles
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.widgets import SliderRow
from creps_viewer.qt.plain_text import plain_label, plain_tooltip

FILE_DIRECTION_ROWS = 16  # rows shown for a directions file (SeFa files have 8 by default)
AMOUNT_SPAN = {"pca": 5.0}  # slider range +-: PCA vectors are one sigma long; unit vectors (SeFa, imports) 10
UNIT_AMOUNT_SPAN = 10.0


def _note() -> QLabel:
    label = plain_label()  # file names and errors from files
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(mid);")
    return label


class DirectionRow(QWidget):
    """One direction of a file: name | amount slider | layer range (A-B, editable)."""

    def __init__(self, name: str, span: float, layers: tuple[int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name, self.default_layers = name, layers
        self.amount = SliderRow(name, -span, span, 0.0, decimals=2, label_width=52)
        self.amount.label.setToolTip(plain_tooltip(name))
        self.layers = QLineEdit(f"{layers[0]}-{layers[1]}")
        self.layers.setFixedWidth(48)
        self.layers.setToolTip("ws layers this direction acts on, A-B (inclusive)")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        lay.addWidget(self.amount, 1)
        lay.addWidget(self.layers)

    def layer_range(self, num_ws: int) -> tuple[int, int] | None:
        """The typed range, or None when it is not one this model has."""
        try:
            first, last = parse_layers(self.layers.text().strip())
        except UsageError:
            return None
        return (first, last) if last < num_ws else None


class FileDirectionsBox(QGroupBox):
    """The directions of one file (``directions``), a row each; they follow the open model (a file
    made for another model's W is dropped, the note says why)."""

    def __init__(self, state: ExplorerState, files: LatentFiles, parent: QWidget | None = None) -> None:
        super().__init__("Directions from a file", parent)
        self.state, self.files = state, files
        self.directions: Directions | None = None
        self.rows: list[DirectionRow] = []
        lay = QVBoxLayout(self)
        lay.setSpacing(2)
        row = QHBoxLayout()
        load = QPushButton("Load directions…")
        load.setToolTip("A directions .npz (creps directions: SeFa, PCA) or a GANSpace/InterfaceGAN .npy")
        load.clicked.connect(self._choose)
        self.clear_edits = QPushButton("Clear")
        self.clear_edits.setToolTip("Remove every file direction from the latent")
        self.clear_edits.clicked.connect(lambda: self.state.update_latent(edits=()))
        row.addWidget(load, 1)
        row.addWidget(self.clear_edits)
        lay.addLayout(row)
        self.note = _note()
        self.note.setText("No file loaded.")
        lay.addWidget(self.note)
        self.row_list = QVBoxLayout()
        self.row_list.setSpacing(2)
        lay.addLayout(self.row_list)
        state.modelChanged.connect(self.set_model)
        state.latentChanged.connect(self.sync)
        self.sync(state.latent)

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load directions", self.files.folder, "Directions (*.npz *.npy)")
        if path:
            self.load(path)

    def _clear_rows(self) -> None:
        for row in self.rows:
            self.row_list.removeWidget(row)
            row.deleteLater()
        self.rows = []

    def load(self, path: str | Path) -> bool:
        """Read a directions file for the open model and list its directions (False: refused, said why)."""
        try:
            found = self.files.read_directions(path)
        except ValueError as e:
            self.note.setText(str(e))
            return False
        self.directions = found
        self._clear_rows()
        span = AMOUNT_SPAN.get(found.method, UNIT_AMOUNT_SPAN)
        self.rows = [DirectionRow(name, span, layers) for name, layers in
                     zip(found.names[:FILE_DIRECTION_ROWS], found.layers)]
        for i, row in enumerate(self.rows):
            self.row_list.addWidget(row)
            row.amount.valueChanged.connect(lambda v, i=i: self._edited(i, drag=True))
            row.layers.editingFinished.connect(lambda i=i: self._edited(i, drag=False))
        self.sync(self.state.latent)
        return True

    def set_model(self, model: ModelSummary) -> None:
        if self.directions is not None and not self.load(self.directions.path):
            self.directions = None  # the file does not fit this model (the note says why)
            self._clear_rows()
        self.sync(self.state.latent)

    def _edit_of(self, i: int) -> DirectionEdit:
        """Row i's direction as an edit with amount 0 and the file's layers (a key to match edits by)."""
        assert self.directions is not None  # rows exist only for a loaded file
        return self.directions.edit(self.directions.names[i], 0.0)

    def _edited(self, i: int, drag: bool) -> None:
        """Row i changed: its edit in the latent gets the row's amount and layers (amount 0: no edit).
        A drag of the amount is one undo step, like the other sliders."""
        row, model = self.rows[i], self.state.model_summary
        key = self._edit_of(i)
        layers = row.layer_range(model.num_ws)
        if layers is None:  # not a range of this model: back to the one in use
            current = next((e.layers for e in self.state.latent.edits if e.source == key.source), None)
            first, last = current or row.default_layers
            row.layers.setText(f"{first}-{last}")
            self.note.setText(f"Layers are A-B within 0-{model.num_ws - 1}.")
            return
        amount = round(row.amount.value(), 3)
        others = [e for e in self.state.latent.edits if e.source != key.source]
        if amount and len(others) >= MAX_EDITS:
            self.note.setText(f"At most {MAX_EDITS} directions at once.")
            return
        edits = others + ([replace(key, amount=amount, layers=layers)] if amount else [])
        self.state.update_latent(merge=f"edit-{key.source}" if drag else None, edits=tuple(edits))

    def sync(self, spec: LatentSpec) -> None:
        """Rows show the edits of the loaded file; edits from elsewhere are counted in the note."""
        by_source = {e.source: e for e in spec.edits}
        shown = 0
        num_ws = self.state.model_summary.num_ws if self.state.model_summary else 1 << 10
        for i, row in enumerate(self.rows):
            edit = by_source.get(self._edit_of(i).source)
            shown += edit is not None
            row.amount.set_value(edit.amount if edit else 0.0)
            layers = edit.layers if edit and edit.layers else row.default_layers
            with QSignalBlocker(row.layers):
                if row.layer_range(num_ws) != layers:
                    row.layers.setText(f"{layers[0]}-{layers[1]}")
        self.clear_edits.setEnabled(bool(spec.edits))
        others = len(spec.edits) - shown
        d = self.directions
        note = [] if d is None else [f"{d.path.name}: {len(d)} {d.method} directions".replace("  ", " ")]
        if d is not None and len(d) > FILE_DIRECTION_ROWS:
            note.append(f"the first {FILE_DIRECTION_ROWS} shown")
        if others:
            note.append(f"{others} more from elsewhere in this latent")
        if note:
            self.note.setText("; ".join(note) + ".")


class WsFileBox(QGroupBox):
    """Export the ws being rendered (as projectors write it); import one to render instead of the seed."""

    def __init__(self, state: ExplorerState, files: LatentFiles, parent: QWidget | None = None) -> None:
        super().__init__("ws file (.npz, as projectors write)", parent)
        self.state, self.files = state, files
        outer = QVBoxLayout(self)
        lay = QHBoxLayout()
        outer.addLayout(lay)
        self.note = _note()
        outer.addWidget(self.note)
        self.export_button = QPushButton("Export ws…")
        self.export_button.setToolTip("Write the current ws as 'w' [1, num_ws, w_dim]" if files.ws_of else
                                      "Needs the render engine (not connected)")
        self.export_button.setEnabled(files.ws_of is not None)
        import_ws = QPushButton("Import ws…")
        import_ws.setToolTip("Render a ws from a file (a projector's w.npz) instead of the seed")
        self.clear_ws = QPushButton("Use seed")
        self.clear_ws.setToolTip("Forget the imported ws and render the seed again")
        self.export_button.clicked.connect(self._choose_export)
        import_ws.clicked.connect(self._choose_import)
        self.clear_ws.clicked.connect(lambda: self.state.update_latent(ws=None))
        for w in (self.export_button, import_ws, self.clear_ws):
            lay.addWidget(w)
        state.latentChanged.connect(self.sync)
        self.sync(state.latent)

    def _choose_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export ws", str(Path(self.files.folder) / "ws.npz"), "ws (*.npz)")
        if path:
            self.export_ws(path)

    def _choose_import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import ws", self.files.folder, "ws (*.npz)")
        if path:
            self.import_ws(path)

    def export_ws(self, path: str | Path) -> None:
        """Write the current latent's ws (what is rendered) as a projector's .npz."""
        try:
            self.note.setText(self.files.export_ws(path))
        except ValueError as e:
            self.note.setText(str(e))

    def import_ws(self, path: str | Path) -> bool:
        """Render the ws of a file instead of the seed (False: refused, said why)."""
        try:
            self.note.setText(self.files.import_ws(path))
        except ValueError as e:
            self.note.setText(str(e))
            return False
        return True

    def sync(self, spec: LatentSpec) -> None:
        self.clear_ws.setEnabled(spec.ws is not None)
