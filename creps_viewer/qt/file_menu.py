"""The File menu: the dialogs that choose a model, a workspace or an image to open and where to
save, the recent models, copying the picture, the export dialog and the projection dialog.

What is opened or saved is the session's business (:class:`~creps_viewer.model.session.ModelSession`);
this menu only asks the user, starting in the folders :class:`~creps_viewer.qt.preferences.Preferences`
remembers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from creps_viewer.model.workspace import SUFFIX
from creps_viewer.qt.dialogs.export_dialog import ExportDialog
from creps_viewer.qt.dialogs.model_info import ModelInfoDialog
from creps_viewer.qt.plain_text import menu_text, plain_tooltip

if TYPE_CHECKING:
    from creps_viewer.qt.dialogs.project_dialog import ProjectDialog
    from creps_viewer.qt.main_window import MainWindow

MODEL_FILTER = "CREPS checkpoints (*.pkl *.safetensors);;All files (*)"


def add_action(menu: QMenu, text: str, slot: Callable, shortcut=None) -> QAction:
    """A menu entry; ``shortcut`` is a key (text or QKeySequence.StandardKey) or a list of keys."""
    act = QAction(text, menu)
    if isinstance(shortcut, list):
        act.setShortcuts([QKeySequence(k) for k in shortcut])
    elif shortcut is not None:
        act.setShortcut(QKeySequence(shortcut))
    act.triggered.connect(slot)
    menu.addAction(act)
    return act


def ask_model(parent: QWidget, start: str, title: str = "Open CREPS model") -> str:
    """A checkpoint chosen by the user ("" when cancelled)."""
    return QFileDialog.getOpenFileName(parent, title, start, MODEL_FILTER)[0]


EXPORT_PRECISION_KEY = "export/precision"


class FileMenu(QMenu):
    """``model_actions`` are enabled once a model is open."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__("&File", window)
        self.main, self.prefs, self.session = window, window.prefs, window.session
        add_action(self, "&Open model…", self.open_model_dialog, QKeySequence.Open)
        self.recent_menu = self.addMenu("Open &recent")
        add_action(self, "Open &demo model", lambda: self.session.open_model("demo"))
        self.addSeparator()
        add_action(self, "Open &workspace…", self.open_workspace_dialog, "Ctrl+Shift+O")
        add_action(self, "Open &image…", self.open_image_dialog, "Ctrl+Shift+I")
        add_action(self, "Save wor&kspace…", self.save_workspace_dialog, "Ctrl+Shift+S")
        self.addSeparator()
        self.model_actions = [add_action(self, "&Save image…", self.save_image_dialog, QKeySequence.Save),
                              add_action(self, "&Copy image", self.copy_image, "Ctrl+Shift+C"),
                              add_action(self, "&Export image…", self.export_image_dialog, "Ctrl+E"),
                              add_action(self, "&Project image…", self.project_image_dialog, "Ctrl+Shift+P")]
        self.addSeparator()
        self.model_actions.append(add_action(self, "Model &info…", self.show_model_info, "Ctrl+I"))
        self.capture_action = add_action(self, "Cap&ture window", window.capture, "F12")
        self.capture_action.setToolTip("Save a picture of the whole window in your Pictures folder (a new file)")
        self.addSeparator()
        add_action(self, "&Quit", window.close, QKeySequence.Quit)
        self.refresh_recent()

    # ----- opening ------------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return self.prefs.recent_models()

    def refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            self.recent_menu.addAction(menu_text(Path(path).name),
                                       lambda p=path: self.session.open_model(p)).setToolTip(plain_tooltip(path))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    def open_model_dialog(self) -> None:
        path = ask_model(self.main, self.prefs.model_dir())
        if path:
            self.session.open_model(path)

    def open_workspace_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.main, "Open workspace",
                                              str(self.prefs.output_dir(QStandardPaths.DocumentsLocation)),
                                              f"Workspaces (*{SUFFIX} *.json)")
        if path:
            self.session.load_workspace(path)

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.main, "Open an image made by CREPS Explorer",
                                              str(self.prefs.output_dir(QStandardPaths.PicturesLocation)),
                                              "Images (*.png *.tif *.tiff *.jpg *.jpeg)")
        if path:
            self.session.open_image(path)

    # ----- saving -------------------------------------------------------------------------------
    def save_workspace_dialog(self) -> None:
        path = self.prefs.ask_save_path(self.main, "Save workspace", f"view{SUFFIX}", SUFFIX,
                                        QStandardPaths.DocumentsLocation, f"Workspaces (*{SUFFIX})")
        if path:
            self.session.save_workspace(path)

    def save_image_dialog(self) -> None:
        path = self.prefs.ask_save_path(self.main, "Save image", f"creps_seed{self.main.state.latent.seed}.png",
                                        ".png", QStandardPaths.PicturesLocation, "PNG (*.png)")
        if path:
            self.session.save_image(path)

    def copy_image(self) -> None:
        frame = self.session.current_full_frame() or self.session.last_full
        if frame is None:
            return
        h, w, _ = frame.rgb.shape
        QGuiApplication.clipboard().setImage(QImage(frame.rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy())
        self.main.statusBar().showMessage("Image copied", 3000)

    def export_image_dialog(self) -> ExportDialog | None:
        """Open the export dialog for the current view (non-modal: exploring continues meanwhile)."""
        main = self.main
        if self.session.loaded_model is None:
            main.message.show_message("Open a model before exporting.", "error")
            return None
        s, r = main.state, main.state.render
        # The dialog's precision is its own, remembered between exports (auto until changed there):
        # the view's may be a fast draft setting that a poster should not inherit.
        dlg = ExportDialog(main.jobs, s.latent, s.geometry, s.viewport_size,
                           precision=str(self.prefs.value(EXPORT_PRECISION_KEY, "auto")), warp_quality=r.warp_quality,
                           directory=str(self.prefs.value("export_dir", str(Path.home()))),
                           seconds_of=self.export_seconds, parent=main)
        dlg.precision.currentTextChanged.connect(lambda p: self.prefs.set_value(EXPORT_PRECISION_KEY, p))
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.exported.connect(lambda p: (main.statusBar().showMessage(f"Exported {p}", 8000),
                                        self.prefs.set_value("export_dir", str(Path(p).parent))))
        dlg.show()
        return dlg

    def project_image_dialog(self) -> ProjectDialog | None:
        """Open the projection dialog (non-modal): the ws of a picture become the current latent."""
        from creps_viewer.qt.dialogs.project_dialog import ProjectDialog  # imports the projector when asked

        main = self.main
        if self.session.loaded_model is None:
            main.message.show_message("Open a model before projecting a picture.", "error")
            return None
        dlg = ProjectDialog(main.jobs, main.state,
                            str(self.prefs.output_dir(QStandardPaths.PicturesLocation)), parent=main)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.projected.connect(lambda _: main.statusBar().showMessage("The projected ws are the current latent", 8000))
        dlg.show()
        return dlg

    def export_seconds(self, spec) -> float | None:
        """About how long an export takes here (its rotated or warped view counted at its warp
        quality); None until the explorer has measured this machine's speed."""
        s = self.main.state
        return None if s.model_summary is None else s.seconds_for(s.model_summary.view_macs(spec.render_view(),
                                                                                            spec.warp_quality))

    def show_model_info(self) -> None:
        summary = self.main.state.model_summary
        if summary is not None:
            ModelInfoDialog(summary, self.main).exec()
