"""The Latent tab: one widget per box, each reading and writing the state's latent on its own.

- "Latent": seed (previous, next, random), class of a conditional model, truncation ψ and cutoff;
- "Style mixing" (:mod:`.mixing`): ws layers from a second seed;
- "Interpolate A ↔ B": towards seed B, in W or Z;
- "Directions (PCA of W, in σ)": the first principal directions of W;
- "Directions from a file" and "ws file" (:mod:`.file_boxes`): latents from files, read and
  written by the Qt-free :class:`~creps_viewer.model.latent_files.LatentFiles`.

Every box subscribes to the state (``latentChanged``, ``modelChanged``) and shows what it holds
without emitting, so undo, bookmarks and workspaces move the controls too."""

from __future__ import annotations

import random
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from creps_core.latent.latents import LatentSpec
from creps_viewer.model.latent_files import LatentFiles, WsOf
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.file_boxes import DirectionRow, FileDirectionsBox, WsFileBox
from creps_viewer.qt.panels.mixing import MixingBox
from creps_viewer.qt.panels.widgets import MAX_SEED, SliderRow, reset_button, seed_spin

PCA_COMPONENTS = 8
DEFAULT = LatentSpec()


class SeedBox(QGroupBox):
    """The "Latent" box: seed, class, truncation ψ and the layers it applies to."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__("Latent", parent)
        self.state = state
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.seed = seed_spin()
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
        state.modelChanged.connect(self.set_model)
        state.latentChanged.connect(self.sync)
        if state.model_summary is not None:
            self.set_model(state.model_summary)
        self.sync(state.latent)

    def step_seed(self, delta: int) -> None:
        self.state.update_latent(seed=min(MAX_SEED, max(0, self.state.latent.seed + delta)))

    def _class_edited(self, index: int) -> None:
        if index >= 0:  # -1 while the combo is being refilled for a new model
            self.state.update_latent(class_idx=index)

    def set_model(self, model: ModelSummary) -> None:
        """A class list for a conditional model; the cutoff spans this model's ws."""
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            self.class_combo.addItems([f"class {i}" for i in range(model.c_dim)])
        self.class_combo.setVisible(model.c_dim > 0)
        self.class_row_label.setVisible(model.c_dim > 0)
        with QSignalBlocker(self.cutoff):
            self.cutoff.setRange(0, model.num_ws)
        self.sync(self.state.latent)

    def sync(self, spec: LatentSpec) -> None:
        with QSignalBlocker(self.seed), QSignalBlocker(self.class_combo), QSignalBlocker(self.cutoff):
            self.seed.setValue(spec.seed)
            self.seed_reset.setEnabled(spec.seed != DEFAULT.seed)
            if spec.class_idx is not None:
                self.class_combo.setCurrentIndex(spec.class_idx)
            self.psi.set_value(spec.psi)
            self.cutoff.setValue(spec.cutoff or 0)
            self.cutoff_reset.setEnabled(spec.cutoff is not None)


class InterpolationBox(QGroupBox):
    """Towards seed B by t, a lerp in W or a slerp in Z."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__("Interpolate A ↔ B", parent)
        self.state = state
        form = QFormLayout(self)
        self.b_seed = seed_spin(1)
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
        self.interp_t.valueChanged.connect(lambda v: self._edited("interp"))
        self.b_seed.valueChanged.connect(lambda v: self._edited(None))
        self.space.currentIndexChanged.connect(lambda i: self._edited(None))
        state.latentChanged.connect(self.sync)
        self.sync(state.latent)

    def _edited(self, merge: str | None) -> None:
        t = round(self.interp_t.value(), 4)
        self.state.update_latent(merge=merge, interp_seed=self.b_seed.value() if t else None, interp_t=t,
                                 interp_space=self.space.currentData())

    def sync(self, spec: LatentSpec) -> None:
        with QSignalBlocker(self.b_seed), QSignalBlocker(self.space):
            if spec.interp_seed is not None:
                self.b_seed.setValue(spec.interp_seed)
            self.space.setCurrentIndex(0 if spec.interp_space == "w" else 1)
            self.interp_t.set_value(spec.interp_t)


class PcaBox(QGroupBox):
    """An amount (in σ of W) along each of the first principal directions of W."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__("Directions (PCA of W, in σ)", parent)
        self.state = state
        lay = QVBoxLayout(self)
        lay.setSpacing(2)
        self.pcs = [SliderRow(f"PC{k + 1}", -5.0, 5.0, 0.0, decimals=2, label_width=36) for k in range(PCA_COMPONENTS)]
        for k, row in enumerate(self.pcs):
            lay.addWidget(row)
            row.valueChanged.connect(lambda v, k=k: self._edited(k, v))
        self.reset_all = QPushButton("Reset directions")
        self.reset_all.clicked.connect(lambda: self.state.update_latent(pca_amounts=()))
        lay.addWidget(self.reset_all)
        state.latentChanged.connect(self.sync)
        self.sync(state.latent)

    def _edited(self, comp: int, amount: float) -> None:
        d = dict(self.state.latent.pca_amounts)
        d[comp] = round(amount, 3)
        self.state.update_latent(merge=f"pc{comp}", pca_amounts=tuple(sorted((k, a) for k, a in d.items() if a)))

    def sync(self, spec: LatentSpec) -> None:
        amounts = dict(spec.pca_amounts)
        for k, row in enumerate(self.pcs):
            row.set_value(amounts.get(k, 0.0))
        self.reset_all.setEnabled(bool(spec.pca_amounts))


class LatentPanel(QWidget):
    """The six boxes in a column.  ``ws_of`` (the render engine's ws of a spec) enables exporting
    the current ws; without it the export button is disabled."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None, ws_of: WsOf | None = None) -> None:
        super().__init__(parent)
        self.files = files = LatentFiles(state, ws_of)
        self.seed_box = SeedBox(state)
        self.mixing = MixingBox(state)
        self.interpolation = InterpolationBox(state)
        self.pca = PcaBox(state)
        self.file_directions = FileDirectionsBox(state, files)
        self.ws_file = WsFileBox(state, files)
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        for box in (self.seed_box, self.mixing, self.interpolation, self.pca, self.file_directions, self.ws_file):
            root.addWidget(box)
        root.addStretch(1)

    def step_seed(self, delta: int) -> None:
        """Latent ▸ Previous/Next seed."""
        self.seed_box.step_seed(delta)

    # The files' boxes by their old names: what the security tests check for names from files.
    def load_directions(self, path: str | Path) -> bool:
        return self.file_directions.load(path)

    def import_ws(self, path: str | Path) -> bool:
        return self.ws_file.import_ws(path)

    @property
    def direction_rows(self) -> list[DirectionRow]:
        return self.file_directions.rows

    @property
    def directions_note(self) -> QLabel:
        return self.file_directions.note

    @property
    def ws_note(self) -> QLabel:
        return self.ws_file.note
