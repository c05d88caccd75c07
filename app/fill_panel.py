"""The Fill dock: which methods to run, per-method progress, Fill, Variations and Cancel, and what model/device is used."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from contextfill.app import settings as S
from contextfill.model.methods import METHODS


class FillPanel(QWidget):
    fillRequested = Signal()
    variationsRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, settings: S.Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.checks: dict[str, QCheckBox] = {}
        self.bars: dict[str, QProgressBar] = {}
        self.statuses: dict[str, QLabel] = {}
        chosen = set(settings.get(S.METHODS_ON))
        grid = QGridLayout()
        grid.setVerticalSpacing(2)
        for row, spec in enumerate(METHODS.values()):
            method = spec.name
            check = QCheckBox(spec.label)
            check.setChecked(method in chosen)
            check.setToolTip(spec.hint)
            check.toggled.connect(self._save_methods)
            status = QLabel("")
            status.setObjectName("methodStatus")
            status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setFixedHeight(4)
            grid.addWidget(check, 2 * row, 0)
            grid.addWidget(status, 2 * row, 1)
            grid.addWidget(bar, 2 * row + 1, 0, 1, 2)
            self.checks[method], self.bars[method], self.statuses[method] = check, bar, status

        self.fill_button = QPushButton("Fill")
        self.fill_button.setObjectName("primary")
        self.fill_button.setToolTip("Fill the masked area with each chosen method (Ctrl+Enter)")
        self.fill_button.clicked.connect(self.fillRequested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running fills (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.fill_button, 2)
        buttons.addWidget(self.cancel_button, 1)

        self.variations_button = QPushButton("Variations")
        self.variations_button.setToolTip("Fill again with new seeds (patch and hybrid) and compare the results "
                                          "side by side (Ctrl+Shift+Enter)")
        self.variations_button.clicked.connect(self.variationsRequested)
        self.variations_spin = QSpinBox()
        self.variations_spin.setRange(1, 8)
        self.variations_spin.setValue(settings.get(S.VARIATIONS))
        self.variations_spin.setToolTip("How many new seeds each press of Variations tries")
        self.variations_spin.valueChanged.connect(self._save_variations)
        variations = QHBoxLayout()
        variations.addWidget(self.variations_button, 2)
        variations.addWidget(self.variations_spin, 1)

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setObjectName("hint")
        self.device_label = QLabel()
        self.device_label.setObjectName("hint")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(QLabel("Methods"))
        layout.addLayout(grid)
        layout.addSpacing(6)
        layout.addLayout(buttons)
        layout.addLayout(variations)
        layout.addSpacing(6)
        layout.addWidget(self.model_label)
        layout.addWidget(self.device_label)
        layout.addStretch(1)

    def _save_methods(self) -> None:
        self.settings.set(S.METHODS_ON, self.checked_methods())

    def _save_variations(self, count: int) -> None:
        self.settings.set(S.VARIATIONS, count)

    def checked_methods(self) -> list[str]:
        return [m for m, check in self.checks.items() if check.isChecked()]

    def set_running(self, running: bool) -> None:
        self.fill_button.setEnabled(not running)
        self.variations_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for check in self.checks.values():
            check.setEnabled(not running)

    def reset(self, methods: list[str]) -> None:
        for method in self.bars:
            self.bars[method].setValue(0)
            self.set_status(method, "queued" if method in methods else "")

    def set_progress(self, method: str, fraction: float) -> None:
        self.bars[method].setValue(round(fraction * 1000))
        self.set_status(method, f"{fraction:.0%}")

    def set_status(self, method: str, text: str) -> None:
        self.statuses[method].setText(text)

    def show_model(self, text: str, tip: str = "") -> None:
        self.model_label.setText(text)
        self.model_label.setToolTip(tip)

    def show_device(self, text: str) -> None:
        self.device_label.setText(text)
