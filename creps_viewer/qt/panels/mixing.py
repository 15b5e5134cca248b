"""The Latent tab's "Style mixing" box: which ws layers come from a second seed.

A grid of toggles picks any set of layers; a range slider (coarse → fine) is shown only while the
set is one run, so it never claims {3, 7–14} is 3–14, and a line says the exact set. The toggles
are rebuilt for each model (9 to 19 layers), wrap so that they fit the dock, and a selected one
is drawn in the highlight colour (a pressed look read as "disabled")."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QCheckBox, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from creps_core.latent.latents import LatentSpec, layer_labels
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.qt.panels.widgets import RangeSlider, reset_button, seed_spin

LAYER_COLUMNS = 8  # toggles per row of the mixing grid (26 px each: fits the 340 px dock)
SELECTED_STYLE = ("QToolButton:checked { background-color: palette(highlight); color: palette(highlighted-text); "
                  "border: 1px solid palette(dark); border-radius: 3px; }")


def layer_set_text(layers: tuple[int, ...]) -> str:
    """(3, 7, 8, …, 14) -> '3, 7–14': the exact set, runs shortened."""
    runs: list[list[int]] = []
    for i in sorted(set(layers)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(f"{a}–{b}" if b > a else str(a) for a, b in runs)


def is_run(layers: tuple[int, ...]) -> bool:
    """True for no layer or one contiguous run (what the range slider can show)."""
    return not layers or sorted(set(layers)) == list(range(min(layers), max(layers) + 1))


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
        self.range_row = QWidget()  # shown only while the layers are one run
        row = QHBoxLayout(self.range_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("coarse"))
        self.mix_range = RangeSlider()
        self.mix_range.setToolTip("ws indices taken from the mixing seed (coarse → fine)")
        row.addWidget(self.mix_range, 1)
        row.addWidget(QLabel("fine"))
        lay.addWidget(self.range_row)
        self.layer_set = QLabel()
        self.layer_set.setWordWrap(True)
        lay.addWidget(self.layer_set)
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
        self.mix_range.rangeChanged.connect(lambda lo, hi: self._set_layers(tuple(range(lo, hi)), "mix-range"))
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
            b.setStyleSheet(SELECTED_STYLE)
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
        self._set_layers(tuple(i for i, b in enumerate(self.layer_buttons) if b.isChecked()))

    def _set_layers(self, layers: tuple[int, ...], merge: str | None = None) -> None:
        """Layers picked by hand: mixing is switched on with the seed in the box (picking layers
        while it is off would otherwise change nothing on screen)."""
        seed = self.state.latent.mix_seed
        if layers and seed is None:
            seed = self.mix_seed.value()
        self.state.update_latent(merge=merge, mix_seed=seed, mix_layers=layers)

    def sync(self, spec: LatentSpec) -> None:
        blockers = [QSignalBlocker(w) for w in (self.mix_on, self.mix_seed, *self.layer_buttons)]
        mixing = spec.mix_seed is not None
        self.mix_on.setChecked(mixing)
        if mixing:
            self.mix_seed.setValue(spec.mix_seed)
        layers = spec.mix_layers
        self.mix_range.set_range(min(layers, default=0), max(layers, default=-1) + 1)
        self.range_row.setVisible(is_run(layers))
        if mixing:
            self.layer_set.setText(f"Layers from seed {spec.mix_seed}: {layer_set_text(layers) or 'none'}")
        else:
            self.layer_set.setText(f"Off (layers {layer_set_text(layers)} kept for when it is on)" if layers
                                   else "Off: pick layers to mix them.")
        for i, b in enumerate(self.layer_buttons):
            b.setChecked(i in layers)
        self.mix_reset.setEnabled(mixing or bool(spec.mix_layers))
        del blockers
