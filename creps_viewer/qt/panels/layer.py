"""View ▸ Layer: the feature view's control, a bar above the viewport.

It chooses what the viewport draws: the image, or one composed block's features (three principal
components as RGB, one channel, its row or column lines, or its spectrum), live while exploring
and at any zoom, pan and rotation (what the StyleGAN3 visualizer's layer widget does, for CREPS's
bi-lines). It only sets ``state.feature``; the render worker draws the picture through the normal
request path (:func:`creps_core.render.features.feature_picture`)."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QComboBox, QLabel, QSpinBox, QToolBar, QWidget

from creps_core.render.features import MODE_TITLES, FeatureView
from creps_core.vocabulary import FEATURE_MODES
from creps_viewer.model.records import ModelSummary
from creps_viewer.model.state import ExplorerState

IMAGE = "image"


class LayerBar(QToolBar):
    """Show: image | b8 | b16 …, a mode, and a channel for the ``channel`` mode."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__("Layer", parent)
        self.setObjectName("layer")  # saveState keeps whether it is shown
        self.state = state
        self.addWidget(QLabel(" Show "))
        self.block = QComboBox()
        self.block.setToolTip("The image, or one synthesis block's features F_b = ½ Σ R_b(u) K_b(v)")
        self.addWidget(self.block)
        self.mode = QComboBox()
        for mode in FEATURE_MODES:
            self.mode.addItem(MODE_TITLES[mode], mode)
        self.mode.setToolTip("3 PCs: the block's features as RGB · channel: one channel (blue −, red +) · "
                             "row/column lines: R_b(u) or K_b(v) at each pixel · spectrum: log|FFT| of the view")
        self.addWidget(self.mode)
        self.channel = QSpinBox()
        self.channel.setPrefix("channel ")
        self.channel.setKeyboardTracking(False)
        self.addWidget(self.channel)
        self.block.currentIndexChanged.connect(self._edited)
        self.mode.currentIndexChanged.connect(self._edited)
        self.channel.valueChanged.connect(self._edited)
        state.modelChanged.connect(self.set_model)
        state.featureChanged.connect(self.sync)
        if state.model_summary is not None:
            self.set_model(state.model_summary)
        self.sync(state.feature)

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
