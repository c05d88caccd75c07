"""The main window: wires document, mask, canvas, fill workers and comparison together.

It owns the undo stack and the task runner; heavy work (model loading, fills) only ever runs through
the runner, so the GUI thread stays free to paint.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QColor,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QKeySequence,
    QPainter,
    QPixmap,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QSpinBox,
    QTabWidget,
    QToolBar,
    QToolButton,
    QWidget,
)

from app import APP_NAME
from app import settings as S
from app.batch_dialog import BatchDialog
from app.canvas import MAX_BRUSH, MIN_BRUSH, Canvas
from app.dialogs import SettingsDialog, about_text, confirm_discard, confirm_overwrite, show_error
from app.document import SAVE_FILTER, SAVE_SUFFIXES, Document, open_filter
from app.fill import FillOptions, ModelCache, load_model_task
from app.fill_controller import FillController, FillJob
from app.fill_panel import FillPanel
from app.mask import SAMPLING_COLOR, MaskLayer
from app.mask_ops import grow, shrink
from app.paths import icon, log_dir
from app.qtimage import pil_to_qimage
from app.results import ResultsView
from app.tools import Tool
from app.train_wizard import TrainWizard
from app.undo import ApplyFillCommand, MaskEditCommand
from app.workers import Task, TaskRunner
from model.errors import InpaintError

EDIT_TAB, COMPARE_TAB = 0, 1


def device_choices() -> dict[str, str]:
    """Device setting values with labels that say what is actually present on this machine."""
    from model.devices import describe, resolve_device

    labels = {"auto": f"Automatic ({describe(resolve_device('auto'))})", "cpu": "CPU"}
    for name in ("cuda", "mps"):
        try:
            labels[name] = describe(resolve_device(name))
        except (RuntimeError, ValueError):
            labels[name] = f"{name.upper()} (not available)"
    return labels


def device_label(choice: str) -> str:
    from model.devices import describe, resolve_device

    try:
        return describe(resolve_device(choice))
    except (RuntimeError, ValueError) as exc:
        return f"unavailable: {exc}"


def _color_swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(18, 18)
    pixmap.fill(color)
    return QIcon(pixmap)


class MainWindow(QMainWindow):
    fillFinished = Signal()  # all methods of a fill are done (finished, failed or cancelled)
    modelLoaded = Signal(bool)

    def __init__(self, settings: S.Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.document: Document | None = None
        self.layer: MaskLayer | None = None
        self.sampling_layer: MaskLayer | None = None
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(200)
        self.runner = TaskRunner(parent=self)
        self.models = ModelCache()
        self._mask_color = QColor(settings.get(S.MASK_COLOR))
        self._seeds = itertools.count(1)  # variation seeds: each press of Variations tries ones not tried yet

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)
        self.canvas = Canvas(self.undo_stack)
        self.canvas.set_brush_size(settings.get(S.BRUSH_SIZE))
        self.canvas.set_overlay_opacity(settings.get(S.MASK_OPACITY))
        self.results = ResultsView()
        self.results.applyRequested.connect(self.apply_result)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.canvas, "Edit")
        self.tabs.addTab(self.results, "Compare")
        self.setCentralWidget(self.tabs)

        self.fill_panel = FillPanel(settings)
        self.fill_panel.fillRequested.connect(self.start_fill)
        self.fill_panel.variationsRequested.connect(self.start_variations)
        self.fill_panel.cancelRequested.connect(self.cancel_fill)
        self.fills = FillController(self.runner, self.models, self.fill_panel, self.results, self)
        self.fills.finished.connect(self._on_fills_finished)
        dock = QDockWidget("Fill", self)
        dock.setObjectName("fillDock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setWidget(self.fill_panel)
        dock.setMinimumWidth(250)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        self._make_actions()
        self._make_menus()
        self._make_toolbars()
        self._make_status_bar()
        self.canvas.brushSizeChanged.connect(self._on_brush_size)
        self.canvas.cursorMoved.connect(self._on_cursor)
        self.canvas.viewChanged.connect(self._on_zoom)
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._update_title)
        self.update_device_labels()
        self._restore_geometry()
        self.style()  # PySide builds its QStyle enum wrappers on first use (~20 ms): now, not on the first fill

    # ------------------------------------------------------------------ actions
    def _action(self, text: str, slot, shortcut=None, icon_name: str | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icon(icon_name))
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
        tip = tip or text.replace("&", "").replace("…", "")
        if action.shortcut().toString():
            tip += f" ({action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.open_action = self._action("&Open…", self.open_dialog, K.Open, "open")
        self.paste_action = self._action("&Paste image", self.paste, K.Paste)
        self.save_action = self._action("&Save", self.save, K.Save, "save")
        self.save_as_action = self._action("Save &As…", lambda: self.save_as(), K.SaveAs)
        self.quit_action = self._action("&Quit", self.close, K.Quit)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts([QKeySequence(K.Undo)])
        self.undo_action.setIcon(icon("undo"))
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.setIcon(icon("redo"))
        self.addActions([self.undo_action, self.redo_action])

        self.tool_actions: dict[Tool, QAction] = {}
        for tool, key, name, tip in (
            (Tool.BRUSH, "B", "brush", "Brush: paint what should go"),
            (Tool.RECT, "M", "rectangle", "Rectangle: drag a box (Alt erases)"),
            (Tool.ERASER, "E", "eraser", "Eraser: remove mask"),
            (Tool.SAMPLE, "S", "sample", "Sampling brush: paint where the fill may copy from (Alt erases)"),
        ):
            action = self._action(tool.value, lambda _=False, t=tool: self.set_tool(t), key, name, tip)
            action.setCheckable(True)
            self.tool_actions[tool] = action
        self.tool_actions[Tool.BRUSH].setChecked(True)
        self.clear_action = self._action("Clear mask", lambda: self.mask_op("Clear mask", np.zeros_like),
                                         "Ctrl+Shift+A", "clear")
        self.clear_sampling_action = self._action(
            "Clear sampling area", lambda: self.mask_op("Clear sampling area", np.zeros_like, self.sampling_layer),
            tip="Clear the sampling area: fills copy from around the hole again")
        self.invert_action = self._action("Invert mask", lambda: self.mask_op("Invert mask", lambda m: ~m),
                                          "Ctrl+I", "invert")
        self.grow_action = self._action("Grow mask", lambda: self.mask_op("Grow mask", lambda m: grow(m, self.grow_spin.value())),
                                        "Ctrl+Shift+=", "grow")
        self.shrink_action = self._action("Shrink mask",
                                          lambda: self.mask_op("Shrink mask", lambda m: shrink(m, self.grow_spin.value())),
                                          "Ctrl+Shift+-", "shrink")
        self.fill_action = self._action("&Fill", self.start_fill, ["Ctrl+Return", "Ctrl+Enter"], "fill")
        self.variations_action = self._action("Fill &variations", self.start_variations,
                                              ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"],
                                              tip="Fill again with new seeds and compare the results")
        self.cancel_action = self._action("Cancel fill", self.cancel_fill, "Esc")
        self.fit_action = self._action("&Fit", self.fit, "Ctrl+0", "fit")
        self.actual_action = self._action("&100%", self.actual_size, "Ctrl+1", "actual")
        self.zoom_in_action = self._action("Zoom &in", lambda: self._zoom(1.25), K.ZoomIn)
        self.zoom_out_action = self._action("Zoom &out", lambda: self._zoom(0.8), K.ZoomOut)
        self.settings_action = self._action("&Settings…", self.open_settings, K.Preferences, "settings")
        self.batch_action = self._action("&Batch fill folder…", self.open_batch_dialog)
        self.train_action = self._action("Fine-&tune on my photos…", self.open_train_wizard)
        self.about_action = self._action("&About ContextFill", self.show_about)
        self.logs_action = self._action("Show &log folder", self.show_log_folder)

    def _make_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(self.paste_action)
        file_menu.addSeparator()
        file_menu.addActions([self.save_action, self.save_as_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = bar.addMenu("&Edit")
        edit_menu.addActions([self.undo_action, self.redo_action])
        edit_menu.addSeparator()
        edit_menu.addActions([self.clear_action, self.invert_action, self.grow_action, self.shrink_action])
        edit_menu.addAction(self.clear_sampling_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.settings_action)
        tools_menu = bar.addMenu("&Tools")
        tools_menu.addActions(list(self.tool_actions.values()))
        tools_menu.addSeparator()
        tools_menu.addActions([self.fill_action, self.variations_action, self.cancel_action])
        tools_menu.addSeparator()
        tools_menu.addActions([self.batch_action, self.train_action])
        view_menu = bar.addMenu("&View")
        view_menu.addActions([self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action])
        help_menu = bar.addMenu("&Help")
        help_menu.addActions([self.about_action, self.logs_action])

    def _make_toolbars(self) -> None:
        tools = QToolBar("Tools", self)
        tools.setObjectName("tools")
        tools.setMovable(False)
        tools.setIconSize(tools.iconSize() * 1.1)
        tools.addActions(list(self.tool_actions.values()))
        tools.addSeparator()
        tools.addActions([self.clear_action, self.invert_action, self.grow_action, self.shrink_action])
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, tools)

        top = QToolBar("Options", self)
        top.setObjectName("options")
        top.setMovable(False)
        top.addActions([self.open_action, self.save_action])
        top.addSeparator()
        top.addActions([self.undo_action, self.redo_action])
        top.addSeparator()
        top.addWidget(QLabel(" Size "))
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(MIN_BRUSH, 200)
        self.size_slider.setFixedWidth(140)
        self.size_slider.setToolTip("Brush size ([ and ] keys)")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(MIN_BRUSH, MAX_BRUSH)
        self.size_spin.setSuffix(" px")
        for widget in (self.size_slider, self.size_spin):
            widget.setValue(self.canvas.brush_size)
            widget.valueChanged.connect(self.canvas.set_brush_size)
            top.addWidget(widget)
        top.addSeparator()
        top.addWidget(QLabel(" Grow/shrink "))
        self.grow_spin = QSpinBox()
        self.grow_spin.setRange(1, 200)
        self.grow_spin.setSuffix(" px")
        self.grow_spin.setValue(self.settings.get(S.GROW_PX))
        self.grow_spin.valueChanged.connect(lambda v: self.settings.set(S.GROW_PX, v))
        top.addWidget(self.grow_spin)
        top.addSeparator()
        top.addWidget(QLabel(" Mask "))
        self.color_button = QToolButton()
        self.color_button.setIcon(_color_swatch(self._mask_color))
        self.color_button.setToolTip("Mask overlay colour")
        self.color_button.clicked.connect(self.choose_mask_color)
        top.addWidget(self.color_button)
        top.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(10, 100)
        self.opacity_slider.setFixedWidth(100)
        self.opacity_slider.setValue(self.settings.get(S.MASK_OPACITY))
        self.opacity_slider.setToolTip("Mask overlay opacity")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        top.addWidget(self.opacity_slider)
        top.addSeparator()
        top.addActions([self.fit_action, self.actual_action])
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().Policy.Expanding, spacer.sizePolicy().Policy.Preferred)
        top.addWidget(spacer)
        top.addAction(self.settings_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, top)

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.pos_label = QLabel()
        self.size_label = QLabel()
        self.zoom_label = QLabel()
        self.device_status = QLabel()
        self.device_status.setToolTip("Device used for fills (change it in Settings)")
        for label in (self.pos_label, self.size_label, self.zoom_label, self.device_status):
            bar.addPermanentWidget(label)

    # ------------------------------------------------------------------ documents
    def open_path(self, path: str | Path) -> bool:
        try:
            document = Document.open(path)
        except InpaintError as exc:
            show_error(self, "Cannot open image", str(exc))
            return False
        except MemoryError:
            show_error(self, "Cannot open image", f"{Path(path).name} is too large to open in memory.")
            return False
        self.set_document(document)
        self.settings.add_recent(str(Path(path).resolve()))
        self.settings.set(S.LAST_DIR, str(Path(path).resolve().parent))
        return True

    def set_document(self, document: Document) -> None:
        self.fills.reset()
        self.undo_stack.clear()
        self.document = document
        document.imageChanged.connect(self._on_image_changed)
        self.layer = MaskLayer(self._qsize(document), self._mask_color, self)
        self.sampling_layer = MaskLayer(self._qsize(document), QColor(SAMPLING_COLOR), self)
        self.canvas.set_image(pil_to_qimage(document.image))
        self.canvas.set_layers(self.layer, self.sampling_layer)
        self.canvas.fit()
        self.tabs.setCurrentIndex(EDIT_TAB)
        w, h = document.image.size
        self.size_label.setText(f"{w} × {h} {document.image.mode}")
        self._update_title()
        self.statusBar().showMessage(document.note or f"Opened {document.display_name}", 5000)

    @staticmethod
    def _qsize(document: Document):
        from PySide6.QtCore import QSize

        return QSize(*document.image.size)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.settings.get(S.LAST_DIR), open_filter())
        if path:
            self.open_path(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.get(S.RECENT)
        for path in recent:
            self.recent_menu.addAction(Path(path).name, lambda p=path: self.open_path(p)).setToolTip(path)
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    def paste(self) -> None:
        """Paste an image, or a copied image file, from the clipboard."""
        data = QGuiApplication.clipboard().mimeData()
        if data.hasUrls() and data.urls()[0].isLocalFile():
            self.open_path(data.urls()[0].toLocalFile())
        elif data.hasImage():
            self.set_document(Document(qimage_to_pil(QImage(data.imageData()))))
        else:
            self.statusBar().showMessage("The clipboard holds no image", 4000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        data = event.mimeData()
        if (data.hasUrls() and data.urls()[0].isLocalFile()) or data.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        data = event.mimeData()
        if data.hasUrls() and data.urls()[0].isLocalFile():
            self.open_path(data.urls()[0].toLocalFile())
        elif data.hasImage():
            self.set_document(Document(qimage_to_pil(QImage(data.imageData()))))
        event.acceptProposedAction()

    def save(self) -> bool:
        if self.document is None:
            return False
        if self.document.saved_path is None:
            return self.save_as()
        return self._write(self.document.saved_path)

    def save_as(self, path: str | Path | None = None) -> bool:
        """Save to a new file. Without `path`, a dialog proposes `<name>-filled.<ext>`; replacing asks first."""
        if self.document is None:
            return False
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save image as", str(self.document.proposed_save_path()), SAVE_FILTER,
                options=QFileDialog.Option.DontConfirmOverwrite,
            )
            if not chosen:
                return False
            path = chosen
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        if path.suffix.lower() not in SAVE_SUFFIXES:
            show_error(self, "Cannot save", f"{path.name}: choose a .png, .jpg, .webp or .tif file name.")
            return False
        if path.exists() and not confirm_overwrite(self, path):
            return False
        return self._write(path)

    def _write(self, path: Path) -> bool:
        try:
            saved = self.document.save(path, jpeg_quality=self.settings.get(S.JPEG_QUALITY))
        except (InpaintError, OSError, ValueError) as exc:
            show_error(self, "Cannot save", f"Could not save {path.name}: {exc}")
            return False
        self.undo_stack.setClean()
        self.statusBar().showMessage(f"Saved {saved}", 5000)
        self._update_title()
        return True

    def _has_unsaved_fill(self) -> bool:
        if self.undo_stack.isClean():
            return False
        return any(isinstance(self.undo_stack.command(i), ApplyFillCommand) for i in range(self.undo_stack.index()))

    def _update_title(self) -> None:
        if self.document is None:
            self.setWindowTitle(APP_NAME)
            return
        star = "*" if self._has_unsaved_fill() else ""
        self.setWindowTitle(f"{self.document.display_name}{star} — {APP_NAME}")

    def _on_image_changed(self) -> None:
        self.canvas.set_image(pil_to_qimage(self.document.image))

    # ------------------------------------------------------------------ mask editing
    def set_tool(self, tool: Tool) -> None:
        for t, action in self.tool_actions.items():
            action.setChecked(t is tool)
        self.canvas.set_tool(tool)
        self.tabs.setCurrentIndex(EDIT_TAB)

    def mask_op(self, name: str, fn, layer: MaskLayer | None = None) -> None:
        """Apply a whole-mask operation to `layer` (the hole mask by default) as one undo step."""
        layer = layer or self.layer
        if layer is None:
            return
        before = layer.array()
        layer.set_array(fn(before))
        MaskEditCommand.record(self.undo_stack, layer, before, name)
        self.tabs.setCurrentIndex(EDIT_TAB)

    def _on_brush_size(self, size: int) -> None:
        for widget in (self.size_slider, self.size_spin):
            widget.blockSignals(True)
            widget.setValue(size)
            widget.blockSignals(False)
        self.settings.set(S.BRUSH_SIZE, size)

    def _on_opacity(self, value: int) -> None:
        self.canvas.set_overlay_opacity(value)
        self.settings.set(S.MASK_OPACITY, value)

    def choose_mask_color(self) -> None:
        color = QColorDialog.getColor(self._mask_color, self, "Mask colour")
        if color.isValid():
            self.set_mask_color(color)

    def set_mask_color(self, color: QColor) -> None:
        self._mask_color = QColor(color)
        self.color_button.setIcon(_color_swatch(color))
        self.settings.set(S.MASK_COLOR, color.name())
        if self.layer is not None:
            self.layer.set_color(color)

    def _on_cursor(self, pos) -> None:
        self.pos_label.setText(f"{int(pos.x())}, {int(pos.y())}")

    def _on_zoom(self) -> None:
        self.zoom_label.setText(f"{self.canvas.zoom():.0%}")

    def _current_view(self):
        if self.tabs.currentIndex() == COMPARE_TAB and self.results.panels:
            return next(iter(self.results.panels.values())).view
        return self.canvas

    def fit(self) -> None:
        self._current_view().fit()

    def actual_size(self) -> None:
        self._current_view().actual_size()

    def _zoom(self, factor: float) -> None:
        self._current_view().zoom_by(factor)

    # ------------------------------------------------------------------ fill
    def fill_options(self) -> FillOptions:
        return FillOptions.from_settings(self.settings)

    def update_device_labels(self) -> None:
        options = self.fill_options()
        label = device_label(options.device)
        self.device_status.setText(f"Device: {label}")
        self.fill_panel.device_label.setText(f"Device: {label}")
        self.fill_panel.model_label.setText(f"Model: {options.resolved_model_path().name}")

    def preload_model(self, report_errors: bool = False) -> Task:
        """Load the chosen model on the worker so the first fill does not wait for it."""
        options = self.fill_options()
        name = options.resolved_model_path().name
        self.fill_panel.model_label.setText(f"Model: {name} (loading…)")
        task = Task(load_model_task(options, self.models), name="load model")

        def loaded(model) -> None:
            params = sum(p.numel() for p in model.net.parameters())
            self.fill_panel.model_label.setText(f"Model: {name} · {params / 1e6:.2f}M parameters")
            self.fill_panel.model_label.setToolTip(str(model.path))
            self.modelLoaded.emit(True)

        def failed(message: str, details: str) -> None:
            self.fill_panel.model_label.setText(f"Model: {name} — failed to load")
            self.fill_panel.model_label.setToolTip(message)
            self.statusBar().showMessage(f"The model could not be loaded: {message}", 10000)
            if report_errors:
                show_error(self, "Cannot load model", message, details)
            self.modelLoaded.emit(False)

        task.signals.finished.connect(loaded)
        task.signals.errored.connect(failed)
        return self.runner.submit(task)

    @property
    def fill_results(self) -> dict:
        """key -> FillResult of the comparison shown; keys are methods, and method@seed for variations."""
        return self.fills.results

    def is_filling(self) -> bool:
        return self.fills.is_running()

    def _fill_request(self) -> tuple[np.ndarray, FillOptions] | None:
        """The hole and the options to fill it with (the sampling area, if painted), or None with a hint."""
        if self.document is None or self.layer is None or self.is_filling():
            return None
        mask = self.layer.array()
        if not mask.any():
            self.statusBar().showMessage("Paint over the area to fill first (brush or rectangle)", 5000)
            return None
        return mask, self.fill_options().sampling_from(self.sampling_layer.array())

    def start_fill(self) -> bool:
        """Fill with each checked method and compare the results side by side."""
        request = self._fill_request()
        if request is None:
            return False
        methods = self.fill_panel.checked_methods()
        if not methods:
            self.statusBar().showMessage("Choose at least one method in the Fill panel", 5000)
            return False
        mask, options = request
        self._compare([FillJob(m, m, S.METHOD_LABELS[m], options) for m in methods], mask, fresh=True)
        return True

    def start_variations(self) -> bool:
        """Fill again with new seeds: the checked patch-based methods (else patch) once per seed, as extra
        panels beside the comparison of the same hole, or in a new one."""
        request = self._fill_request()
        if request is None:
            return False
        mask, options = request
        methods = [m for m in self.fill_panel.checked_methods() if m in S.PATCH_METHODS] or ["patch"]
        count = self.fill_panel.variations_spin.value()
        seeds = itertools.islice((s for s in self._seeds if s != options.seed), count)
        jobs = [FillJob(f"{m}@{seed}", m, f"{S.METHOD_LABELS[m]} · seed {seed}", replace(options, seed=seed))
                for seed in seeds for m in methods]
        fresh = self.fills.mask is None or not np.array_equal(mask, self.fills.mask)
        self._compare(jobs, mask, fresh)
        return True

    def _compare(self, jobs: list[FillJob], mask: np.ndarray, fresh: bool) -> None:
        panels = [(job.key, job.title) for job in jobs]
        if fresh:
            self.fills.reset()
            self.results.start(self.canvas.image_item.pixmap(), self._overlay_pixmap(),
                               self.canvas.overlay.opacity(), panels)
        else:
            self.results.add(panels)
        self.tabs.setCurrentIndex(COMPARE_TAB)
        self.fills.run(jobs, self.document.image, mask)
        where = " from the sampling area" if jobs[0].options.sampling == "region" else ""
        self.statusBar().showMessage(f"Filling {len(jobs)} result(s){where}…")

    def _overlay_pixmap(self) -> QPixmap:
        """The sampling area with the hole over it, as the canvas shows them, for the Compare view's original."""
        pixmap = QPixmap.fromImage(self.sampling_layer.image)
        painter = QPainter(pixmap)
        painter.drawImage(0, 0, self.layer.image)
        painter.end()
        return pixmap

    @Slot()
    def _on_fills_finished(self) -> None:
        done = len(self.fill_results)
        self.statusBar().showMessage(f"Fill finished: {done} result(s). Click one and press Apply.", 8000)
        errors = self.fills.errors
        if errors:
            text = "\n".join(f"{title}: {msg}" for title, msg, _ in errors)
            details = "\n\n".join(d for _, _, d in errors)
            show_error(self, "Some fills failed", text, details)
        self.fillFinished.emit()

    def cancel_fill(self) -> None:
        if self.fills.cancel():
            self.statusBar().showMessage("Cancelling…", 3000)

    def apply_result(self, key: str) -> None:
        result = self.fill_results.get(key)
        if result is None or self.document is None:
            return
        title = self.fills.titles[key]
        self.undo_stack.push(ApplyFillCommand(self.document, self.layer, result.image, title))
        self.fills.reset()
        self.tabs.setCurrentIndex(EDIT_TAB)
        self.statusBar().showMessage(f"Applied {title} — Ctrl+Z undoes it", 6000)

    # ------------------------------------------------------------------ dialogs
    def open_settings(self) -> None:
        before = self.fill_options()
        dialog = SettingsDialog(self.settings, device_choices(), self)
        if dialog.exec():
            self.apply_settings(before)

    def apply_settings(self, before: FillOptions) -> None:
        after = self.fill_options()
        self.update_device_labels()
        if (after.resolved_model_path(), after.device) != (before.resolved_model_path(), before.device):
            self.preload_model(report_errors=True)

    def open_batch_dialog(self) -> BatchDialog:
        dialog = BatchDialog(self.settings, self.models, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def open_train_wizard(self) -> TrainWizard:
        """On "Use this model" the wizard has written the setting; reload the model like Settings does."""
        before = self.fill_options()
        wizard = TrainWizard(self.settings, self)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.modelChosen.connect(lambda _path: self.apply_settings(before))
        wizard.open()
        return wizard

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", about_text(device_label(self.fill_options().device)))

    def show_log_folder(self) -> None:
        QMessageBox.information(self, "Log folder", f"Logs are written to:\n{log_dir()}")

    # ------------------------------------------------------------------ window state
    def _restore_geometry(self) -> None:
        geometry = self.settings.get(S.GEOMETRY)
        if not geometry or not self.restoreGeometry(QByteArray(geometry)):
            self.resize(1400, 900)
        state = self.settings.get(S.STATE)
        if state:
            self.restoreState(QByteArray(state))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.document is not None and self._has_unsaved_fill() and not confirm_discard(self, self.document.display_name):
            event.ignore()
            return
        self.cancel_fill()
        self.runner.cancel_all()
        self.runner.wait(10_000)
        self.settings.set(S.GEOMETRY, bytes(self.saveGeometry()))
        self.settings.set(S.STATE, bytes(self.saveState()))
        self.settings.sync()
        event.accept()


def qimage_to_pil(image: QImage) -> Image.Image:
    """A clipboard/drop QImage as a Pillow image (through PNG, which keeps alpha and needs no stride logic)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(buffer.data()))).copy()
