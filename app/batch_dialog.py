"""Tools > Batch fill folder: the engine's `run_batch` on a worker, with a live log and a summary.

The dialog only validates and displays; the batch (model loading included) runs as one `Task` on the
dialog's own runner, so it neither queues behind the main window's fills nor blocks them. Cancel is
polled between files and inside each fill; outputs are written atomically, so no partial file is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from contextfill.app import settings as S
from contextfill.app.dialogs import show_error
from contextfill.app.fill import FillOptions, ModelCache, needs_model, uses_patches
from contextfill.app.workers import Task, TaskRunner
from contextfill.model.errors import InpaintError
from contextfill.model.methods import METHODS

MASK_KINDS = {
    "folder": "Folder of masks, matched by name", "file": "One mask file for every photo",
    "painted": "The mask I painted", "center": "Center square (for tests)",
}
MASK_HINTS = {
    "folder": "Each photo takes the mask with its name: beach.jpg uses beach.png (any image format) from the masks "
              "folder. White = fill; a mask has its photo's size.",
    "file": "One image for every photo: white = fill; it has the photos' size.",
    "painted": "The hole painted in the main window, for every photo: they have the size of the photo it was painted "
               "on (a series from one camera position).",
    "center": "A square in the middle of every photo, as in benchmarks: rarely what a photo needs.",
}
OUTPUT_FORMATS = {None: "Same as each photo", "png": "PNG", "jpg": "JPEG", "webp": "WebP", "tif": "TIFF"}
FAIL_COLOR = QColor("#e0455f")


def default_output(source: Path) -> Path:
    """`<input>-filled` beside the input folder: never inside it, which run_batch refuses."""
    return source.parent / f"{source.name}-filled"


def batch_task(source: Path, output: Path, mask: str | np.ndarray, method: str, fmt: str | None, skip_existing: bool,
               options: FillOptions, models: ModelCache, report: Callable[[str], None]):
    """A task function (progress, cancel) -> BatchSummary; `report` gets each ok/skip/FAIL line. A file that
    fails is one FAIL line; what stops the whole run (model, device, output folder) raises, as one error. `mask` is
    run_batch's mask spec, or the painted mask (bool HxW), made an image here, on the worker."""

    def run(progress, cancel):
        from contextfill.model.batch import run_batch

        spec = Image.fromarray(mask.astype(np.uint8) * 255, "L") if isinstance(mask, np.ndarray) else mask
        model = models.get(options.resolved_model_path(), options.device) if needs_model(method) else None
        return run_batch(
            source, output, spec, method=method, model=model, device=options.device, fmt=fmt,
            skip_existing=skip_existing, patch_options=options.patch_options() if uses_patches(method) else None,
            report=report, progress=lambda i, n: progress(i / n), cancel=cancel,
        )

    return run


class _Lines(QObject):
    """Carries report lines from the worker; it lives on the GUI thread, so delivery is a queued call."""

    line = Signal(str)


