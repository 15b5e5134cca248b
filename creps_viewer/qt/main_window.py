"""The explorer window: wires the state, the model session, the render worker, the job starter,
the viewport and the panels.

Data flow (one direction): widgets write :class:`ExplorerState`; every state change asks the
:class:`ModelSession` for the newest :class:`RenderRequest`, which goes to the worker; frames
come back as signals and are drawn by the viewport.  Models open in the worker too (a slow or
broken checkpoint never freezes the window); what a load, a workspace or a save means is the
session's business, and this module only connects the pieces and shows dialogs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import PySide6
import torch
from PySide6.QtCore import QSettings, QSize, Qt, Signal, qVersion
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from creps_core import __version__
from creps_core.jobs.structure import StructureProbe
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.demo import is_random
from creps_viewer.model.records import Geometry, ModelSummary, RenderSettings
from creps_viewer.model.session import ModelSession, ModelSource
from creps_viewer.model.state import ExplorerState
from creps_viewer.model.workspace import Workspace
from creps_viewer.qt import wheel_guard
from creps_viewer.qt.bookmarks_menu import BookmarksMenu
from creps_viewer.qt.capture import capture
from creps_viewer.qt.dialogs.help import AboutDialog, ShortcutsDialog
from creps_viewer.qt.dialogs.structure import StructureWindow
from creps_viewer.qt.file_menu import FileMenu, add_action, ask_model
from creps_viewer.qt.message_bar import MessageBar
from creps_viewer.qt.panels.geometry import GeometryPanel
from creps_viewer.qt.panels.keyframes import KeyframePanel
from creps_viewer.qt.panels.latent import LatentPanel
from creps_viewer.qt.panels.layer import LayerBar
from creps_viewer.qt.panels.render import RenderPanel
from creps_viewer.qt.preferences import Preferences
from creps_viewer.qt.screen_fit import fit_to_screen, refit_when_shown
from creps_viewer.qt.status_bar import StatusBar
from creps_viewer.qt.viewport import KEY_PAN, KEY_ROTATE, WHEEL_STEP, Viewport
from creps_viewer.render.frame_plan import PARTIAL, Frame
from creps_viewer.render.jobs import BackgroundJob, JobStarter
from creps_viewer.render.worker import RenderWorker

MODEL_SUFFIXES = (".pkl", ".safetensors")
DEFAULT_SIZE = QSize(1280, 800)  # a first start's window, as far as the screen allows


class MainWindow(QMainWindow):
    """``sync=True`` renders in the calling thread (tests); ``settings`` defaults to the user's QSettings.

    It is the session's :class:`~creps_viewer.model.session.SessionView` (messages, the viewport's
    size, a new model's title) and hands the documents the command line and the menus open
    (models, workspaces, images) to the session."""

    refined = Signal()  # a full-resolution frame of the newest request is on screen

    def __init__(self, sync: bool = False, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefs = Preferences(settings)
        self.state = ExplorerState(self)
        self.prefs.keep_bookmarks(self.state)
        self.worker = RenderWorker(sync=sync, parent=self)
        self.jobs = JobStarter(self)
        self.session = ModelSession(self.state, self.worker.load_model, self)
        self._render_error: str | None = None  # the message of the last failed render, while it shows
        self.setWindowTitle("CREPS Explorer")
        self.setAcceptDrops(True)
        wheel_guard.install(QApplication.instance())  # the wheel scrolls panels, not the controls under it
        self.viewport = Viewport(self.state)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.viewport, 1)
        self.message = MessageBar(central)  # over the viewport: a message never resizes it
        self.setCentralWidget(central)
        self._build_docks()
        self.status_bar = StatusBar()
        self.setStatusBar(self.status_bar)
        self._build_menus()
        self.status_bar.add_button(self.file_menu.capture_action)
        self.latent_panel.files.folder = str(self.prefs.value("latent_dir", ""))  # where Load directions starts
        self._connect()
        self.fits_screen = True  # False keeps a size asked for beyond the screen (--screenshot --size)
        if self.restoreGeometry(self.prefs.value("window/geometry", b"")):
            fit_to_screen(self)  # saved on a larger screen, or where no screen is now
        else:
            fit_to_screen(self, DEFAULT_SIZE)
        self.restoreState(self.prefs.value("window/state", b""))
        refit_when_shown(self, lambda: self.fits_screen)

    # ----- construction ---------------------------------------------------------------------
    def _build_docks(self) -> None:
        self.latent_panel = LatentPanel(self.state, ws_of=self.worker.ws_of)
        self.geometry_panel = GeometryPanel(self.state)
        self.render_panel = RenderPanel(self.state)
        self.video_panel = KeyframePanel(self.state, self.jobs)
        self.video_panel.rendered.connect(lambda p: self.statusBar().showMessage(f"Saved video {p}", 8000))
        self.tabs = QTabWidget()
        for panel, name in ((self.latent_panel, "Latent"), (self.geometry_panel, "Geometry"),
                            (self.render_panel, "Render"), (self.video_panel, "Video")):
            scroll = QScrollArea()
            scroll.setWidget(panel)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
            self.tabs.addTab(scroll, name)
        self.dock = QDockWidget("Controls", self)
        self.dock.setObjectName("controls")
        self.dock.setWidget(self.tabs)
        self.dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                              | QDockWidget.DockWidgetClosable)  # View > Controls shows and hides it
        self.dock.setMinimumWidth(340)
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.resizeDocks([self.dock], [380], Qt.Horizontal)
        self.layer_bar = LayerBar(self.state, self.viewport)  # View ▸ Layer: the feature view, over the view

    def _build_menus(self) -> None:
        s, mb = self.state, self.menuBar()
        self.file_menu = FileMenu(self)
        mb.addMenu(self.file_menu)
        m = mb.addMenu("&Edit")
        self.undo_action = add_action(m, "&Undo", s.undo, QKeySequence.Undo)
        self.redo_action = add_action(m, "&Redo", s.redo, QKeySequence.Redo)
        m = mb.addMenu("&Latent")
        add_action(m, "&Previous seed", lambda: self.latent_panel.step_seed(-1), "PgUp")
        add_action(m, "&Next seed", lambda: self.latent_panel.step_seed(+1), "PgDown")
        m = mb.addMenu("&View")  # window-wide keys: they reach the view whatever has the focus but a text field
        vp = self.viewport
        add_action(m, "&Reset view", vp.reset_view, ["0", "Home", "Ctrl+0"])
        add_action(m, "Zoom &in", lambda: vp.zoom_step(WHEEL_STEP), ["+", "=", "Ctrl+="])
        add_action(m, "Zoom &out", lambda: vp.zoom_step(1 / WHEEL_STEP), ["-", "Ctrl+-"])
        add_action(m, "Rotate &left", lambda: vp.rotate_step(-KEY_ROTATE), "[")
        add_action(m, "Rotate ri&ght", lambda: vp.rotate_step(KEY_ROTATE), "]")
        pan = m.addMenu("&Pan")
        add_action(pan, "Left", lambda: vp.pan_step(-KEY_PAN, 0), "Left")
        add_action(pan, "Right", lambda: vp.pan_step(KEY_PAN, 0), "Right")
        add_action(pan, "Up", lambda: vp.pan_step(0, -KEY_PAN), "Up")
        add_action(pan, "Down", lambda: vp.pan_step(0, KEY_PAN), "Down")
        m.addSeparator()
        m.addAction(self.dock.toggleViewAction())
        self.layer_action = self.layer_bar.toggle
        self.layer_action.setShortcut(QKeySequence("Ctrl+L"))
        m.addAction(self.layer_action)
        self.model_actions = [*self.file_menu.model_actions,
                              add_action(m, "&Structure…", self.show_structure, "Ctrl+Shift+B")]
        for act in self.model_actions:
            act.setEnabled(False)
        self.bookmarks_menu = BookmarksMenu(s, self.session.restore_bookmark, self)
        mb.addMenu(self.bookmarks_menu)
        m = mb.addMenu("&Help")
        add_action(m, "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.HelpContents)
        add_action(m, "&About CREPS Explorer", self.show_about)
        self._refresh_history()

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help ▸ Keyboard shortcuts: every key of every menu action, and the mouse gestures."""
        dlg = ShortcutsDialog(self.menuBar(), self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def about_facts(self) -> list[tuple[str, str]]:
        """Help ▸ About: the versions, where the open model runs and where the settings are kept."""
        return [("Version", __version__), ("PyTorch", torch.__version__),
                ("Qt", f"PySide6 {PySide6.__version__}, Qt {qVersion()}"),
                ("Device", self.state.device or "no model open yet"),
                ("Settings file", self.prefs.settings.fileName())]

    def show_about(self) -> AboutDialog:
        dlg = AboutDialog(self.about_facts(), self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def capture(self) -> Path | None:
        """File ▸ Capture window: a PNG of the window in the Pictures folder, under a new name."""
        try:
            path = capture(self)
        except OSError as e:
            self.message.show_message(f"Could not save a capture of the window: {e.strerror or e}", "error")
            return None
        self.statusBar().showMessage(f"Saved {path}", 8000)
        return path

    def _connect(self) -> None:
        s, w, bar = self.state, self.worker, self.status_bar
        s.latentChanged.connect(self.request_render)
        s.geometryChanged.connect(self.request_render)
        s.geometryChanged.connect(bar.show_geometry)
        s.renderChanged.connect(self._render_settings_changed)
        s.historyChanged.connect(self._refresh_history)
        s.viewportChanged.connect(self.request_render)
        s.featureChanged.connect(self.request_render)
        self.viewport.sizeChanged.connect(lambda: s.set_viewport_size(self.viewport.width(), self.viewport.height()))
        w.frameReady.connect(self._on_frame)
        w.renderFailed.connect(self._on_render_failed)
        w.activity.connect(bar.show_activity)
        w.progress.connect(bar.show_progress)
        w.modelLoaded.connect(self._on_model_loaded)
        w.modelFailed.connect(self.session.model_failed)

    # ----- what the command line, the menus and the tests open: the session's ------------------
    def open_model(self, source: ModelSource) -> None:
        self.session.open_model(source)

    def open_image(self, path: str | Path) -> None:
        self.session.open_image(path)

    def load_workspace(self, path: str | Path) -> None:
        self.session.load_workspace(path)

    def save_workspace(self, path: str | Path) -> None:
        self.session.save_workspace(path)

    def save_image(self, path: str | Path) -> None:
        self.session.save_image(path)

    def current_full_frame(self) -> Frame | None:
        return self.session.current_full_frame()

    # ----- the session's view ---------------------------------------------------------------
    def tell(self, text: str, kind: str = "error", action=None) -> None:
        self.message.show_message(text, kind, action)

    def retract(self, text: str) -> None:
        self.message.retract(text)

    def notify(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    def waiting(self, text: str) -> None:
        self.status_bar.activity_label.setText(text)

    def new_model(self, model: LoadedModel, summary: ModelSummary) -> None:
        self.viewport.clear_frame()
        if not is_random(model):
            self.prefs.add_recent_model(str(model.path))
            self.file_menu.refresh_recent()
        self.setWindowTitle(f"CREPS Explorer — {summary.label}")

    def resize_viewport(self, width: int, height: int) -> None:
        """Grow or shrink the window so the viewport gets this size, as far as the screen allows."""
        dw, dh = width - self.viewport.width(), height - self.viewport.height()
        if dw or dh:
            self.resize(self.width() + dw, self.height() + dh)
            if self.fits_screen:
                fit_to_screen(self)

    def locate_model(self, ws: Workspace, path: str | Path, found: str | None = None) -> None:
        """The user points at the missing model of a workspace or image; it opens with that state."""
        if found is None:
            found = ask_model(self, self.prefs.model_dir(), f"Locate {Path(ws.checkpoint).name}")
        if found:
            self.session.open_state(replace(ws, checkpoint=found), path)

    # ----- the worker -----------------------------------------------------------------------
    def request_render(self, *_: object) -> None:
        req = self.session.next_request(self.viewport.interacting or QGuiApplication.mouseButtons() != Qt.NoButton)
        if req is not None:
            self.worker.submit(req)

    def _render_settings_changed(self, settings: RenderSettings) -> None:
        self.session.render_settings_changed(settings)
        self.request_render()

    def _on_model_loaded(self, model: LoadedModel) -> None:
        device = str(self.worker.engine.device)
        self.jobs.set_model(model, device)
        for act in self.model_actions:
            act.setEnabled(True)
        self.status_bar.show_model(model, device)
        if not self.session.model_loaded(model, device):  # the same model moved to another device
            self.request_render()

    def _on_render_failed(self, message: str) -> None:
        self._render_error = message
        self.message.show_message(message, "error")

    def _on_frame(self, frame: Frame) -> None:
        self.viewport.show_frame(frame, Geometry.of(frame.view))
        if frame.level == PARTIAL:  # the refined frame, part way: shown, not timed
            return
        self.message.retract(self._render_error)  # rendering works again: the old failure is no longer true
        self._render_error = None
        self.render_panel.add_frame(frame)
        self.status_bar.show_frame(frame, settled=frame.is_final and self.session.is_newest(frame))
        if self.session.frame_arrived(frame):
            self.refined.emit()

    # ----- dialogs ----------------------------------------------------------------------------
    def show_structure(self) -> StructureWindow | None:
        """View ▸ Structure…: each block's lines, features, spectra and contributions (non-modal)."""
        model = self.session.loaded_model
        if model is None:
            return None
        s = self.state
        dlg = StructureWindow(s, lambda: StructureProbe(model, s.device or "auto", s.render.precision),
                              s.view, sync=self.worker.sync, parent=self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def _refresh_history(self) -> None:
        self.undo_action.setEnabled(self.state.can_undo)
        self.redo_action.setEnabled(self.state.can_redo)

    # ----- drag and drop, closing -----------------------------------------------------------
    def dragEnterEvent(self, e) -> None:
        if any(u.toLocalFile().lower().endswith(MODEL_SUFFIXES + (".json",)) for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        for url in e.mimeData().urls():
            path = url.toLocalFile()
            if path.lower().endswith(MODEL_SUFFIXES):
                self.open_model(path)
                return
            if path.lower().endswith(".json"):
                self.load_workspace(path)
                return

    def confirm_stop_jobs(self, jobs: list[BackgroundJob]) -> bool:
        """Ask before quitting stops running exports or videos (tests replace this method)."""
        answer = QMessageBox.question(
            self, "Quit CREPS Explorer",
            f"{len(jobs)} export or video job(s) are still running. Quit and stop them?\n\n"
            "Finished export tiles are kept: exporting to the same file again resumes.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def closeEvent(self, e) -> None:
        running = self.jobs.running
        if running and not self.confirm_stop_jobs(running):
            e.ignore()  # nothing is lost by accident
            return
        self.prefs.set_value("window/geometry", self.saveGeometry())
        self.prefs.set_value("window/state", self.saveState())
        self.prefs.set_value("latent_dir", self.latent_panel.files.folder)
        for job in self.findChildren(BackgroundJob):  # exports, videos (resumable), Structure analyses
            job.cancel()
            job.wait(10)
        self.worker.shutdown()
        super().closeEvent(e)
