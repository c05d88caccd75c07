"""Tools > Fine-tune on my photos: a wizard around `contextfill train --json` run as a separate process.

Training runs in its own process (QProcess), never in the GUI's: it can use every core, a crash there
cannot take the app down, and SIGTERM makes the engine save a checkpoint before it stops. The GUI only
reads the JSON lines the engine prints and shows them.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app import settings as S
from app.dialogs import show_error
from app.fill import FillOptions

DEFAULT_STEPS = 500
KILL_AFTER_MS = 30_000  # time to finish the current step and write the checkpoint after SIGTERM
STDERR_TAIL_LINES = 20


SOURCE_ROOT = Path(__file__).resolve().parent.parent


def train_command(args: list[str]) -> tuple[str, list[str]]:
    """(program, arguments) for `contextfill train ARGS`; the frozen app's executable is the CLI itself."""
    if getattr(sys, "frozen", False):
        return sys.executable, ["train", *args]
    return sys.executable, ["-m", "model.cli", "train", *args]


def runs_dir() -> Path:
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)) / "runs"


def has_checkpoint(run_dir: str) -> bool:
    return bool(run_dir) and (Path(run_dir) / "checkpoint.pt").is_file()


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class TrainProcess(QObject):
    """One `contextfill train --json` child: its JSON lines as `event` dicts, a stderr tail for errors."""

    event = Signal(dict)
    ended = Signal(int, bool)  # exit code, crashed (killed, or never started)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self.process.kill)
        self._stdout = b""
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.stopping = False

    def start(self, args: list[str]) -> None:
        program, arguments = train_command(args)
        if not getattr(sys, "frozen", False):
            self.process.setWorkingDirectory(str(SOURCE_ROOT))  # where `-m model.cli` finds the engine
        self.process.start(program, arguments)

    def is_running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def stop(self) -> None:
        """Ask for a checkpoint and a clean stop (SIGTERM; on Windows only the kill timer ends it)."""
        if self.is_running() and not self.stopping:
            self.stopping = True
            self.process.terminate()
            self._kill_timer.start(KILL_AFTER_MS)

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr)

    def _read_stdout(self) -> None:
        self._stdout += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a stray print from a library, not an engine event
            if isinstance(record, dict) and "event" in record:
                self.event.emit(record)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", "replace")
        self._stderr.extend(line for line in text.splitlines() if line.strip())

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self.ended.emit(code, status == QProcess.ExitStatus.CrashExit)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._stderr.append(f"could not start {self.process.program()}: {self.process.errorString()}")
            self.ended.emit(-1, True)


class SetupPage(QWizardPage):
    """Photos, run folder, steps; the starting model is the one the app uses now."""

    def __init__(self, settings: S.Settings) -> None:
        super().__init__()
        self.setTitle("Fine-tune on your photos")
        self.setSubTitle("The current model keeps learning from crops of your photos. A run can be stopped "
                         "at any time and resumed later.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.model_path = FillOptions.from_settings(settings).resolved_model_path()
        self._auto_run = ""
        self.photos_edit = QLineEdit()
        self.photos_edit.setPlaceholderText("Folder of photos (sub-folders included)")
        self.photos_edit.textChanged.connect(self._on_photos_changed)
        self.run_edit = QLineEdit()
        self.run_edit.setPlaceholderText("Folder for checkpoints, previews and the new model")
        self.run_edit.textChanged.connect(self._on_run_changed)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)
        self.steps.setSingleStep(100)
        self.steps.setValue(DEFAULT_STEPS)
        self.resume = QCheckBox("Resume the run saved in this folder (untick to start over and replace it)")
        self.resume.setVisible(False)
        self.problem = QLabel()
        self.problem.setWordWrap(True)

        form = QFormLayout(self)
        form.addRow("Photos", self._browse_row(self.photos_edit, "Choose the folder of photos"))
        form.addRow("Run folder", self._browse_row(self.run_edit, "Choose a run folder"))
        form.addRow("", self.resume)
        form.addRow("Steps (total)", self.steps)
        form.addRow("Starting model", QLabel(self.model_path.name))
        form.addRow(self.problem)

    def _browse_row(self, edit: QLineEdit, title: str) -> QWidget:
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: edit.setText(QFileDialog.getExistingDirectory(self, title, edit.text())
                                                    or edit.text()))
        box.addWidget(edit, 1)
        box.addWidget(button)
        return row

    def _on_photos_changed(self, text: str) -> None:
        """Name the run after the photo folder until the user picks a run folder."""
        if text.strip() and self.run_edit.text() in ("", self._auto_run):
            self._auto_run = str(runs_dir() / (Path(text.strip()).name or "photos"))
            self.run_edit.setText(self._auto_run)
        self.completeChanged.emit()

    def _on_run_changed(self, text: str) -> None:
        resumable = has_checkpoint(text.strip())
        self.resume.setVisible(resumable)
        self.resume.setChecked(resumable)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return bool(self.photos_edit.text().strip() and self.run_edit.text().strip())

    def validatePage(self) -> bool:
        if not Path(self.photos_edit.text().strip()).is_dir():
            self.problem.setText("The photo folder does not exist.")
            return False
        return True

    def train_args(self, device: str) -> list[str]:
        folder = lambda edit: str(Path(edit.text().strip()).expanduser().absolute())  # noqa: E731 - child's cwd differs
        args = ["--data", folder(self.photos_edit), "--out", folder(self.run_edit),
                "--steps", str(self.steps.value()), "--device", device, "--json"]
        if self.resume.isChecked():
            return [*args, "--resume"]
        return [*args, "--init", str(self.model_path.absolute())]


