"""The main window: wires document, mask, canvas, file and fill controllers and the comparison together.

It owns the undo stack; decoding, encoding and fills only ever run on the controllers' workers, whose
results come back to @Slot methods here, so the GUI thread only paints. Actions are declared in
app/actions.py, fills run through app/fill_controller.py, files through app/file_controller.py.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QByteArray, QMimeData, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QPixmap,
    QUndoGroup,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QColorDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSlider,
    QSpinBox,
    QTabWidget,
    QToolBar,
    QToolButton,
    QWidget,
)

from contextfill.app import APP_NAME
from contextfill.app import settings as S
from contextfill.app.actions import build_actions, build_menus, fill_toolbar, shortcut_rows, tool_actions
from contextfill.app.batch_dialog import BatchDialog
from contextfill.app.canvas import MAX_BRUSH, MIN_BRUSH, Canvas
from contextfill.app.dialogs import (
    LIMIT_REMEDY,
    SettingsDialog,
    ShortcutsDialog,
    about_text,
    ask_save_changes,
    confirm_overwrite,
    confirm_stop_work,
    show_error,
)
from contextfill.app.document import (
    ENCODED_IMAGE_TYPES,
    SAVE_FILTER,
    SAVE_SUFFIXES,
    Document,
    Loaded,
    open_filter,
    save_filter_for,
)
from contextfill.app.file_controller import FileController, SaveJob
from contextfill.app.fill import FillOptions, ModelCache
from contextfill.app.fill_controller import FillController, FillJob
from contextfill.app.fill_panel import FillPanel
from contextfill.app.mask import SAMPLING_COLOR, MaskLayer
from contextfill.app.mask_ops import grow, shrink
from contextfill.app.paths import is_bundled, log_dir, pictures_dir
from contextfill.app.results import ResultsView
from contextfill.app.tools import Tool
from contextfill.app.train_wizard import TrainWizard
from contextfill.app.undo import ApplyFillCommand, MaskEditCommand
from contextfill.app.workers import Task, TaskRunner
from contextfill.model.imageio import format_losses
from contextfill.model.imageio import set_max_megapixels
from contextfill.model.methods import BEST, METHODS

EDIT_TAB, COMPARE_TAB = 0, 1
EMPTY_HINT = "Open a photo (Ctrl+O), paste one (Ctrl+V) or drop one here"


UNCHECKED_DEVICES = {"auto": "Automatic", "cpu": "CPU", "cuda": "CUDA (checking…)", "mps": "Apple GPU (checking…)"}


def device_choices() -> dict[str, str]:
    """Device setting values with labels that say what is actually present on this machine. It starts CUDA (seconds
    on a machine with a GPU), so it runs on the worker once, at start; Settings shows what it found."""
    from contextfill.model.devices import describe, resolve_device

    labels = {"auto": f"Automatic ({describe(resolve_device('auto'))})", "cpu": "CPU"}
    for name in ("cuda", "mps"):
        try:
            labels[name] = describe(resolve_device(name))
        except (RuntimeError, ValueError):
            labels[name] = f"{name.upper()} (not available)"
    return labels


def fill_summary(ready: int, failed: int, cancelled: int) -> str:
    """The status line once a fill ends: what happened, and what to do next."""
    results = f"{ready} result{'' if ready == 1 else 's'}"
    pick = "Click one and press Apply." if ready > 1 else "Click it and press Apply."
    if cancelled:
        return f"Fill cancelled; {results} ready. {pick}" if ready else "Fill cancelled."
    if not ready:
        return "The fill failed."
    ending = f" ({failed} failed)" if failed else ""
    return f"Fill finished: {results}{ending}. {pick}"


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
        self._device = "not checked yet"
        self._saved_at = -1  # the undo index of the last save started
        self._close_when_saved = False
        self._stopping_work = False  # quitting waits for the batch fills and training it stopped
        self._closing = QTimer(self)  # while it runs, the window closes as soon as no worker is busy
        self._closing.setInterval(50)
        self._closing.timeout.connect(self.close)

        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)
        self.canvas = Canvas(self.undo_stack)
        self.canvas.set_brush_size(settings.get(S.BRUSH_SIZE))
        self.canvas.set_overlay_opacity(settings.get(S.MASK_OPACITY))
        self.results = ResultsView()
        self.results.applyRequested.connect(self.apply_result)
        # The first comparison's panels are made while the new window is idle, not when Fill is pressed.
        self.results.warm(1 + len(METHODS), after_ms=1000)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.canvas, "Edit")
        self.tabs.addTab(self.results, "Compare")
        self.setCentralWidget(self.tabs)

        self.files = FileController(self)
        self.files.opened.connect(self._on_opened)
        self.files.openFailed.connect(self._on_open_failed)
        self.files.saved.connect(self._on_saved)
        self.files.saveFailed.connect(self._on_save_failed)
        self.files.busyChanged.connect(self._on_files_busy)

        self.fill_panel = FillPanel(settings)
        self.fill_panel.fillRequested.connect(self.start_fill)
        self.fill_panel.variationsRequested.connect(self.start_variations)
        self.fill_panel.cancelRequested.connect(self.cancel_fill)
        self.fill_panel.show_model(f"Model: {self.fill_options().resolved_model_path().name}")
        self.fills = FillController(self.runner, self.models, self.fill_panel, self.results, self)
        self.fills.finished.connect(self._on_fills_finished)
        self.fills.modelLoaded.connect(self.modelLoaded)
        self.fills.modelFailed.connect(self._on_model_failed)
        self.fills.deviceFound.connect(self._on_device_found)
        dock = QDockWidget("Fill", self)
        dock.setObjectName("fillDock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setWidget(self.fill_panel)
        dock.setMinimumWidth(250)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        # Undo and redo act through a group whose stack is taken away while a mask operation is being written on a
        # worker: an undo then would be written before the operation's own undo step is on the stack.
        self.undo_group = QUndoGroup(self)
        self.undo_group.addStack(self.undo_stack)
        self.undo_group.setActiveStack(self.undo_stack)
        made = {"undo": self.undo_group.createUndoAction(self, "&Undo"),
                "redo": self.undo_group.createRedoAction(self, "&Redo")}
        self._actions = build_actions(self, made)
        for name, action in self._actions.items():
            setattr(self, f"{name}_action", action)  # open_action, undo_action...: see app/actions.py
        self.tool_actions: dict[Tool, QAction] = tool_actions(self._actions)
        self.tool_actions[Tool.BRUSH].setChecked(True)
        menus = build_menus(self.menuBar(), self._actions)
        self.recent_menu = QMenu("Open &Recent", self)
        menus["file"].insertMenu(self.paste_action, self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._make_toolbars()
        self._make_status_bar()
        self.canvas.brushSizeChanged.connect(self._on_brush_size)
        self.canvas.cursorMoved.connect(self._on_cursor)
        self.canvas.zoomChanged.connect(self._show_zoom)
        self.results.zoomChanged.connect(self._show_zoom)
        self.tabs.currentChanged.connect(self._show_zoom)
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._update_title)
        self._restore_geometry()
        set_max_megapixels(self.settings.get(S.MAX_MEGAPIXELS), LIMIT_REMEDY)
        self._device_labels = dict(UNCHECKED_DEVICES)
        devices = Task(lambda progress, cancel: device_choices(), name="name the devices")
        devices.signals.finished.connect(self._on_devices)
        self.runner.submit(devices)
        self.style()  # PySide builds its QStyle enum wrappers on first use (~20 ms): now, not on the first fill

    # ------------------------------------------------------------------ building
    def _make_toolbars(self) -> None:
        toolbox = QToolBar("Tools", self)
        toolbox.setObjectName("tools")
        toolbox.setMovable(False)
        toolbox.setIconSize(toolbox.iconSize() * 1.1)
        fill_toolbar(toolbox, "toolbox", self._actions)
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, toolbox)

        top = QToolBar("Options", self)
        top.setObjectName("options")
        top.setMovable(False)
        fill_toolbar(top, "options", self._actions)
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
        self.grow_spin = QSpinBox()
        self.grow_spin.setRange(1, 200)
        self.grow_spin.setSuffix(" px")
        self.grow_spin.setValue(self.settings.get(S.GROW_PX))
        self.grow_spin.setToolTip("How far Grow mask and Shrink mask move the mask's edge")
        self.grow_spin.valueChanged.connect(self._on_grow_px)
        self.color_button = QToolButton()
        self.color_button.setIcon(_color_swatch(self._mask_color))
        self.color_button.setToolTip("Mask overlay colour")
        self.color_button.clicked.connect(self.choose_mask_color)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(10, 100)
        self.opacity_slider.setFixedWidth(100)
        self.opacity_slider.setValue(self.settings.get(S.MASK_OPACITY))
        self.opacity_slider.setToolTip("Mask overlay opacity")
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        groups = ((QLabel(" Size "), self.size_slider, self.size_spin), (QLabel(" Grow/shrink "), self.grow_spin),
                  (QLabel(" Mask "), self.color_button, QLabel(" Opacity "), self.opacity_slider))
        for group in groups:  # between the undo and the view actions
            for widget in group:
                top.insertWidget(self.fit_action, widget)
            top.insertSeparator(self.fit_action)
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().Policy.Expanding, spacer.sizePolicy().Policy.Preferred)
        top.insertWidget(self.settings_action, spacer)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, top)

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.file_progress = QProgressBar()
        self.file_progress.setRange(0, 0)  # decoding and encoding say nothing of their progress: a busy bar
        self.file_progress.setFixedSize(100, 10)
        self.file_progress.hide()
        self.pos_label = QLabel()
        self.size_label = QLabel()
        self.zoom_label = QLabel()
        self.zoom_label.setToolTip("Zoom of the view shown (Edit or Compare)")
        self.device_status = QLabel("Device: checking…")
        self.device_status.setToolTip("Device used for fills (change it in Settings)")
        for widget in (self.file_progress, self.pos_label, self.size_label, self.zoom_label, self.device_status):
            bar.addPermanentWidget(widget)

    # ------------------------------------------------------------------ opening
    def open_path(self, path: str | Path) -> Task:
        """Decode `path` on the file worker; it replaces the document only once it has opened."""
        self.statusBar().showMessage(f"Opening {Path(path).name}…")
        return self.files.open(path)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.settings.get(S.LAST_DIR), open_filter())
        if path:
            self.open_path(path)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.get(S.RECENT)
        for path in recent:
            self.recent_menu.addAction(Path(path).name, partial(self.open_path, path)).setToolTip(path)
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    def paste(self) -> Task | None:
        """Paste an image, or a copied image file, from the clipboard."""
        task = self._open_mime(QGuiApplication.clipboard().mimeData())
        if task is None:
            self.statusBar().showMessage("The clipboard holds no image", 4000)
        return task

    def _open_mime(self, data: QMimeData) -> Task | None:
        """A copied or dropped file, or image: another program's comes encoded and is decoded on the file worker
        (`imageData()` would decode it here); only an image of this process comes as a QImage already."""
        if data.hasUrls() and data.urls()[0].isLocalFile():
            return self.open_path(data.urls()[0].toLocalFile())
        encoded = next((kind for kind in ENCODED_IMAGE_TYPES if kind in data.formats()), None)
        if encoded is not None:
            self.statusBar().showMessage("Pasting…")
            return self.files.open_encoded(data.data(encoded), ENCODED_IMAGE_TYPES[encoded])
        if data.hasImage():
            self.statusBar().showMessage("Pasting…")
            return self.files.open_image(QImage(data.imageData()))
        return None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        data = event.mimeData()
        if (data.hasUrls() and data.urls()[0].isLocalFile()) or data.hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self._open_mime(event.mimeData()) is not None:
            event.acceptProposedAction()

    @Slot(object)
    def _on_opened(self, loaded: Loaded) -> None:
        """Show a photo that was opened, pasted or dropped; an applied, unsaved fill is never dropped without asking
        (Save starts saving the current photo, which goes on while the new one is shown)."""
        if self.document is not None and self._has_unsaved_fill():
            name = loaded.path.name if loaded.path is not None else "the pasted image"
            answer = ask_save_changes(self, self.document.display_name, f"opening {name}")
            if answer == QMessageBox.StandardButton.Cancel or (
                    answer == QMessageBox.StandardButton.Save and self.save() is None):
                self.statusBar().showMessage(f"Kept {self.document.display_name}; {name} was not opened", 5000)
                return
        own = loaded.path is not None and not is_bundled(loaded.path)
        self.set_document(Document(loaded, None if own else self._save_dir()))
        if own:
            self._remember(loaded.path)

    @Slot(str)
    def _on_open_failed(self, message: str) -> None:
        """The document on screen stays; with none (a bad file on the command line) the window says what to do."""
        self.statusBar().showMessage("" if self.document else EMPTY_HINT)
        show_error(self, "Cannot open image", message)

    @Slot(bool)
    def _on_files_busy(self, busy: bool) -> None:
        self.file_progress.setVisible(busy)

    def _remember(self, path: Path) -> None:
        """Open Recent and the Open dialog's folder follow the files opened and saved."""
        self.settings.add_recent(str(path.resolve()))
        self.settings.set(S.LAST_DIR, str(path.resolve().parent))

    def _save_dir(self) -> Path:
        """Where a photo that has no folder of the user's (the sample, a paste) is saved."""
        last = Path(self.settings.get(S.LAST_DIR))
        return last if self.settings.get(S.LAST_DIR) and last.is_dir() else pictures_dir()

    def set_document(self, document: Document) -> None:
        """Show `document` in place of the last one, whose pixels, masks and undo history (each applied fill keeps
        two photos, each mask operation the mask before and after) are freed on the file worker once nothing here
        shows them (a 50 MP photo's took 27 ms to free for its Pillow image, 27 ms for its QImage)."""
        previous, self.document = self.document, document
        self.fills.reset()
        commands = [self.undo_stack.command(i) for i in range(self.undo_stack.count())]
        history = [pixels for command in commands for pixels in command.take_pixels()]
        self.undo_stack.clear()
        document.imageChanged.connect(self._on_image_changed)
        for old in (self.layer, self.sampling_layer):  # the last photo's masks go (they stayed: 200 MB each at 50 MP)
            if old is not None:
                old.busyChanged.disconnect(self._on_mask_busy)
                old.release(self.files.release)
        size = QSize(*document.image.size)
        self.layer = MaskLayer(size, self._mask_color, self)
        self.sampling_layer = MaskLayer(size, QColor(SAMPLING_COLOR), self)
        for layer in (self.layer, self.sampling_layer):
            layer.busyChanged.connect(self._on_mask_busy)
        self.canvas.set_image(document.preview, document.reduced)
        self.canvas.set_layers(self.layer, self.sampling_layer)
        self.canvas.fit()
        self.tabs.setCurrentIndex(EDIT_TAB)
        w, h = document.image.size
        self.size_label.setText(f"{w} × {h} {document.image.mode}")
        self._update_title()
        self.statusBar().showMessage(document.note or f"Opened {document.display_name}", 5000)
        if previous is not None:
            self.files.release(*previous.take_pixels(), *history)

    # ------------------------------------------------------------------ saving
    def save(self) -> Task | None:
        """Save where the document was last saved, or ask where; None when nothing was started."""
        if self.document is None:
            return None
        if self.document.saved_path is None:
            return self.save_as()
        return self._write(self.document.saved_path)

    def save_as(self, path: str | Path | None = None) -> Task | None:
        """Save to a new file. Without `path`, a dialog proposes `<name>-filled.<ext>`; replacing asks first."""
        if self.document is None:
            return None
        if path is None:
            proposed = self.document.proposed_save_path()
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save image as", str(proposed), SAVE_FILTER, save_filter_for(proposed),
                QFileDialog.Option.DontConfirmOverwrite,
            )
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        if path.suffix.lower() not in SAVE_SUFFIXES:
            show_error(self, "Cannot save", f"{path.name}: choose a .png, .jpg, .webp or .tif file name.")
            return None
        if path.exists() and not confirm_overwrite(self, path):
            return None
        return self._write(path, replace=path.exists())

    def _write(self, path: Path, replace: bool = True) -> Task:
        """Save on the file worker; only a file the user agreed to replace (or the document's own) is replaced, so
        a file that appears at `path` meanwhile is kept and the photo takes the next free name."""
        self._saved_at = self.undo_stack.index()
        self.statusBar().showMessage(f"Saving {path.name}…")
        return self.files.save(self.document, path, self.settings.get(S.JPEG_QUALITY), replace)

    @Slot(object, object)
    def _on_saved(self, job: SaveJob, saved: Path) -> None:
        job.document.saved_path = saved
        self._remember(saved)
        if job.document is self.document and self.undo_stack.index() == self._saved_at:
            self.undo_stack.setClean()
        self._update_title()
        notes = format_losses(job.mode, saved)
        if saved != job.path:
            notes.insert(0, f"{job.path.name} appeared meanwhile and was left as it was")
        self.statusBar().showMessage("; ".join([f"Saved {saved}", *notes]), 10000 if notes else 5000)
        if self._close_when_saved:
            self._close_when_saved = False
            self.close()

    @Slot(object, str)
    def _on_save_failed(self, job: SaveJob, message: str) -> None:
        self._close_when_saved = False
        self.statusBar().clearMessage()
        show_error(self, "Cannot save", f"Could not save {job.path.name}: {message}")

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

    @Slot()
    def _on_image_changed(self) -> None:
        """Apply, undo or redo: show the pixels, and the comparison again when they are the ones it filled."""
        self.canvas.set_image(self.document.preview, self.document.reduced)
        comparable = self.document.image is self.fills.image
        self.results.set_applicable(comparable)
        self.tabs.setCurrentIndex(COMPARE_TAB if comparable and self.fills.results else EDIT_TAB)
        if comparable and self.fills.results:  # an Apply undone: "Applied ..." must not stay up
            self.statusBar().showMessage("The fill was taken back: pick another result, or Apply it again", 6000)
        else:
            self.statusBar().clearMessage()

    # ------------------------------------------------------------------ mask editing
    def set_tool(self, tool: Tool) -> None:
        for t, action in self.tool_actions.items():
            action.setChecked(t is tool)
        self.canvas.set_tool(tool)
        self.tabs.setCurrentIndex(EDIT_TAB)

    def mask_op(self, name: str, fn, layer: MaskLayer | None = None, reach: int | None = 0) -> None:
        """Apply a mask operation to `layer` (the hole mask by default) as one undo step. An operation that
        changes nothing farther than `reach` pixels from the painted bounds runs on those bounds grown by it, not
        on the whole 50 MP of a large photo; `reach=None` means the whole mask (invert). A large box is computed and
        written on the layer's worker (`MaskLayer.transform`); its undo step is pushed once it is written."""
        layer = layer or self.layer
        if layer is None or not self._mask_ready():
            return
        h, w = layer.image.height(), layer.image.width()
        bounds = (0, 0, w, h) if reach is None else layer.bounds()
        if bounds is not None:
            r = reach or 0
            box = (max(bounds[0] - r, 0), max(bounds[1] - r, 0), min(bounds[2] + r, w), min(bounds[3] + r, h))
            layer.transform(box, fn, partial(MaskEditCommand.push, self.undo_stack, layer, name))
        self.tabs.setCurrentIndex(EDIT_TAB)

    @Slot(bool)
    def _on_mask_busy(self, _busy: bool) -> None:
        busy = any(layer.is_busy() for layer in (self.layer, self.sampling_layer))
        self.undo_group.setActiveStack(None if busy else self.undo_stack)

    def _mask_ready(self) -> bool:
        """False, with a word in the status bar, while an operation is still being written into a mask: its
        bounds and pixels are not final yet."""
        busy = any(layer is not None and layer.is_busy() for layer in (self.layer, self.sampling_layer))
        if busy:
            self.statusBar().showMessage("The mask is still being updated…", 2000)
        return not busy

    def clear_mask(self) -> None:
        self.mask_op("Clear mask", np.zeros_like)

    def clear_sampling(self) -> None:
        self.mask_op("Clear sampling area", np.zeros_like, self.sampling_layer)

    def invert_mask(self) -> None:
        self.mask_op("Invert mask", np.logical_not, reach=None)

    def grow_mask(self) -> None:
        radius = self.grow_spin.value()
        self.mask_op("Grow mask", partial(grow, radius=radius), reach=radius + 1)

    def shrink_mask(self) -> None:
        radius = self.grow_spin.value()  # the box holds a ring of non-mask, so only the image border erodes as one
        self.mask_op("Shrink mask", partial(shrink, radius=radius), reach=radius + 1)

    def step_brush(self, direction: int) -> None:
        """`[` and `]` anywhere in the window, not only once the canvas has the focus."""
        self.canvas.step_brush(direction)

    @Slot(int)
    def _on_grow_px(self, value: int) -> None:
        self.settings.set(S.GROW_PX, value)

    @Slot(int)
    def _on_brush_size(self, size: int) -> None:
        for widget in (self.size_slider, self.size_spin):
            widget.blockSignals(True)
            widget.setValue(size)
            widget.blockSignals(False)
        self.settings.set(S.BRUSH_SIZE, size)

    @Slot(int)
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

    # ------------------------------------------------------------------ view
    @Slot()
    def _show_zoom(self) -> None:
        self.zoom_label.setText(f"{self._current_view().zoom():.0%}" if self.document else "")

    def _current_view(self):
        if self.tabs.currentIndex() == COMPARE_TAB and self.results.panels:
            return next(iter(self.results.panels.values())).view
        return self.canvas

    def fit(self) -> None:
        self._current_view().fit()

    def actual_size(self) -> None:
        self._current_view().actual_size()

    def zoom_in(self) -> None:
        self._current_view().zoom_by(1.25)

    def zoom_out(self) -> None:
        self._current_view().zoom_by(0.8)

    # ------------------------------------------------------------------ fill
    def fill_options(self) -> FillOptions:
        return FillOptions.from_settings(self.settings)

    def preload_model(self, report_errors: bool = False) -> Task:
        """Load the chosen model on the worker so the first fill does not wait for it."""
        return self.fills.load_model(self.fill_options(), report_errors)

    @Slot(str, str, bool)
    def _on_model_failed(self, message: str, details: str, report: bool) -> None:
        self.statusBar().showMessage(f"The model could not be loaded: {message}", 10000)
        if report:
            show_error(self, "Cannot load model", message, details)

    @Slot(object)
    def _on_devices(self, labels: dict[str, str]) -> None:
        self._device_labels = labels

    @Slot(str)
    def _on_device_found(self, label: str) -> None:
        self._device = label
        self.device_status.setText(f"Device: {label}")
        self.fill_panel.show_device(f"Device: {label}")

    @property
    def fill_results(self) -> dict:
        """key -> FillResult of the comparison shown; keys are methods, and method@seed for variations."""
        return self.fills.results

    def is_filling(self) -> bool:
        return self.fills.is_running()

    def _fill_request(self) -> tuple[np.ndarray, FillOptions] | None:
        """The hole and the options to fill it with (the sampling area, if painted), or None with a hint."""
        if self.document is None or self.layer is None or self.is_filling() or not self._mask_ready():
            return None
        if self.layer.is_empty():
            self.statusBar().showMessage("Paint over the area to fill first (brush or rectangle)", 5000)
            return None
        sampling = None if self.sampling_layer.is_empty() else self.sampling_layer.array()
        return self.layer.array(), self.fill_options().sampling_from(sampling)

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
        self._compare([FillJob(m, m, METHODS[m].label, options) for m in methods], mask, fresh=True)
        return True

    def start_variations(self) -> bool:
        """Fill again with new seeds: the checked patch-based methods (else the default, BEST) once per seed, as extra
        panels beside the comparison of the same photo and hole, or in a new one."""
        request = self._fill_request()
        if request is None:
            return False
        mask, options = request
        methods = [m for m in self.fill_panel.checked_methods() if METHODS[m].uses_patches] or [BEST]
        count = self.fill_panel.variations_spin.value()
        seeds = itertools.islice((s for s in self._seeds if s != options.seed), count)
        jobs = [FillJob(f"{m}@{seed}", m, f"{METHODS[m].label} · seed {seed}", replace(options, seed=seed))
                for seed in seeds for m in methods]
        same = self.document.image is self.fills.image and self.layer.revision == self.fills.mask_revision
        self._compare(jobs, mask, fresh=not same)
        return True

    def _compare(self, jobs: list[FillJob], mask: np.ndarray, fresh: bool) -> None:
        panels = [(job.key, job.title) for job in jobs]
        if fresh:
            self.fills.reset()
            self.results.start(self.canvas.image_item.pixmap(), panels, self.canvas.image_item.small)
            self.fills.show_mask(mask, jobs[0].options.region, self.layer.color, self.sampling_layer.color,
                                 self.canvas.overlay.opacity())
        else:
            self.results.add(panels)
        self.tabs.setCurrentIndex(COMPARE_TAB)
        self.fills.run(jobs, self.document.image, mask, self.layer.revision, self.layer.bounds())
        where = " from the sampling area" if jobs[0].options.sampling == "region" else ""
        self.statusBar().showMessage(f"Filling {len(jobs)} result(s){where}…")

    @Slot()
    def _on_fills_finished(self) -> None:
        errors = self.fills.errors
        self.statusBar().showMessage(fill_summary(len(self.fill_results), len(errors), self.fills.cancelled), 8000)
        if errors:
            text = "\n".join(f"{title}: {msg}" for title, msg, _ in errors)
            details = "\n\n".join(d for _, _, d in errors)
            show_error(self, "Some fills failed", text, details)
        self.fillFinished.emit()

    def cancel_fill(self) -> None:
        if self.fills.cancel():
            self.statusBar().showMessage("Cancelling…", 3000)

    def apply_result(self, key: str) -> None:
        """Replace the photo by a result; the comparison stays, so undoing this brings it back."""
        result = self.fill_results.get(key)
        if result is None or self.document is None or self.document.image is not self.fills.image \
                or not self._mask_ready():
            return
        title = self.fills.titles[key]
        command = ApplyFillCommand(self.document, self.layer, result.image, *self.fills.previews[key], title,
                                   self.fills.hole)
        self.undo_stack.push(command)
        changed = " (the mask changed since this fill started: only what it filled was cleared)" \
            if command.mask_changed else ""
        self.statusBar().showMessage(f"Applied {title}{changed} — Ctrl+Z brings the comparison back", 8000)

    # ------------------------------------------------------------------ dialogs
    def open_settings(self) -> None:
        before = self.fill_options()
        dialog = SettingsDialog(self.settings, self._device_labels, self)
        if dialog.exec():
            self.apply_settings(before)

    def apply_settings(self, before: FillOptions) -> None:
        """Timings of fills made with other options are stale; another model or device is loaded at once."""
        set_max_megapixels(self.settings.get(S.MAX_MEGAPIXELS))
        after = self.fill_options()
        if after != before and not self.is_filling():
            self.fill_panel.reset([])
        if (after.resolved_model_path(), after.device) != (before.resolved_model_path(), before.device):
            self.preload_model(report_errors=True)

    def open_batch_dialog(self) -> BatchDialog:
        dialog = BatchDialog(self.settings, self.models, self, self._painted_mask)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished_batch.connect(self._on_work_ended)
        dialog.open()
        return dialog

    def _painted_mask(self) -> np.ndarray | None:
        """The hole painted on the photo shown, for the batch dialog's "The mask I painted"."""
        if self.layer is None or self.layer.is_empty() or self.layer.is_busy():
            return None
        return self.layer.array()

    def open_train_wizard(self) -> TrainWizard:
        """On "Use this model" (or back to the previous one) the wizard has written the setting; reload the model like
        Settings does."""
        in_use = [self.fill_options()]

        def chosen(_path: str) -> None:
            self.apply_settings(in_use[0])
            in_use[0] = self.fill_options()

        wizard = TrainWizard(self.settings, self)
        wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        wizard.modelChosen.connect(chosen)
        wizard.run_page.train.ended.connect(self._on_work_ended)
        wizard.show()  # not modal: training is another process, the window stays usable meanwhile
        return wizard

    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(shortcut_rows(self._actions), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", about_text(self._device))

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

    def _running_work(self) -> list[tuple[str, Callable[[], None]]]:
        """The batch fills and training runs started from this window that still run, each with how to stop it."""
        work = [("a batch fill", d.cancel) for d in self.findChildren(BatchDialog) if d.task is not None]
        return work + [("training", w.run_page.stop) for w in self.findChildren(TrainWizard)
                       if w.run_page.train.is_running()]

    def _stop_work(self) -> bool:
        """Ask, then stop the batch fills and training that run; False when the user keeps them (and the window)."""
        running = self._running_work()
        if running and not confirm_stop_work(self, [label for label, _ in running]):
            return False
        self._stopping_work = bool(running)
        for _, stop in running:
            stop()
        return True

    @Slot()
    def _on_work_ended(self) -> None:
        if self._stopping_work and not self._running_work():
            self.close()

    def _work_running(self) -> bool:
        layers = (self.layer, self.sampling_layer)
        return (self.runner.is_busy() or self.files.runner.is_busy()
                or any(layer is not None and layer.is_busy() for layer in layers))

    def _close_when_idle(self) -> None:
        """Stop the fills and close once every worker is idle, asking again every 50 ms: the GUI thread never waits
        (it used to, up to 10 s for a fill to stop and 10 s more for a save). A save under way is finished, never
        cut short; meanwhile the window says why it is still open and takes no more work."""
        if self._closing.isActive():
            return
        self.cancel_fill()
        self.runner.cancel_all()
        self.setEnabled(False)  # no shortcut or click starts more work meanwhile
        self.statusBar().showMessage("Closing once the running fill or save has stopped…")
        self._closing.start()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Unsaved fills: Save (the window closes once it is written), Discard, or Cancel. A batch fill or training
        that runs: stop it, or Cancel. Nothing here blocks the window: a batch stops at its current file, training
        saves a checkpoint on SIGTERM, fills are cancelled and a save under way is finished; the window says so and
        closes once all of them have ended."""
        if not self._stopping_work and not self._closing.isActive() and self.document is not None \
                and self._has_unsaved_fill():
            answer = ask_save_changes(self, self.document.display_name)
            if answer != QMessageBox.StandardButton.Discard:
                self._close_when_saved = answer == QMessageBox.StandardButton.Save and self.save() is not None
                event.ignore()
                return
        if not self._stopping_work and not self._stop_work():
            event.ignore()
            return
        if running := self._running_work():
            labels = " and ".join(label for label, _ in running)
            self.statusBar().showMessage(f"Stopping {labels} before quitting…")
            event.ignore()
            return
        if self._work_running():
            self._close_when_idle()
            event.ignore()
            return
        self._closing.stop()
        self.settings.set(S.GEOMETRY, bytes(self.saveGeometry()))
        self.settings.set(S.STATE, bytes(self.saveState()))
        self.settings.sync()
        event.accept()
