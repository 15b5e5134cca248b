"""The explorer window: wires the state, the render worker, the job starter, the viewport
and the panels.

Data flow (one direction): widgets write :class:`ExplorerState`; every state change
makes the state build an immutable :class:`RenderRequest` for the worker; frames come
back as signals and are drawn by the viewport.  Model loading also goes through the
worker, so a slow or broken checkpoint never freezes the window and a failure leaves
the previous model in place.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from creps_core.jobs.metadata import RenderRecord, read_record, write_png
from creps_core.jobs.structure import StructureProbe
from creps_core.model.checkpoint import LoadedModel
from creps_core.model.demo import default_model, is_model_name, is_random, model_label
from creps_core.render.hardware import device_or_none, pick_device, precision_warning
from creps_viewer.model.records import Bookmark, Geometry, ModelSummary
from creps_viewer.model.state import ExplorerState
from creps_viewer.model.workspace import SUFFIX, Workspace, WorkspaceError, load_workspace, save_workspace
from creps_viewer.qt.dialogs.export_dialog import ExportDialog
from creps_viewer.qt.dialogs.model_info import ModelInfoDialog
from creps_viewer.qt.dialogs.structure import StructureWindow
from creps_viewer.qt.message_bar import MessageBar
from creps_viewer.qt.panels.geometry import GeometryPanel
from creps_viewer.qt.panels.keyframes import KeyframePanel
from creps_viewer.qt.panels.latent import LatentPanel
from creps_viewer.qt.panels.render import RenderPanel
from creps_viewer.qt.plain_text import menu_text, plain_label, plain_tooltip
from creps_viewer.qt.preferences import Preferences
from creps_viewer.qt.viewport import Viewport
from creps_viewer.render.frame_plan import PARTIAL, Frame, RenderRequest
from creps_viewer.render.jobs import BackgroundJob, JobStarter
from creps_viewer.render.worker import RenderWorker

MODEL_FILTER = "CREPS checkpoints (*.pkl *.safetensors);;All files (*)"
MODEL_SUFFIXES = (".pkl", ".safetensors")


class MainWindow(QMainWindow):
    """``sync=True`` renders in the calling thread (tests); ``settings`` defaults to the user's QSettings."""

    refined = Signal()  # a full-resolution frame of the newest request is on screen

    def __init__(self, sync: bool = False, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefs = Preferences(settings)
        self.state = ExplorerState(self)
        self.worker = RenderWorker(sync=sync, parent=self)
        self.jobs = JobStarter(self)
        self.model: LoadedModel | None = None
        self._fallback_note: str | None = None  # why the demo model is shown instead of the one asked for
        self._render_error: str | None = None  # the message of the last failed render, while it shows
        self.last_request: RenderRequest | None = None
        self.last_full: Frame | None = None
        self._pending_workspace: Workspace | None = None
        self._pending_save: Path | None = None
        self._frame_times: deque[float] = deque(maxlen=30)
        self.setWindowTitle("CREPS Explorer")
        self.setAcceptDrops(True)
        self._build_central()
        self._build_docks()
        self._build_status()
        self._build_menus()
        self._connect()
        self.resize(1280, 800)
        self.restoreGeometry(self.prefs.value("window/geometry", b""))
        self.restoreState(self.prefs.value("window/state", b""))

    # ----- construction ---------------------------------------------------------------------
    def _build_central(self) -> None:
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.message = MessageBar()
        self.viewport = Viewport(self.state)
        lay.addWidget(self.message)
        lay.addWidget(self.viewport, 1)
        self.setCentralWidget(central)

    def _build_docks(self) -> None:
        self.latent_panel = LatentPanel(self.state, ws_of=self.worker.ws_of)
        self.geometry_panel = GeometryPanel(self.state)
        self.render_panel = RenderPanel(self.state)
        self.video_panel = KeyframePanel(self.state, self.jobs)
        self.video_panel.rendered.connect(lambda p: self.statusBar().showMessage(f"Saved video {p}", 8000))
        tabs = QTabWidget()
        for panel, name in ((self.latent_panel, "Latent"), (self.geometry_panel, "Geometry"),
                            (self.render_panel, "Render"), (self.video_panel, "Video")):
            scroll = QScrollArea()
            scroll.setWidget(panel)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
            tabs.addTab(scroll, name)
        self.dock = QDockWidget("Controls", self)
        self.dock.setObjectName("controls")
        self.dock.setWidget(tabs)
        self.dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                              | QDockWidget.DockWidgetClosable)  # View > Controls shows and hides it
        self.dock.setMinimumWidth(340)
        self.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.resizeDocks([self.dock], [380], Qt.Horizontal)
        self.tabs = tabs

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.activity_label = plain_label()  # names the file it will save
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(140)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.timing_label = QLabel("")
        self.model_label = plain_label("no model")  # the model file's name
        self.view_label = QLabel("")
        bar.addWidget(self.activity_label, 1)
        bar.addPermanentWidget(self.view_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.timing_label)
        bar.addPermanentWidget(self.model_label)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        self._action(m, "&Open model…", self.open_model_dialog, QKeySequence.Open)
        self.recent_menu = m.addMenu("Open &recent")
        self._action(m, "Open &demo model", lambda: self.open_model(default_model()))
        m.addSeparator()
        self._action(m, "Open &workspace…", self.open_workspace_dialog, "Ctrl+Shift+O")
        self._action(m, "Open &image…", self.open_image_dialog, "Ctrl+Shift+I")
        self._action(m, "Save wor&kspace…", self.save_workspace_dialog, "Ctrl+Shift+S")
        m.addSeparator()
        self.model_actions = [  # enabled once a model is open
            self._action(m, "&Save image…", self.save_image_dialog, QKeySequence.Save),
            self._action(m, "&Copy image", self.copy_image, "Ctrl+Shift+C"),
            self._action(m, "&Export image…", self.export_image_dialog, "Ctrl+E")]
        m.addSeparator()
        self.model_actions.append(self._action(m, "Model &info…", self.show_model_info, "Ctrl+I"))
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.Quit)

        m = mb.addMenu("&Edit")
        self.undo_action = self._action(m, "&Undo", self.state.undo, QKeySequence.Undo)
        self.redo_action = self._action(m, "&Redo", self.state.redo, QKeySequence.Redo)

        m = mb.addMenu("&Latent")
        self._action(m, "&Previous seed", lambda: self.latent_panel.step_seed(-1), "PgUp")
        self._action(m, "&Next seed", lambda: self.latent_panel.step_seed(+1), "PgDown")

        m = mb.addMenu("&View")
        self._action(m, "&Reset view", lambda: self.state.set_geometry(Geometry(warp=self.state.geometry.warp)),
                     "Ctrl+0")
        self._action(m, "Zoom &in", lambda: self.state.update_geometry(zoom=self.state.geometry.zoom * 1.25), "Ctrl+=")
        self._action(m, "Zoom &out", lambda: self.state.update_geometry(zoom=self.state.geometry.zoom / 1.25), "Ctrl+-")
        m.addAction(self.dock.toggleViewAction())
        self.model_actions.append(self._action(m, "&Structure…", self.show_structure, "Ctrl+Shift+B"))
        for act in self.model_actions:
            act.setEnabled(False)

        self.bookmarks_menu = mb.addMenu("&Bookmarks")
        m = mb.addMenu("&Help")
        self._action(m, "&Controls", lambda: self.message.show_message(
            "Drag: pan · Wheel: zoom at cursor · Right-drag or Shift+drag: rotate · Double-click: centre · "
            "Arrows / + − / [ ] / 0: pan, zoom, rotate, reset · PgUp/PgDn: seed", "info"))
        self._refresh_recent()
        self._refresh_bookmarks()
        self._refresh_history()

    def _connect(self) -> None:
        s, w = self.state, self.worker
        s.latentChanged.connect(self.request_render)
        s.geometryChanged.connect(self.request_render)
        s.geometryChanged.connect(self._show_geometry)
        s.renderChanged.connect(self._render_settings_changed)
        s.historyChanged.connect(self._refresh_history)
        s.bookmarksChanged.connect(self._refresh_bookmarks)
        s.viewportChanged.connect(self.request_render)
        self.viewport.sizeChanged.connect(lambda: s.set_viewport_size(self.viewport.width(), self.viewport.height()))
        w.frameReady.connect(self._on_frame)
        w.renderFailed.connect(self._on_render_failed)
        w.activity.connect(self._on_activity)
        w.progress.connect(lambda p: self.progress.setValue(int(p.fraction * 1000)))
        w.modelLoaded.connect(self._on_model_loaded)
        w.modelFailed.connect(self._on_model_failed)

    # ----- models ---------------------------------------------------------------------------
    def open_model(self, source: str | Path | LoadedModel) -> None:
        """Open a checkpoint path or a loaded model; on failure the current model stays."""
        self.worker.load_model(source, device=self.state.render.device)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open CREPS model", self.prefs.model_dir(), MODEL_FILTER)
        if path:
            self.open_model(path)

    def _on_model_loaded(self, model: LoadedModel) -> None:
        device_switch = model is self.model  # same weights on another device: keep state and history
        self.model, device = model, str(self.worker.engine.device)
        self.jobs.set_model(model, device)
        for act in self.model_actions:
            act.setEnabled(True)
        summary = ModelSummary.of(model)
        self.model_label.setText(f"{summary.label} · {summary.resolution}px · {device}")
        self.last_full, self.last_request = None, None
        if device_switch:
            self.state.set_device(device)
            self.request_render()
            return
        self.viewport.clear_frame()
        if self.message.kind == "error":
            self.message.dismiss()
        if self._fallback_note is not None and self.model is model:
            self.message.show_message(self._fallback_note, "error")  # still true: say it over the demo
        if is_random(model):
            self.message.show_message(f"Showing a model with {model_label(model)}: the pictures are noise-like. "
                                      "Open a checkpoint with File ▸ Open or drop one on the window.", "info")
        else:
            self.prefs.add_recent_model(str(model.path))
            self._refresh_recent()
        self.setWindowTitle(f"CREPS Explorer — {summary.label}")
        pending, self._pending_workspace = self._pending_workspace, None
        self.state.set_model(summary, device)  # emits latent/geometry changes -> first render
        self._tell_fit()
        self.state.set_bookmarks(self.prefs.bookmarks(model.sha256) if model.sha256 else [])
        if pending is not None:
            self._apply_workspace(pending)

    def _on_model_failed(self, message: str) -> None:
        self._pending_workspace = None
        if self.state.device is not None and device_or_none(self.state.render.device) != self.state.device:
            self.state.update_render(device=self.state.device)  # the engine stayed where it was
        if self.model is None and self._fallback_note is None:
            # Nothing to show yet (a bad model on the command line): the demo, not a dead window.
            self._fallback_note = f"Could not open the model: {message} Showing the demo model instead."
            self.message.show_message(self._fallback_note, "error")
            self.open_model("demo")
            return
        keep = f" Still showing {model_label(self.model)}." if self.model is not None else ""
        self.message.show_message(f"Could not open the model: {message}{keep}", "error")

    def show_structure(self) -> StructureWindow | None:
        """View ▸ Structure…: each block's lines, features, spectra and contributions (non-modal)."""
        if self.model is None:
            return None
        dlg = StructureWindow(self.state, lambda: StructureProbe(self.model, self.state.device or "auto",
                                                                 self.state.render.precision),
                              self.state.view, sync=self.worker.sync, parent=self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.show()
        return dlg

    def show_model_info(self) -> None:
        if self.state.model is not None:
            ModelInfoDialog(self.state.model, self).exec()

    # ----- recent files and save paths ----------------------------------------------------------
    def recent_files(self) -> list[str]:
        return self.prefs.recent_models()

    def _ask_save_path(self, title: str, name: str, suffix: str, kind: QStandardPaths.StandardLocation,
                       filter_: str) -> Path | None:
        """A save dialog whose answer always carries ``suffix`` (typing 'ws1' saves 'ws1.creps.json')."""
        path, _ = QFileDialog.getSaveFileName(self, title, str(self.prefs.output_dir(kind) / name), filter_)
        if not path:
            return None
        path = Path(path)
        if not path.name.lower().endswith(suffix):
            path = path.with_name(path.name + suffix)
        self.prefs.saved_to(path)
        return path

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            self.recent_menu.addAction(menu_text(Path(path).name),
                                       lambda p=path: self.open_model(p)).setToolTip(plain_tooltip(path))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ----- rendering ------------------------------------------------------------------------
    def request_render(self, *_: object) -> None:
        if self.worker.engine is None or self.state.model is None:
            return
        try:
            req = self.state.request(interactive=self.viewport.interacting
                                     or QGuiApplication.mouseButtons() != Qt.NoButton)
        except ValueError as e:  # e.g. an invalid view typed into a panel
            self.message.show_message(f"Cannot render this view: {e}", "error")
            return
        if self.last_request is not None and req == self.last_request:
            return
        self.last_request = req
        self.worker.submit(req)

    def _render_settings_changed(self, settings) -> None:
        wanted = device_or_none(settings.device)
        if self.model is not None and wanted != self.state.device:
            self.open_model(self.model)  # a new engine on the new device, same model
        warning = precision_warning(settings.precision, pick_device(wanted)) if wanted else None
        if warning:
            self.message.show_message(f"{settings.precision}: {warning}.", "info")
        self.last_request = None
        self.request_render()

    def _on_render_failed(self, message: str) -> None:
        self._render_error = message
        self.message.show_message(message, "error")

    def _on_frame(self, frame: Frame) -> None:
        self.viewport.show_frame(frame, Geometry.of(frame.view))
        if frame.level == PARTIAL:  # the refined frame, part way: shown, not timed
            return
        if self._render_error is not None and self.message.text() == self._render_error:
            self.message.dismiss()  # rendering works again: the old failure is no longer true
        self._render_error = None
        self.render_panel.add_frame(frame)
        now = time.perf_counter()
        self._frame_times.append(now)
        recent = [t for t in self._frame_times if now - t < 2.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 2 else 0.0
        settled = frame.is_final and frame.request == self.last_request  # nothing more is coming
        rate = f" · {fps:.1f} fps" if fps and not settled else ""  # a rate only while frames keep coming
        self.timing_label.setText(f"{frame.level} {frame.ms:.0f} ms{rate}")
        if frame.is_final:
            self.state.note_speed(frame.macs, frame.ms)
            self.last_full = frame
            if frame.request == self.last_request:
                if self._pending_save is not None:
                    path, self._pending_save = self._pending_save, None
                    self._write_image(path, frame)
                self.refined.emit()

    def _show_geometry(self, g: Geometry) -> None:
        warp = f" · {g.warp.kind}" if g.warp is not None else ""
        self.view_label.setText(f"zoom {g.zoom:.3g} · centre ({g.center[0]:.4f}, {g.center[1]:.4f}) · "
                                f"{g.rotation:.1f}°{warp}")

    def _on_activity(self, text: str) -> None:
        self.activity_label.setText(f"Rendering: {text}" if text else "Ready")
        self.progress.setVisible(bool(text) and not text.startswith("preview"))
        if not text:
            self.progress.setValue(0)

    # ----- images ---------------------------------------------------------------------------
    def current_full_frame(self) -> Frame | None:
        """The refined frame of exactly what is on screen, if it has arrived."""
        f = self.last_full
        return f if f is not None and f.request == self.last_request else None

    def save_image(self, path: str | Path) -> None:
        """Save the current view as PNG with provenance (now, or when its refined frame arrives)."""
        frame = self.current_full_frame()
        if frame is None:
            self._pending_save = Path(path)
            self.activity_label.setText(f"Will save {Path(path).name} when the frame is refined…")
            return
        self._write_image(Path(path), frame)

    def _write_image(self, path: Path, frame: Frame) -> None:
        m, r = self.model, frame.request
        record = RenderRecord(checkpoint=str(m.path), checkpoint_sha256=m.sha256, latent=r.latent, view=r.view,
                              precision=r.precision, exact=r.exact, network=m.network)
        try:
            write_png(path, frame.rgb, record)
        except OSError as e:
            self.message.show_message(f"Could not save {path}: {e.strerror or e}", "error")
        else:
            self.statusBar().showMessage(f"Saved {path}", 5000)

    def save_image_dialog(self) -> None:
        path = self._ask_save_path("Save image", f"creps_seed{self.state.latent.seed}.png", ".png",
                                   QStandardPaths.PicturesLocation, "PNG (*.png)")
        if path:
            self.save_image(path)

    def export_image_dialog(self) -> ExportDialog | None:
        """Open the export dialog for the current view (non-modal: exploring continues meanwhile)."""
        if self.model is None:
            self.message.show_message("Open a model before exporting.", "error")
            return None
        r = self.state.render
        dlg = ExportDialog(self.jobs, self.state.latent, self.state.geometry, self.state.viewport_size,
                           precision=r.precision, exact=r.exact,
                           directory=str(self.prefs.value("export_dir", str(Path.home()))), parent=self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.exported.connect(lambda p: (self.statusBar().showMessage(f"Exported {p}", 8000),
                                        self.prefs.set_value("export_dir", str(Path(p).parent))))
        self.export_dialog = dlg
        dlg.show()
        return dlg

    def copy_image(self) -> None:
        frame = self.current_full_frame() or self.last_full
        if frame is None:
            return
        h, w, _ = frame.rgb.shape
        QGuiApplication.clipboard().setImage(QImage(frame.rgb.data, w, h, 3 * w, QImage.Format_RGB888).copy())
        self.statusBar().showMessage("Image copied", 3000)

    # ----- workspaces -----------------------------------------------------------------------
    def save_workspace(self, path: str | Path) -> None:
        try:
            save_workspace(path, self.state.workspace())
        except OSError as e:
            self.message.show_message(f"Could not save the workspace {path}: {e.strerror or e}", "error")

    def load_workspace(self, path: str | Path) -> None:
        """Open a workspace: its model (if different), then its latent, view, settings and bookmarks."""
        try:
            ws = load_workspace(path)
        except WorkspaceError as e:
            self.message.show_message(str(e), "error")
            return
        self._open_state(ws, path)

    def open_image(self, path: str | Path) -> None:
        """Open a PNG/TIFF this tool made: its model, latent and view, from the provenance it carries.

        The window keeps its size and everything else (bookmarks, keyframes) stays as it is."""
        try:
            record = read_record(path)
        except (ValueError, OSError) as e:
            self.message.show_message(f"Cannot open {Path(path).name}: {e}", "error")
            return
        v = record.view
        here = self.state.workspace()
        ws = replace(here, checkpoint=record.checkpoint, checkpoint_sha256=record.checkpoint_sha256,
                     latent=record.latent,
                     geometry=Geometry.of(v),
                     render=replace(here.render, precision=record.precision, exact=record.exact))
        self._open_state(ws, path)

    def locate_model(self, ws: Workspace, path: str | Path, found: str | None = None) -> None:
        """The user points at the missing model of a workspace or image; it opens with that state."""
        if found is None:
            found, _ = QFileDialog.getOpenFileName(self, f"Locate {Path(ws.checkpoint).name}",
                                                   self.prefs.model_dir(), MODEL_FILTER)
        if found:
            self._open_state(replace(ws, checkpoint=found), path)

    def _open_state(self, ws: Workspace, path: str | Path) -> None:
        """Switch to ``ws``'s model if it is another one, then apply ``ws``."""
        current = str(self.model.path) if self.model is not None else None
        if ws.checkpoint and ws.checkpoint != current:
            if not (Path(ws.checkpoint).exists() or is_model_name(ws.checkpoint)):
                if self.model is None:  # nothing open yet: show the view on the demo model
                    self._fallback_note = f"{path}: its model {ws.checkpoint} is missing; showing the demo model."
                    self._pending_workspace = ws
                    self.open_model("demo")
                    return
                self._apply_workspace(ws)
                self.message.show_message(f"{path}: its model {ws.checkpoint} is missing; "
                                          "the view was applied to the current model.", "error",
                                          ("Locate the model…", lambda: self.locate_model(ws, path)))
                return
            self._pending_workspace = ws
            self.open_model(ws.checkpoint)
        else:
            self._apply_workspace(ws)

    def _apply_workspace(self, ws: Workspace) -> None:
        same_file = self.model is not None and ws.checkpoint == str(self.model.path)
        if same_file and ws.checkpoint_sha256 and self.model.sha256 != ws.checkpoint_sha256:
            self.message.show_message("The workspace was saved with a different version of this model file "
                                      "(sha256 differs): the picture may not match.", "info")
        if ws.viewport_size != self.state.viewport_size:
            self.resize_viewport(*ws.viewport_size)
        self.state.set_render(ws.render)
        self.state.set_bookmarks(ws.bookmarks)
        self.state.set_keyframes(ws.keyframes)
        self.state.restore(ws.latent, ws.geometry)
        self._tell_fit()

    def _tell_fit(self) -> None:
        """Say how a latent made for another model was adapted to this one (if it was)."""
        if self.state.fit_notes:
            self.message.show_message("Adapted to this model: " + "; ".join(self.state.fit_notes) + ".", "info")

    def restore_bookmark(self, bookmark: Bookmark) -> None:
        self.state.restore(bookmark.latent, bookmark.geometry)
        self._tell_fit()

    def resize_viewport(self, width: int, height: int) -> None:
        """Grow or shrink the window so the viewport gets this size (best effort)."""
        dw, dh = width - self.viewport.width(), height - self.viewport.height()
        if dw or dh:
            self.resize(self.width() + dw, self.height() + dh)

    def open_workspace_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open workspace", str(self.prefs.output_dir(QStandardPaths.DocumentsLocation)),
                                              f"Workspaces (*{SUFFIX} *.json)")
        if path:
            self.load_workspace(path)

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image made by CREPS Explorer",
                                              str(self.prefs.output_dir(QStandardPaths.PicturesLocation)),
                                              "Images (*.png *.tif *.tiff *.jpg *.jpeg)")
        if path:
            self.open_image(path)

    def save_workspace_dialog(self) -> None:
        path = self._ask_save_path("Save workspace", f"view{SUFFIX}", SUFFIX, QStandardPaths.DocumentsLocation,
                                   f"Workspaces (*{SUFFIX})")
        if path:
            self.save_workspace(path)

    # ----- bookmarks and history ---------------------------------------------------------
    def rename_bookmark(self, index: int) -> None:
        name, ok = QInputDialog.getText(self, "Rename bookmark", "Name:", text=self.state.bookmarks[index].name)
        if ok:
            self.state.rename_bookmark(index, name)

    def _refresh_bookmarks(self) -> None:
        m = self.bookmarks_menu
        m.clear()
        self._action(m, "&Add bookmark", lambda: self.state.add_bookmark(), "Ctrl+D")
        if self.state.bookmarks:
            m.addSeparator()
            for i, bm in enumerate(self.state.bookmarks):
                m.addAction(menu_text(bm.name), lambda b=bm: self.restore_bookmark(b))
            m.addSeparator()
            edit = m.addMenu("&Rename or delete")
            for i, bm in enumerate(self.state.bookmarks):
                sub = edit.addMenu(menu_text(bm.name))
                sub.addAction("Rename…", lambda i=i: self.rename_bookmark(i))
                sub.addAction("Delete", lambda i=i: self.state.delete_bookmark(i))
            self._action(m, "&Clear bookmarks", lambda: self.state.set_bookmarks([]))
        if self.model is not None:
            self.prefs.store_bookmarks(self.model.sha256, self.state.bookmarks)

    def _refresh_history(self) -> None:
        self.undo_action.setEnabled(self.state.can_undo)
        self.redo_action.setEnabled(self.state.can_redo)

    # ----- drag and drop, closing -----------------------------------------------------------
    def dragEnterEvent(self, e) -> None:  # noqa: N802
        if any(self._droppable(u.toLocalFile()) for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:  # noqa: N802
        for url in e.mimeData().urls():
            path = url.toLocalFile()
            if path.lower().endswith(MODEL_SUFFIXES):
                self.open_model(path)
                return
            if path.lower().endswith(".json"):
                self.load_workspace(path)
                return

    @staticmethod
    def _droppable(path: str) -> bool:
        return path.lower().endswith(MODEL_SUFFIXES + (".json",))

    def confirm_stop_jobs(self, jobs: list[BackgroundJob]) -> bool:
        """Ask before quitting stops running exports or videos (tests replace this method)."""
        answer = QMessageBox.question(
            self, "Quit CREPS Explorer",
            f"{len(jobs)} export or video job(s) are still running. Quit and stop them?\n\n"
            "Finished export tiles are kept: exporting to the same file again resumes.",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
        return answer == QMessageBox.Yes

    def closeEvent(self, e) -> None:  # noqa: N802
        running = self.jobs.running
        if running and not self.confirm_stop_jobs(running):
            e.ignore()  # nothing is lost by accident
            return
        self.prefs.set_value("window/geometry", self.saveGeometry())
        self.prefs.set_value("window/state", self.saveState())
        for job in self.findChildren(BackgroundJob):  # exports, videos (resumable), Structure analyses
            job.cancel()
            job.wait(10)
        self.worker.shutdown()
        super().closeEvent(e)
