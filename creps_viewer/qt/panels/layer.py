"""View ▸ Layer: the feature view's control, a small bar floating over the viewport's top-left corner.

It chooses what the viewport draws: the image, or one composed block's features (three principal
components as RGB, one channel, its row or column lines, or its spectrum), live while exploring
and at any zoom, pan and rotation (what the StyleGAN3 visualizer's layer widget does, for CREPS's
bi-lines). It only sets ``state.feature``; the render worker draws the picture through the normal
request path (:func:`creps_core.render.features.feature_picture`). It floats over the viewport
rather than sitting beside it, so showing or hiding it never resizes the view (which would render
the whole frame again)."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QSpinBox, QWidget

from creps_core.render.features import MODE_TITLES, FeatureView
from creps_core.vocabulary import FEATURE_MODES
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState

IMAGE = "image"


MARGIN = 8  # pixels from the viewport's corner


class LayerBar(QFrame):
    """Show: image | b8 | b16 …, a mode, and a channel for the ``channel`` mode; a child of the
    viewport (``parent``), hidden until :attr:`toggle` (View ▸ Layer) shows it. Hiding it shows the
    image again: a hidden control could not say what is drawn."""

    def __init__(self, state: ExplorerState, parent: QWidget) -> None:
        super().__init__(parent)
        self.state = state
        self.setObjectName("layerBar")
        self.setStyleSheet("#layerBar { background: rgba(40, 40, 44, 215); border-radius: 4px; } "
                           "#layerBar QLabel { color: #eee; }")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(4)
        lay.addWidget(QLabel("Show"))
        self.block = QComboBox()
        self.block.setToolTip("The image, or one synthesis block's features F_b = ½ Σ R_b(u) K_b(v)")
        lay.addWidget(self.block)
        self.mode = QComboBox()
        for mode in FEATURE_MODES:
            self.mode.addItem(MODE_TITLES[mode], mode)
        self.mode.setToolTip("3 PCs: the block's features as RGB · channel: one channel (blue −, red +) · "
                             "row/column lines: R_b(u) or K_b(v) at each pixel · spectrum: log|FFT| of the view")
        lay.addWidget(self.mode)
        self.channel = QSpinBox()
        self.channel.setPrefix("channel ")
        self.channel.setKeyboardTracking(False)
        lay.addWidget(self.channel)
        self.toggle = QAction("&Layer (feature view)", self)
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Show a synthesis block's features, lines or spectrum instead of the image")
        self.toggle.toggled.connect(self.setVisible)
        self.hide()
        self.block.currentIndexChanged.connect(self._edited)
        self.mode.currentIndexChanged.connect(self._edited)
        self.channel.valueChanged.connect(self._edited)
        state.modelChanged.connect(self.set_model)
        state.featureChanged.connect(self.sync)
        if state.model_summary is not None:
            self.set_model(state.model_summary)
        self.sync(state.feature)

    def setVisible(self, visible: bool) -> None:
        super().setVisible(visible)
        if self.toggle.isChecked() != visible:
            self.toggle.setChecked(visible)
        if visible:
            self.adjustSize()
            self.move(MARGIN, MARGIN)
            self.raise_()
        else:
            self.state.set_feature(None)

    def set_model(self, model: ModelSummary) -> None:
        """One entry per composed block of this model; channels 0..biline-1."""
        with QSignalBlocker(self.block), QSignalBlocker(self.channel):
            self.block.clear()
            self.block.addItem(IMAGE, None)
            if model.cfg is not None:
                for i, res in enumerate(model.cfg.composed_blocks):
                    self.block.addItem(f"b{res}", i)
                self.channel.setRange(0, model.cfg.biline_channels - 1)
        self.sync(self.state.feature)
        self.adjustSize()

    def choice(self) -> FeatureView | None:
        block = self.block.currentData()
        if block is None:
            return None
        return FeatureView(int(block), self.mode.currentData(), self.channel.value())

    def _edited(self, *_: object) -> None:
        self.state.set_feature(self.choice())

    def sync(self, feature: FeatureView | None) -> None:
        with QSignalBlocker(self.block), QSignalBlocker(self.mode), QSignalBlocker(self.channel):
            self.block.setCurrentIndex(0 if feature is None else max(0, self.block.findData(feature.block)))
            if feature is not None:
                self.mode.setCurrentIndex(max(0, self.mode.findData(feature.mode)))
                self.channel.setValue(feature.channel)
        self.mode.setEnabled(feature is not None)
        self.channel.setEnabled(feature is not None and feature.mode == "channel")
