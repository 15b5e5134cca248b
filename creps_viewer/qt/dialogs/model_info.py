"""Model ▸ Info: what the open checkpoint is (file, hash, architecture, size)."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QPlainTextEdit, QVBoxLayout, QWidget

from creps_viewer.model.records import ModelSummary
from creps_viewer.qt.plain_text import plain_label


class ModelInfoDialog(QDialog):
    def __init__(self, model: ModelSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model info — {model.label}")
        lay = QVBoxLayout(self)
        form = QFormLayout()
        rows = (("Name", model.label), ("File", model.path), ("SHA-256", model.sha256 or "–"),
                ("Resolution", f"{model.resolution} px"), ("Latent", f"w_dim {model.w_dim}, {model.num_ws} ws"),
                ("Classes", str(model.c_dim) if model.c_dim else "unconditional"),
                ("Parameters", f"{model.parameters / 1e6:.2f} M"))
        for name, value in rows:
            label = plain_label(value)  # the file's name and what it says of itself
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            form.addRow(name, label)
        lay.addLayout(form)
        details = QPlainTextEdit(json.dumps(model.info.get("config", {}), indent=2))
        details.setReadOnly(True)
        lay.addWidget(details)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(480, 420)
