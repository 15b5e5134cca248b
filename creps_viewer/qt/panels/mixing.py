"""The Latent tab's "Style mixing" box: which ws layers come from a second seed.

A range slider picks a contiguous run (coarse → fine), a grid of toggles any set; the toggles
are rebuilt for each model (9 to 19 layers) and wrap so that they fit the dock."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from creps_core.latent.latents import LatentSpec, layer_labels
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.widgets import RangeSlider, reset_button, seed_spin

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


class MixingBox(QGroupBox):
    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__("Style mixing", parent)
        self.state = state
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.mix_on = QCheckBox("Mix with seed")
        self.mix_seed = seed_spin(1)
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
        state.modelChanged.connect(self.set_model)
        state.latentChanged.connect(self.sync)
        if state.model_summary is not None:
            self.set_model(state.model_summary)
        self.sync(state.latent)

    def set_model(self, model: ModelSummary) -> None:
        """One toggle per ws layer of this model."""
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
        self.sync(self.state.latent)

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

    def sync(self, spec: LatentSpec) -> None:
        blockers = [QSignalBlocker(w) for w in (self.mix_on, self.mix_seed, *self.layer_buttons)]
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
        del blockers
