"""Dialogs: errors people can act on, overwrite and unsaved-changes questions, fill settings, shortcuts, About.

Every modal message goes through `show_error`, `confirm_overwrite`, `ask_save_changes` or `confirm_stop_work`,
so tests replace just these.
"""

from __future__ import annotations

import platform
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from contextfill.app import APP_NAME, __version__
from contextfill.app import settings as S
from contextfill.app.paths import default_model_path, log_dir


def show_error(parent: QWidget | None, title: str, message: str, details: str | None = None) -> None:
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def confirm_overwrite(parent: QWidget | None, path: Path) -> bool:
    answer = QMessageBox.question(
        parent, "Replace file?",
        f"“{path.name}” already exists in {path.parent}.\nDo you want to replace it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def confirm_stop_work(parent: QWidget | None, running: list[str]) -> bool:
    """Before quitting: stop the batch or training that runs (each keeps what it has done so far)?"""
    answer = QMessageBox.question(
        parent, "Stop and quit?",
        f"{' and '.join(running).capitalize()} {'are' if len(running) > 1 else 'is'} still running. Stop and quit? "
        "Files already filled are kept; training saves a checkpoint first, so it can be resumed.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_save_changes(parent: QWidget | None, name: str, before: str = "closing") -> QMessageBox.StandardButton:
    """Save, Discard or Cancel, with Save the default as in other editors; `before` says what would lose them."""
    return QMessageBox.question(
        parent, "Save changes?", f"“{name}” has fills that were not saved. Save them before {before}?",
        QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Save,
    )


# Keys and gestures that are no menu action, listed after the actions in Help > Keyboard shortcuts.
GESTURES = (
    ("Zoom about the cursor", "Ctrl+wheel"),
    ("Pan", "Space+drag or middle button"),
    ("Erase with the rectangle or sampling brush", "Alt+drag"),
    ("Before/after in Compare", "hold \\"),
)


class ShortcutsDialog(QDialog):
    """Help > Keyboard shortcuts: every action's keys, then the gestures."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = [*rows, *GESTURES]
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (what, keys) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(what))
            self.table.setItem(row, 1, QTableWidgetItem(keys))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(480, 560)


def about_text(device_label: str) -> str:
    import torch

    from contextfill import model

    return (
        f"<h3>{APP_NAME} {__version__}</h3>"
        "<p>Remove things from photos and compare a context-encoder fill with a patch-based fill.</p>"
        "<table>"
        f"<tr><td>Engine</td><td>{getattr(model, '__version__', '?')}</td></tr>"
        f"<tr><td>PyTorch</td><td>{torch.__version__}</td></tr>"
        f"<tr><td>Qt / PySide6</td><td>{qVersion()} / {pyside_version}</td></tr>"
        f"<tr><td>Python</td><td>{platform.python_version()} ({platform.system()})</td></tr>"
        f"<tr><td>Device</td><td>{device_label}</td></tr>"
        f"<tr><td>Log folder</td><td>{log_dir()}</td></tr>"
        "</table>"
        "<p>Sample photo: scikit-image “coffee”, CC0.</p>"
    )


def _combo(items: dict[str, str], current: str) -> QComboBox:
    combo = QComboBox()
    for value, label in items.items():
        combo.addItem(label, value)
    combo.setCurrentIndex(max(0, combo.findData(current)))
    return combo


def _spin(lo: int, hi: int, value: int, suffix: str = "", step: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    spin.setSingleStep(step)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin


TIPS = {
    "device": "Where fills run: a GPU (CUDA, Apple MPS) is much faster for the context encoder; "
              "Automatic picks the fastest present",
    "patch_size": "Side of the square patches the patch and hybrid fills copy: larger keeps bigger structures, "
                  "smaller follows fine texture",
    "sampling": "Where the patch and hybrid fills may copy from, unless a sampling area is painted "
                "(sampling brush, S)",
    "ring_width": "How far around the hole the fill looks for patches to copy",
    "quality": "Best runs more search and refinement passes at every scale: often sharper texture, takes longer",
    "seed": "Fixes the random choices of the patch fill, so the same settings give the same result; "
            "Variations tries other seeds",
    "blend": "Match colours at the hole's edge so no seam shows (off: the fill keeps the exact colours it copied, "
             "e.g. from a painted sampling area)",
    "jpeg_quality": "Quality of saved JPEG and WebP files: higher is larger and closer to the original",
    "max_megapixels": "Larger photos are refused: a small file can claim billions of pixels (a decompression bomb) "
                      "and fill the memory",
}
LIMIT_REMEDY = "raise Largest photo in Settings to open it"


class SettingsDialog(QDialog):
    """The fill settings a user reaches for; written back to Settings only on OK."""

    def __init__(self, settings: S.Settings, device_labels: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.model_edit = QLineEdit(settings.get(S.MODEL_PATH))
        self.model_edit.setPlaceholderText(f"Default model ({default_model_path().name})")
        # Wide enough for the placeholder, which Qt would otherwise cut to "Default model (d…".
        self.model_edit.setMinimumWidth(self.model_edit.fontMetrics().horizontalAdvance(
            self.model_edit.placeholderText()) + 24)
        self.model_edit.setToolTip("The context-encoder model used by the context encoder and hybrid fills; "
                                   "empty = the bundled default model")
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose a model file (.pt), e.g. one the fine-tuning wizard made")
        browse.clicked.connect(self._browse_model)
        reset_model = QPushButton("Default")
        reset_model.setToolTip("Use the bundled default model again")
        reset_model.clicked.connect(self.model_edit.clear)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, 1)
        model_row.addWidget(browse)
        model_row.addWidget(reset_model)
        previous = settings.get(S.PREVIOUS_MODEL_PATH)
        if previous:  # the model used before the fine-tuning wizard's "Use this model": one click away
            self.previous_model = QPushButton("Previous")
            self.previous_model.setToolTip(f"Use {previous} again")
            self.previous_model.clicked.connect(lambda: self.model_edit.setText(previous))
            model_row.addWidget(self.previous_model)

        self.device = _combo(device_labels, settings.get(S.DEVICE))
        self.patch_size = _spin(3, 31, settings.get(S.PATCH_SIZE), " px", 2)
        self.sampling = _combo({"ring": "Ring around the hole", "image": "Whole image"}, settings.get(S.SAMPLING))
        self.ring_width = _spin(8, 2048, settings.get(S.RING_WIDTH), " px", 8)
        self.sampling.currentIndexChanged.connect(self._sync_enabled)
        self.quality = _combo({"fast": "Fast", "best": "Best"}, settings.get(S.QUALITY))
        self.seed = _spin(0, 2**31 - 1, settings.get(S.SEED))
        self.blend = QCheckBox("Blend the fill into its surroundings")
        self.blend.setChecked(bool(settings.get(S.BLEND)))
        self.jpeg_quality = _spin(1, 100, settings.get(S.JPEG_QUALITY))
        self.max_megapixels = _spin(1, 10_000, settings.get(S.MAX_MEGAPIXELS), " MP", 10)
        for widget, tip in TIPS.items():
            getattr(self, widget).setToolTip(tip)

        form = QFormLayout(self)
        form.addRow("Model file", model_row)
        form.addRow("Device", self.device)
        form.addRow("Patch size", self.patch_size)
        form.addRow("Sample from", self.sampling)
        form.addRow("Ring width", self.ring_width)
        form.addRow("Patch quality", self.quality)
        form.addRow("Random seed", self.seed)
        form.addRow("Seams", self.blend)
        form.addRow("JPEG / WebP quality", self.jpeg_quality)
        form.addRow("Largest photo", self.max_megapixels)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self.restore_defaults)
        form.addRow(buttons)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        self.ring_width.setEnabled(self.sampling.currentData() == "ring")

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model", str(default_model_path().parent),
                                              "PyTorch models (*.pt *.pth);;All files (*)")
        if path:
            self.model_edit.setText(path)

    def restore_defaults(self) -> None:
        self.model_edit.clear()
        for widget, key in self._fields():
            if isinstance(widget, QComboBox):
                widget.setCurrentIndex(max(0, widget.findData(key.default)))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(key.default)
            else:
                widget.setValue(key.default)

    def _fields(self):
        return (
            (self.device, S.DEVICE), (self.patch_size, S.PATCH_SIZE), (self.sampling, S.SAMPLING),
            (self.ring_width, S.RING_WIDTH), (self.quality, S.QUALITY), (self.seed, S.SEED),
            (self.jpeg_quality, S.JPEG_QUALITY), (self.blend, S.BLEND), (self.max_megapixels, S.MAX_MEGAPIXELS),
        )

    def accept(self) -> None:
        self.settings.set(S.MODEL_PATH, self.model_edit.text().strip())
        for widget, key in self._fields():
            self.settings.set(key, _value(widget))
        self.settings.sync()
        super().accept()


def _value(widget):
    if isinstance(widget, QComboBox):
        return widget.currentData()
    return widget.isChecked() if isinstance(widget, QCheckBox) else widget.value()