class RunPage(QWizardPage):
    """Live progress of the child process; complete (Finish enabled) once it has ended."""

    modelChosen = Signal(str)

    def __init__(self, settings: S.Settings) -> None:
        super().__init__()
        self.setTitle("Training")
        self.settings = settings
        self.train = TrainProcess(self)
        self.train.event.connect(self._on_event)
        self.train.ended.connect(self._on_ended)
        self.model_path = ""
        self.stopped_at: int | None = None
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.progress.setValue(0)
        self.speed = QLabel()
        self.psnr = QLabel("Validation PSNR: not measured yet")
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumHeight(160)
        self.status = QLabel("Starting…")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setMaximumHeight(90)
        self.use_button = QPushButton("Use this model")
        self.use_button.setVisible(False)
        self.use_button.clicked.connect(self.use_model)

        layout = QVBoxLayout(self)
        for widget in (self.progress, self.speed, self.psnr, self.preview, self.status, self.log):
            layout.addWidget(widget)
        layout.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignLeft)

    def start(self, args: list[str]) -> None:
        self.log.appendPlainText("contextfill train " + " ".join(args))
        self.train.start(args)

    def isComplete(self) -> bool:
        return not self.train.is_running()

    def _on_event(self, record: dict) -> None:
        kind = record["event"]
        if kind in ("start", "step"):
            self.progress.setRange(0, int(record["steps"]))
            self.progress.setValue(int(record["step"]))
        if kind == "step":  # frequent: shown, not logged
            self.speed.setText(f"{record['images_per_s']:.1f} images/s · {format_duration(record['eta_s'])} left")
            return
        if kind == "start":
            self.status.setText(f"Training on {record['train_photos']} photos ({record['val_photos']} kept for "
                                f"validation) on {record['device']}.")
        elif kind == "val":
            self.psnr.setText(f"Validation PSNR (hole): {record['val_psnr']:.2f} dB at step {record['step']}")
            self._show_preview(record["preview"])
        elif kind == "stopped":
            self.stopped_at = int(record["step"])
        elif kind == "done":
            self.model_path = str(record["model"])
        self.log.appendPlainText(", ".join(f"{k}: {v}" for k, v in record.items()))

    def _show_preview(self, path: str) -> None:
        pixmap = QPixmap(path)
        if pixmap.isNull():
            return
        size = self.preview.size().expandedTo(self.preview.minimumSize())
        self.preview.setPixmap(pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))
        self.preview.setToolTip(f"Columns: input with a hole, the fill, the original\n{path}")

    def _on_ended(self, code: int, crashed: bool) -> None:
        if self.model_path:
            if self.stopped_at is None:
                outcome = "Done."
            else:
                outcome = f"Stopped at step {self.stopped_at}; the checkpoint is saved, so the run can be resumed."
            self.status.setText(f"{outcome} Model saved to {self.model_path}")
            self.use_button.setVisible(True)
        elif self.train.stopping:
            self.status.setText("Stopped before a checkpoint was written; nothing new was saved.")
        else:
            tail = self.train.stderr_tail() or "(no error output)"
            how = "crashed" if crashed else f"stopped with exit code {code}"
            self.status.setText(f"Training {how}.")
            show_error(self, "Training failed", f"The training process {how}:\n\n{tail}")
        self.completeChanged.emit()

    def stop(self) -> None:
        if self.train.is_running():
            self.status.setText("Stopping: saving a checkpoint…")
            self.train.stop()

    def use_model(self) -> None:
        self.settings.set(S.MODEL_PATH, self.model_path)
        self.settings.sync()
        self.use_button.setEnabled(False)
        self.use_button.setText("In use")
        self.modelChosen.emit(self.model_path)


class TrainWizard(QWizard):
    """Setup page, then the run page; Cancel during a run stops it (checkpoint) instead of closing."""

    modelChosen = Signal(str)

    def __init__(self, settings: S.Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Fine-tune on my photos")
        self.settings = settings
        self.extra_args: list[str] = []  # hidden from the UI; tests pass --dry-run
        self.setup_page = SetupPage(settings)
        self.run_page = RunPage(settings)
        self.run_page.modelChosen.connect(self.modelChosen)
        self.addPage(self.setup_page)
        self.addPage(self.run_page)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage)
        self.resize(720, 600)

    def initializePage(self, page_id: int) -> None:
        super().initializePage(page_id)
        if self.page(page_id) is self.run_page:
            self.run_page.start(self.setup_page.train_args(self.settings.get(S.DEVICE)) + self.extra_args)

    def reject(self) -> None:
        if self.run_page.train.is_running():
            self.run_page.stop()
            return
        super().reject()
