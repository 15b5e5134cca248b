"""Latent panel: seed, truncation, class, style mixing, A<->B interpolation, PCA directions,
directions from a file (amount and layer range each), and ws exported to / imported from .npz."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from creps_core.cli.args import UsageError, parse_layers
from creps_core.latent.files import Directions, load_directions, load_ws, save_ws
from creps_core.latent.latents import MAX_EDITS, DirectionEdit, LatentSpec, layer_labels
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.widgets import RangeSlider, SliderRow, reset_button
from creps_viewer.qt.plain_text import plain_label, plain_tooltip

MAX_SEED = 2**31 - 1
PCA_COMPONENTS = 8
DEFAULT = LatentSpec()
FILE_DIRECTION_ROWS = 16  # rows shown for a directions file (SeFa files have 8 by default)
AMOUNT_SPAN = {"pca": 5.0}  # slider range +-: PCA vectors are one sigma long; unit vectors (SeFa, imports) 10
UNIT_AMOUNT_SPAN = 10.0
WsOf = Callable[[LatentSpec], np.ndarray]  # the ws [num_ws, w_dim] the engine renders for a spec


def _seed_spin(value: int = 0) -> QSpinBox:
    s = QSpinBox()
    s.setRange(0, MAX_SEED)
    s.setValue(value)
    s.setKeyboardTracking(False)
    s.setMinimumWidth(90)
    return s


LAYER_COLUMNS = 8  # toggles per row of the mixing grid (26 px each: fits the 340 px dock)


def layer_caption(num_ws: int) -> str:
    """'0 input · 1–3 coarse · 4–6 middle · 7–9 fine · 10 pixel MLP' from layer_labels."""
    groups: list[tuple[str, int, int]] = []
    for i, label in enumerate(layer_labels(num_ws)):
        name = label.split(" ", 1)[1]
        if groups and groups[-1][0] == name:
            groups[-1] = (name, groups[-1][1], i)
        else:
            groups.append((name, i, i))
    return " · ".join(f"{a}–{b} {n}" if a != b else f"{a} {n}" for n, a, b in groups)


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


class LatentPanel(QWidget):
    """``ws_of`` (the render engine's ws of a spec) enables exporting the current ws; without
    it the export button is disabled."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None, ws_of: WsOf | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.ws_of = ws_of
        self.directions: Directions | None = None
        self.direction_rows: list[DirectionRow] = []
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.addWidget(self._build_basic())
        root.addWidget(self._build_mixing())
        root.addWidget(self._build_interp())
        root.addWidget(self._build_pca())
        root.addWidget(self._build_file_directions())
        root.addWidget(self._build_ws_file())
        root.addStretch(1)
        state.latentChanged.connect(self.sync_from_state)
        state.modelChanged.connect(self.set_model)
        if state.model_summary is not None:
            self.set_model(state.model_summary)
        self.sync_from_state(state.latent)

    # ----- construction ------------------------------------------------------------------
    def _build_basic(self) -> QGroupBox:
        box = QGroupBox("Latent")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.seed = _seed_spin()
        prev_b, next_b, rand_b = QToolButton(), QToolButton(), QToolButton()
        prev_b.setArrowType(Qt.LeftArrow)
        prev_b.setToolTip("Previous seed (Page Up)")
        next_b.setArrowType(Qt.RightArrow)
        next_b.setToolTip("Next seed (Page Down)")
        rand_b.setText("Random")
        rand_b.setToolTip("Random seed")
        self.seed_reset = reset_button("Reset to seed 0")
        row = QHBoxLayout()
        for w in (self.seed, prev_b, next_b, rand_b, self.seed_reset):
            row.addWidget(w)
        form.addRow("Seed", row)
        self.seed.valueChanged.connect(lambda v: self.state.update_latent(seed=int(v)))
        prev_b.clicked.connect(lambda: self.step_seed(-1))
        next_b.clicked.connect(lambda: self.step_seed(+1))
        rand_b.clicked.connect(lambda: self.state.update_latent(seed=random.randrange(MAX_SEED)))
        self.seed_reset.clicked.connect(lambda: self.state.update_latent(seed=0))

        self.class_combo = QComboBox()
        self.class_row_label = QLabel("Class")
        form.addRow(self.class_row_label, self.class_combo)
        self.class_combo.hide()
        self.class_row_label.hide()
        self.class_combo.currentIndexChanged.connect(self._class_edited)

        self.psi = SliderRow("", -1.0, 2.0, 1.0, label_width=0)
        self.psi.label.hide()
        form.addRow("Truncation ψ", self.psi)
        self.psi.valueChanged.connect(lambda v: self.state.update_latent(merge="psi", psi=round(v, 4)))

        self.cutoff = QSpinBox()
        self.cutoff.setSpecialValueText("all layers")
        self.cutoff_reset = reset_button("Truncate all layers")
        row = QHBoxLayout()
        row.addWidget(self.cutoff, 1)
        row.addWidget(self.cutoff_reset)
        form.addRow("ψ cutoff", row)
        self.cutoff.valueChanged.connect(lambda v: self.state.update_latent(cutoff=int(v) or None))
        self.cutoff_reset.clicked.connect(lambda: self.state.update_latent(cutoff=None))
        return box

    def _build_mixing(self) -> QGroupBox:
        box = QGroupBox("Style mixing")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.mix_on = QCheckBox("Mix with seed")
        self.mix_seed = _seed_spin(1)
        self.mix_reset = reset_button("No style mixing")
        row.addWidget(self.mix_on)
        row.addWidget(self.mix_seed, 1)
        row.addWidget(self.mix_reset)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("coarse"))
        self.mix_range = RangeSlider()
        self.mix_range.setToolTip("ws indices taken from the mixing seed (coarse → fine)")
        row.addWidget(self.mix_range, 1)
        row.addWidget(QLabel("fine"))
        lay.addLayout(row)
        self.layer_grid = QGridLayout()
        self.layer_grid.setSpacing(2)
        lay.addLayout(self.layer_grid)
        self.layer_caption = QLabel()
        self.layer_caption.setWordWrap(True)
        self.layer_caption.setStyleSheet("color: palette(mid);")
        lay.addWidget(self.layer_caption)
        self.layer_buttons: list[QToolButton] = []
        self.mix_on.toggled.connect(self._mix_edited)
        self.mix_seed.valueChanged.connect(self._mix_edited)
        self.mix_range.rangeChanged.connect(
            lambda lo, hi: self.state.update_latent(merge="mix-range", mix_layers=tuple(range(lo, hi))))
        self.mix_reset.clicked.connect(lambda: self.state.update_latent(mix_seed=None, mix_layers=()))
        return box

    def _build_interp(self) -> QGroupBox:
        box = QGroupBox("Interpolate A ↔ B")
        form = QFormLayout(box)
        self.b_seed = _seed_spin(1)
        self.space = QComboBox()
        self.space.addItem("lerp in W", "w")
        self.space.addItem("slerp in Z", "z")
        row = QHBoxLayout()
        row.addWidget(self.b_seed, 1)
        row.addWidget(self.space)
        form.addRow("Seed B", row)
        self.interp_t = SliderRow("", 0.0, 1.0, 0.0, label_width=0)
        self.interp_t.label.hide()
        form.addRow("A ↔ B", self.interp_t)
        self.interp_t.valueChanged.connect(lambda v: self._interp_edited("interp"))
        self.b_seed.valueChanged.connect(lambda v: self._interp_edited(None))
        self.space.currentIndexChanged.connect(lambda i: self._interp_edited(None))
        return box

    def _build_pca(self) -> QGroupBox:
        box = QGroupBox("Directions (PCA of W, in σ)")
        lay = QVBoxLayout(box)
        lay.setSpacing(2)
        self.pcs = [SliderRow(f"PC{k + 1}", -5.0, 5.0, 0.0, decimals=2, label_width=36) for k in range(PCA_COMPONENTS)]
        for k, row in enumerate(self.pcs):
            lay.addWidget(row)
            row.valueChanged.connect(lambda v, k=k: self._direction_edited(k, v))
        reset_all = QPushButton("Reset directions")
        reset_all.clicked.connect(lambda: self.state.update_latent(directions=()))
        lay.addWidget(reset_all)
        self.pcs_reset_all = reset_all
        return box

    def _build_file_directions(self) -> QGroupBox:
        box = QGroupBox("Directions from a file")
        lay = QVBoxLayout(box)
        lay.setSpacing(2)
        row = QHBoxLayout()
        load = QPushButton("Load directions…")
        load.setToolTip("A directions .npz (creps directions: SeFa, PCA) or a GANSpace/InterfaceGAN .npy")
        load.clicked.connect(self._choose_directions)
        self.clear_edits = QPushButton("Clear")
        self.clear_edits.setToolTip("Remove every file direction from the latent")
        self.clear_edits.clicked.connect(lambda: self.state.update_latent(edits=()))
        row.addWidget(load, 1)
        row.addWidget(self.clear_edits)
        lay.addLayout(row)
        self.directions_note = plain_label("No file loaded.")  # names and errors from files
        self.directions_note.setWordWrap(True)
        self.directions_note.setStyleSheet("color: palette(mid);")
        lay.addWidget(self.directions_note)
        self.direction_list = QVBoxLayout()
        self.direction_list.setSpacing(2)
        lay.addLayout(self.direction_list)
        return box

    def _build_ws_file(self) -> QGroupBox:
        box = QGroupBox("ws file (.npz, as projectors write)")
        outer = QVBoxLayout(box)
        lay = QHBoxLayout()
        outer.addLayout(lay)
        self.ws_note = plain_label()  # file names and errors from files
        self.ws_note.setWordWrap(True)
        self.ws_note.setStyleSheet("color: palette(mid);")
        outer.addWidget(self.ws_note)
        self.export_ws_button = QPushButton("Export ws…")
        self.export_ws_button.setToolTip("Write the current ws as 'w' [1, num_ws, w_dim]" if self.ws_of else
                                         "Needs the render engine (not connected)")
        self.export_ws_button.setEnabled(self.ws_of is not None)
        import_ws = QPushButton("Import ws…")
        import_ws.setToolTip("Render a ws from a file (a projector's w.npz) instead of the seed")
        self.clear_ws = QPushButton("Use seed")
        self.clear_ws.setToolTip("Forget the imported ws and render the seed again")
        self.export_ws_button.clicked.connect(self._choose_export_ws)
        import_ws.clicked.connect(self._choose_import_ws)
        self.clear_ws.clicked.connect(lambda: self.state.update_latent(ws=None))
        for w in (self.export_ws_button, import_ws, self.clear_ws):
            lay.addWidget(w)
        return box

    # ----- files -------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.directions_note.setText(text)

    def _clear_rows(self) -> None:
        for row in self.direction_rows:
            self.direction_list.removeWidget(row)
            row.deleteLater()
        self.direction_rows = []

    def _choose_directions(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load directions", "", "Directions (*.npz *.npy)")
        if path:
            self.load_directions(path)

    def load_directions(self, path: str | Path) -> bool:
        """Read a directions file for the open model and list its directions (False: refused, said why)."""
        model = self.state.model_summary
        if model is None:
            self._say("Open a model first.")
            return False
        try:
            found = load_directions(path, model.num_ws, model.w_dim)
        except ValueError as e:
            self._say(str(e))
            return False
        self.directions = found
        self._clear_rows()
        span = AMOUNT_SPAN.get(found.method, UNIT_AMOUNT_SPAN)
        self.direction_rows = [DirectionRow(name, span, layers) for name, layers in
                               zip(found.names[:FILE_DIRECTION_ROWS], found.layers)]
        for i, row in enumerate(self.direction_rows):
            self.direction_list.addWidget(row)
            row.amount.valueChanged.connect(lambda v, i=i: self._file_direction_edited(i, drag=True))
            row.layers.editingFinished.connect(lambda i=i: self._file_direction_edited(i, drag=False))
        self.sync_from_state(self.state.latent)
        return True

    def _edit_of(self, i: int) -> DirectionEdit:
        """Row i's direction as an edit with amount 0 and the file's layers (a key to match edits by)."""
        return self.directions.edit(self.directions.names[i], 0.0)

    def _file_direction_edited(self, i: int, drag: bool) -> None:
        """Row i changed: its edit in the latent gets the row's amount and layers (amount 0: no edit).
        A drag of the amount is one undo step, like the other sliders."""
        row, model = self.direction_rows[i], self.state.model_summary
        key = self._edit_of(i)
        layers = row.layer_range(model.num_ws)
        if layers is None:  # not a range of this model: back to the one in use
            current = next((e.layers for e in self.state.latent.edits if e.source == key.source), None)
            first, last = current or row.default_layers
            row.layers.setText(f"{first}-{last}")
            self._say(f"Layers are A-B within 0-{model.num_ws - 1}.")
            return
        amount = round(row.amount.value(), 3)
        others = [e for e in self.state.latent.edits if e.source != key.source]
        if amount and len(others) >= MAX_EDITS:
            self._say(f"At most {MAX_EDITS} directions at once.")
            return
        edits = others + ([replace(key, amount=amount, layers=layers)] if amount else [])
        self.state.update_latent(merge=f"edit-{key.source}" if drag else None, edits=tuple(edits))

    def _choose_export_ws(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export ws", "ws.npz", "ws (*.npz)")
        if path:
            self.export_ws(path)

    def export_ws(self, path: str | Path) -> None:
        """Write the current latent's ws (what is rendered) as a projector's .npz."""
        try:
            save_ws(path, self.ws_of(self.state.latent))
        except (OSError, ValueError) as e:
            self.ws_note.setText(f"Could not write {path}: {e}")
            return
        self.ws_note.setText(f"Wrote {Path(path).name}.")

    def _choose_import_ws(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import ws", "", "ws (*.npz)")
        if path:
            self.import_ws(path)

    def import_ws(self, path: str | Path) -> bool:
        """Render the ws of a file instead of the seed (False: refused, said why)."""
        model = self.state.model_summary
        if model is None:
            return False
        try:
            ws = load_ws(path, model.num_ws, model.w_dim)
        except ValueError as e:
            self.ws_note.setText(str(e))
            return False
        self.ws_note.setText(f"Rendering the ws of {Path(path).name}.")
        self.state.update_latent(ws=ws)
        return True

    # ----- model ---------------------------------------------------------------------------
    def set_model(self, model: ModelSummary) -> None:
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            self.class_combo.addItems([f"class {i}" for i in range(model.c_dim)])
        self.class_combo.setVisible(model.c_dim > 0)
        self.class_row_label.setVisible(model.c_dim > 0)
        with QSignalBlocker(self.cutoff):
            self.cutoff.setRange(0, model.num_ws)
        self.mix_range.set_count(model.num_ws)
        for b in self.layer_buttons:
            self.layer_grid.removeWidget(b)
            b.deleteLater()
        self.layer_buttons = []
        for i, text in enumerate(layer_labels(model.num_ws)):
            b = QToolButton()
            b.setText(str(i))
            b.setToolTip(f"ws[{text}]")
            b.setCheckable(True)
            b.setFixedSize(26, 22)
            b.toggled.connect(self._layers_toggled)
            self.layer_grid.addWidget(b, *divmod(i, LAYER_COLUMNS))  # wraps: 15-19 layers fit the dock
            self.layer_buttons.append(b)
        for r in range(self.layer_grid.rowCount()):  # rows keep their height when the dock is short
            self.layer_grid.setRowMinimumHeight(r, 24)
        self.layer_caption.setText(layer_caption(model.num_ws))
        if self.directions is not None and not self.load_directions(self.directions.path):
            self.directions = None  # the file does not fit this model (the note says why)
            self._clear_rows()
        self.sync_from_state(self.state.latent)

    # ----- widget -> state ---------------------------------------------------------------
    def step_seed(self, delta: int) -> None:
        self.state.update_latent(seed=min(MAX_SEED, max(0, self.state.latent.seed + delta)))

    def _class_edited(self, index: int) -> None:
        if index >= 0:  # -1 while the combo is being refilled for a new model
            self.state.update_latent(class_idx=index)

    def _mix_edited(self, *_: object) -> None:
        spec = self.state.latent
        layers = spec.mix_layers
        if self.mix_on.isChecked() and not layers:
            n = self.state.model_summary.num_ws if self.state.model_summary else 2
            layers = tuple(range(n // 2, n))  # a useful default: the fine half
        self.state.set_latent(spec.with_(mix_seed=self.mix_seed.value() if self.mix_on.isChecked() else None,
                                         mix_layers=layers))

    def _layers_toggled(self, *_: object) -> None:
        layers = tuple(i for i, b in enumerate(self.layer_buttons) if b.isChecked())
        self.state.update_latent(mix_layers=layers)

    def _interp_edited(self, merge: str | None) -> None:
        t = round(self.interp_t.value(), 4)
        self.state.update_latent(merge=merge, interp_seed=self.b_seed.value() if t else None, interp_t=t,
                                 interp_space=self.space.currentData())

    def _direction_edited(self, comp: int, amount: float) -> None:
        d = {k: a for k, a in self.state.latent.directions}
        d[comp] = round(amount, 3)
        self.state.update_latent(merge=f"pc{comp}", directions=tuple(sorted((k, a) for k, a in d.items() if a)))

    # ----- state -> widget ---------------------------------------------------------------
    def sync_from_state(self, spec: LatentSpec) -> None:
        blockers = [QSignalBlocker(w) for w in (self.seed, self.class_combo, self.cutoff, self.mix_on, self.mix_seed,
                                                 self.b_seed, self.space, *self.layer_buttons)]
        self.seed.setValue(spec.seed)
        self.seed_reset.setEnabled(spec.seed != DEFAULT.seed)
        if spec.class_idx is not None:
            self.class_combo.setCurrentIndex(spec.class_idx)
        self.psi.set_value(spec.psi)
        self.cutoff.setValue(spec.cutoff or 0)
        self.cutoff_reset.setEnabled(spec.cutoff is not None)
        mixing = spec.mix_seed is not None
        self.mix_on.setChecked(mixing)
        if mixing:
            self.mix_seed.setValue(spec.mix_seed)
        self.mix_range.set_range(min(spec.mix_layers, default=0), max(spec.mix_layers, default=-1) + 1)
        self.mix_range.setEnabled(mixing)
        for i, b in enumerate(self.layer_buttons):
            b.setChecked(i in spec.mix_layers)
            b.setEnabled(mixing)
        self.mix_reset.setEnabled(mixing or bool(spec.mix_layers))
        if spec.interp_seed is not None:
            self.b_seed.setValue(spec.interp_seed)
        self.space.setCurrentIndex(0 if spec.interp_space == "w" else 1)
        self.interp_t.set_value(spec.interp_t)
        amounts = dict(spec.directions)
        for k, row in enumerate(self.pcs):
            row.set_value(amounts.get(k, 0.0))
        self.pcs_reset_all.setEnabled(bool(spec.directions))
        self._sync_file_directions(spec)
        self.clear_ws.setEnabled(spec.ws is not None)
        del blockers

    def _sync_file_directions(self, spec: LatentSpec) -> None:
        """Rows show the edits of the loaded file; edits from elsewhere are counted in the note."""
        by_source = {e.source: e for e in spec.edits}
        shown = 0
        for i, row in enumerate(self.direction_rows):
            edit = by_source.get(self._edit_of(i).source)
            shown += edit is not None
            row.amount.set_value(edit.amount if edit else 0.0)
            layers = edit.layers if edit and edit.layers else row.default_layers
            with QSignalBlocker(row.layers):
                if row.layer_range(self.state.model_summary.num_ws if self.state.model_summary else 1 << 10) != layers:
                    row.layers.setText(f"{layers[0]}-{layers[1]}")
        self.clear_edits.setEnabled(bool(spec.edits))
        others = len(spec.edits) - shown
        note = [] if self.directions is None else [f"{self.directions.path.name}: {len(self.directions)} "
                                                   f"{self.directions.method} directions".replace("  ", " ")]
        if self.directions is not None and len(self.directions) > FILE_DIRECTION_ROWS:
            note.append(f"the first {FILE_DIRECTION_ROWS} shown")
        if others:
            note.append(f"{others} more from elsewhere in this latent")
        if note:
            self._say("; ".join(note) + ".")