class BatchDialog(QDialog):
    finished_batch = Signal()  # the run ended (finished, failed or cancelled); for tests and callers

    def __init__(self, settings: S.Settings, models: ModelCache, parent: QWidget | None = None,
                 painted: Callable[[], np.ndarray | None] = lambda: None) -> None:
        """`painted` gives the mask painted in the main window (bool HxW), or None when none is."""
        super().__init__(parent)
        self.setWindowTitle("Batch fill folder")
        self.settings = settings
        self.painted = painted
        self.models = models
        self.runner = TaskRunner(parent=self)
        self.task: Task | None = None
        self.counts = {"ok": 0, "skip": 0, "FAIL": 0}
        self._auto_output = ""
        self._lines = _Lines(self)
        self._lines.line.connect(self._on_line)

        self.input_edit = QLineEdit()
        self.input_edit.setPlaceholderText("Folder of photos to fill")
        self.input_edit.textChanged.connect(self._on_input_changed)
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("New folder for the results")
        self.mask_kind = QComboBox()
        for kind, label in MASK_KINDS.items():
            self.mask_kind.addItem(label, kind)
        self.mask_kind.setCurrentIndex(max(0, self.mask_kind.findData(settings.get(S.BATCH_MASK))))
        self.mask_kind.currentIndexChanged.connect(self._sync_mask_row)
        self.mask_edit = QLineEdit()
        self.mask_hint = QLabel()
        self.mask_hint.setObjectName("hint")
        self.mask_hint.setWordWrap(True)
        self.method = QComboBox()
        for spec in METHODS.values():
            self.method.addItem(spec.label, spec.name)
        self.method.setCurrentIndex(max(0, self.method.findData(settings.get(S.BATCH_METHOD))))
        self.output_format = QComboBox()
        for fmt, label in OUTPUT_FORMATS.items():
            self.output_format.addItem(label, fmt)
        self.skip_existing = QCheckBox("Skip photos whose result already exists")
        self.skip_existing.setChecked(True)

        form = QFormLayout()
        form.addRow("Photos", self._browse_row(self.input_edit, folder=True))
        form.addRow("Results", self._browse_row(self.output_edit, folder=True))
        form.addRow("Mask", self.mask_kind)
        self.mask_row = self._browse_row(self.mask_edit, folder=False)
        form.addRow("", self.mask_row)
        form.addRow("", self.mask_hint)
        form.addRow("Method", self.method)
        form.addRow("Format", self.output_format)
        form.addRow("", self.skip_existing)
        model_name = FillOptions.from_settings(settings).resolved_model_path().name
        form.addRow("", QLabel(f"Model {model_name}, device and patch options come from Settings."))

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.log = QListWidget()
        self.log.setMinimumHeight(160)
        self.log.setWordWrap(True)  # a FAIL line says why in full, never cut off at the edge
        self.log.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.log.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.log.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.ActionRole)
        self.start_button.setObjectName("primary")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = self.buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.ActionRole)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = self.buttons.addButton("Open results folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button.clicked.connect(self.open_output)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.log, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.resize(640, 520)
        self._sync_mask_row()
        self._set_running(False)
        self.open_button.setVisible(False)

    def _browse_row(self, edit: QLineEdit, folder: bool) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(edit, folder))
        box.addWidget(edit, 1)
        box.addWidget(button)
        return row

    def _browse(self, edit: QLineEdit, folder: bool) -> None:
        start = edit.text() or self.settings.get(S.LAST_DIR)
        if folder or self.mask_kind.currentData() == "folder":
            path = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a mask image", start)
        if path:
            edit.setText(path)

    def _on_input_changed(self, text: str) -> None:
        """Keep the output at `<input>-filled` until the user types another one."""
        if text.strip() and self.output_edit.text() in ("", self._auto_output):
            self._auto_output = str(default_output(Path(text.strip())))
            self.output_edit.setText(self._auto_output)

    @Slot()
    def _sync_mask_row(self) -> None:
        kind = self.mask_kind.currentData()
        self.mask_row.setEnabled(kind in ("folder", "file"))
        self.mask_edit.setPlaceholderText("Folder of masks" if kind == "folder" else "Mask image")
        self.mask_hint.setText(MASK_HINTS[kind])

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.close_button.setEnabled(not running)
        inputs = (self.input_edit, self.output_edit, self.mask_kind, self.mask_row, self.method, self.output_format,
                  self.skip_existing)
        for widget in inputs:
            widget.setEnabled(not running)
        if not running:
            self._sync_mask_row()

    def _problem(self, source: str, output: str, mask: str) -> str:
        """Why the run cannot start (checked here, so nothing is filled before it is refused), or ''."""
        from contextfill.model.batch import check_output

        if not source or not Path(source).is_dir():
            return "Choose an existing folder of photos."
        if not output:
            return "Choose a folder for the results."
        try:
            check_output(Path(source), Path(output))
        except InpaintError as exc:
            return f"Choose another results folder: {exc}."
        if mask is None:
            return "Paint the hole in the main window first, or choose another mask."
        if isinstance(mask, str) and mask != "center" and not Path(mask).exists():
            return "Choose the mask file or folder of masks."
        return ""

    def mask_spec(self) -> str | np.ndarray | None:
        """What run_batch fills with: 'center', a mask file or folder, or the painted mask (None: none painted)."""
        kind = self.mask_kind.currentData()
        if kind == "painted":
            return self.painted()
        return "center" if kind == "center" else self.mask_edit.text().strip()

    def start(self) -> bool:
        if self.task is not None:
            return False
        source, output, mask = self.input_edit.text().strip(), self.output_edit.text().strip(), self.mask_spec()
        problem = self._problem(source, output, mask)
        if problem:
            self.status.setText(problem)
            return False
        self.log.clear()
        self.counts = dict.fromkeys(self.counts, 0)
        self.progress.setValue(0)
        self.open_button.setVisible(False)
        self.status.setText("Filling…")
        self.settings.set(S.LAST_DIR, source)
        self.settings.set(S.BATCH_MASK, self.mask_kind.currentData())
        self.settings.set(S.BATCH_METHOD, self.method.currentData())
        fn = batch_task(Path(source), Path(output), mask, self.method.currentData(), self.output_format.currentData(),
                        self.skip_existing.isChecked(), FillOptions.from_settings(self.settings), self.models,
                        self._lines.line.emit)
        task = Task(fn, name="batch fill")
        task.signals.progress.connect(self._on_progress)
        task.signals.finished.connect(self._on_finished)
        task.signals.errored.connect(self._on_error)
        task.signals.cancelled.connect(self._on_cancelled)
        task.signals.done.connect(self._on_done)
        self.task = task
        self._set_running(True)
        self.runner.submit(task)
        return True

    @Slot(str)
    def _on_line(self, line: str) -> None:
        kind = line.split(maxsplit=1)[0] if line.strip() else ""
        if kind in self.counts:
            self.counts[kind] += 1
        self.log.addItem(line)
        self.log.item(self.log.count() - 1).setToolTip(line)
        if kind == "FAIL":
            self.log.item(self.log.count() - 1).setForeground(QBrush(FAIL_COLOR))
        self.log.scrollToBottom()

    @Slot(float)
    def _on_progress(self, fraction: float) -> None:
        self.progress.setValue(round(fraction * 1000))

    @Slot(object)
    def _on_finished(self, summary) -> None:
        self.progress.setValue(1000)
        self.status.setText(f"Done: {summary.text().splitlines()[0]}.")

    @Slot()
    def _on_cancelled(self) -> None:
        counts = self.counts
        self.status.setText(f"Cancelled: {counts['ok']} filled, {counts['skip']} skipped, {counts['FAIL']} failed "
                            "before stopping.")

    @Slot(str, str)
    def _on_error(self, message: str, details: str) -> None:
        self.status.setText(f"The batch stopped: {message}")
        show_error(self, "Batch fill failed", message, details or None)

    @Slot()
    def _on_done(self) -> None:
        self.task = None
        self._set_running(False)
        self.open_button.setVisible(Path(self.output_edit.text().strip()).is_dir())
        self.finished_batch.emit()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.status.setText("Cancelling…")

    def open_output(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.output_edit.text().strip()))

    def reject(self) -> None:
        """Closing while a batch runs cancels it and waits for the current file to stop."""
        self.cancel()
        self.runner.wait(10_000)
        super().reject()
