"""Tools > Fine-tune on my photos: a wizard around `contextfill train --json` run as a separate process.

Training runs in its own process (QProcess), never in the GUI's: it can use every core, a crash there
cannot take the app down, and SIGTERM makes the engine save a checkpoint before it stops. The GUI only
reads the JSON lines the engine prints and shows them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections import deque
from datetime import date
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QStandardPaths, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from contextfill.app import APP_NAME
from contextfill.app import settings as S
from contextfill.app.dialogs import show_error
from contextfill.app.fill import FillOptions
from contextfill.app.workers import Task, TaskRunner

# How long to train: (minutes, label, what to expect). Only what was measured is promised (MODEL_CARD.md: on a mix
# of unrelated photos, 11 recipes of 10 minutes moved the score by -1.2 to +0.11 dB, the one used here by -0.11 to
# +0.08; on black-and-white photos it gained +0.17); the run's own score at the end says what it really gave.
DURATIONS = (
    (10, "10 minutes", "A first look. In our tests 10 minutes gained nothing measurable on a mix of unrelated "
                       "photos (within ±0.1 dB), and 0.17 dB on object-sized holes in black-and-white ones."),
    (30, "30 minutes", "Three times the steps of a 10-minute run. Whether it helps depends on how alike your photos "
                       "are."),
    (60, "1 hour", "Photos of one subject or one shoot have the most to teach; unrelated photos little."),
    (600, "Overnight (10 hours)", "The most these photos can teach. With only a few photos the model may start to "
                                  "learn them by heart; the score at the end shows that too."),
)
DEFAULT_MINUTES = 30
CPU_IMAGES_PER_S = (15, 30)  # measured for the default model on 2 CPU cores
PLANNED_IMAGES_PER_S = 20  # the speed expected: held-out scores are spaced on the steps it gives
# --steps is only a maximum: the engine fits its steps (and its learning-rate decay) to --minutes once it has measured
# its speed; a machine faster than this ends early, its schedule done.
MAX_IMAGES_PER_S = 60
SCORES_PER_RUN = 10  # held-out scores over a run, besides the starting model's
MIN_VAL_EVERY = 25  # steps between them at the least: one costs about 3 s (48 crops on 2 CPU cores), 2 steps' time
BATCH_SIZE = 32  # the engine's default
FEW_STEPS = 200  # fewer steps than this change a model little
LOG_BLOCK = 64 << 10  # bytes of the training log read at a time, from its end
CHECK_DELAY_MS = 300  # the run folder is looked at once typing pauses this long, on a worker
KILL_AFTER_MS = 30_000  # time to finish the current step and write the checkpoint after SIGTERM
STDERR_TAIL_LINES = 20


SOURCE_ROOT = Path(__file__).resolve().parent.parent


def train_command(args: list[str]) -> tuple[str, list[str]]:
    """(program, arguments) for `contextfill train ARGS`; the frozen app's executable is the CLI itself."""
    if getattr(sys, "frozen", False):
        return sys.executable, ["train", *args]
    return sys.executable, ["-m", "contextfill.model.cli", "train", *args]


def runs_dir() -> Path:
    """~/.local/share/ContextFill/runs on Linux: the generic data folder and the app's name once (the app's own data
    location names the organisation and the app, both ContextFill)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)) / APP_NAME / "runs"


def model_name(photos: str, day: date) -> str:
    """A fine-tuned model's name: its photos' folder and the day it was trained, e.g. `holiday-2026-11-29`."""
    return f"{Path(photos).name or 'photos'}-{day.isoformat()}"


def keep_model(model: Path, name: str) -> Path:
    """Copy the run's model.pt to `<name>.pt` beside it (numbered, never replacing a file): the name Settings and the
    Fill panel then show. Runs on a worker."""
    n = 1
    while True:
        target = model.with_name(f"{name}.pt" if n == 1 else f"{name}-{n}.pt")
        try:
            with open(target, "xb") as out, open(model, "rb") as src:
                shutil.copyfileobj(src, out)
            return target
        except FileExistsError:
            n += 1


def decoded_preview(path: str) -> QImage:
    """The engine's preview PNG decoded on a worker, in the format the screen paints without converting. It is
    shown at 100%: a crop is the model's 128 px, and a fill scaled down hides exactly what the user judges."""
    return QImage(path).convertToFormat(QImage.Format.Format_RGB32)


def run_name(photos: str) -> str:
    """The photo folder's name and a digest of its whole path: ~/Camera/DCIM and ~/Phone/DCIM get two runs, so
    fine-tuning on one never resumes the other's."""
    path = Path(photos).expanduser().absolute()
    return f"{path.name or 'photos'}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"


def has_checkpoint(run_dir: str) -> bool:
    return bool(run_dir) and (Path(run_dir) / "checkpoint.pt").is_file()


def saved_step(run_dir: str) -> int:
    """The step of the run's last checkpoint, from its log read backwards from the end in blocks: a checkpoint is
    logged every 100 steps, while a night's log is megabytes (the whole of it was read on the GUI thread)."""
    try:
        with open(Path(run_dir) / "log.jsonl", "rb") as log:
            end = log.seek(0, os.SEEK_END)
            cut = b""  # the start of the block's last line, read with the block before it
            while end > 0:
                start = max(0, end - LOG_BLOCK)
                log.seek(start)
                lines = (log.read(end - start) + cut).split(b"\n")
                cut = lines.pop(0) if start > 0 else b""
                for line in reversed(lines):
                    if b'"checkpoint"' in line:
                        return int(json.loads(line).get("step", 0))
                end = start
    except (OSError, ValueError):
        pass
    return 0


def steps_in(minutes: float, images_per_s: float) -> int:
    """Training steps of BATCH_SIZE crops in `minutes` at `images_per_s`."""
    return max(1, round(minutes * 60 * images_per_s / BATCH_SIZE))


def estimate_text(minutes: float, outlook: str) -> str:
    low, high = (steps_in(minutes, rate) for rate in CPU_IMAGES_PER_S)
    slow, fast = CPU_IMAGES_PER_S
    return (f"About {low:,}–{high:,} steps of {BATCH_SIZE} crops on a CPU ({slow}–{fast} images/s); on a GPU "
            f"the run takes less time. {outlook} The new model and the current one are scored on photos kept out of "
            "training (a tenth of them, and at least 5 when you give 15 or more), so you see what it gained.")


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
            self.process.setWorkingDirectory(str(SOURCE_ROOT))  # where `-m contextfill.model.cli` finds the engine
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

    @Slot()
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

    @Slot()
    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", "replace")
        self._stderr.extend(line for line in text.splitlines() if line.strip())

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self.ended.emit(code, status == QProcess.ExitStatus.CrashExit)

    @Slot(QProcess.ProcessError)
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._stderr.append(f"could not start {self.process.program()}: {self.process.errorString()}")
            self.ended.emit(-1, True)


class SetupPage(QWizardPage):
    """Photos, run folder and how long to train; the starting model is the one the app uses now."""

    def __init__(self, settings: S.Settings) -> None:
        super().__init__()
        self.setTitle("Fine-tune on your photos")
        self.setSubTitle("The current model keeps learning from crops of your photos. A run can be stopped "
                         "at any time and resumed later.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.model_path = FillOptions.from_settings(settings).resolved_model_path()
        self._auto_run = ""
        self._runner = TaskRunner(parent=self)
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self._check_run_folder)
        self.photos_edit = QLineEdit()
        self.photos_edit.setPlaceholderText("Folder of photos (sub-folders included)")
        self.photos_edit.textChanged.connect(self._on_photos_changed)
        self.run_edit = QLineEdit()
        self.run_edit.setPlaceholderText("Folder for checkpoints, previews and the new model")
        self.run_edit.textChanged.connect(self._on_run_changed)
        self.duration = QComboBox()
        for minutes, label, _outlook in DURATIONS:
            self.duration.addItem(label, minutes)
        self.duration.currentIndexChanged.connect(self._on_duration_changed)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        self.resume = QCheckBox("Resume the run saved in this folder (untick to start over and replace it)")
        self.resume.setVisible(False)
        self.problem = QLabel()
        self.problem.setWordWrap(True)

        form = QFormLayout(self)
        form.addRow("Photos", self._browse_row(self.photos_edit, "Choose the folder of photos"))
        form.addRow("Run folder", self._browse_row(self.run_edit, "Choose a run folder"))
        form.addRow("", self.resume)
        form.addRow("Train for", self.duration)
        form.addRow("", self.estimate)
        form.addRow("Starting model", QLabel(self.model_path.name))
        form.addRow(self.problem)
        self.duration.setCurrentIndex(self.duration.findData(DEFAULT_MINUTES))
        self._on_duration_changed(self.duration.currentIndex())

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

    @Slot(int)
    def _on_duration_changed(self, index: int) -> None:
        minutes, _label, outlook = DURATIONS[max(index, 0)]
        self.estimate.setText(estimate_text(minutes, outlook))

    def _on_photos_changed(self, text: str) -> None:
        """Name the run after the photo folder and the day until the user picks a run folder."""
        if text.strip() and self.run_edit.text() in ("", self._auto_run):
            self._auto_run = str(runs_dir() / run_name(text.strip()))
            self.run_edit.setText(self._auto_run)
        self.completeChanged.emit()

    def _on_run_changed(self, text: str) -> None:
        """Whether the folder holds a run to resume is looked at once typing pauses, on a worker: a folder on a
        network share can take seconds to answer, and each keystroke asked."""
        self._check_timer.start()
        self.completeChanged.emit()

    @Slot()
    def _check_run_folder(self) -> None:
        folder = self.run_edit.text().strip()
        task = Task(lambda progress, cancel: (folder, has_checkpoint(folder)), name="look at the run folder")
        task.signals.finished.connect(self._on_run_checked)
        self._runner.submit(task)

    @Slot(object)
    def _on_run_checked(self, checked: tuple[str, bool]) -> None:
        folder, resumable = checked
        if folder == self.run_edit.text().strip():  # else the folder was changed meanwhile; its own check follows
            self.resume.setVisible(resumable)
            self.resume.setChecked(resumable)

    def isComplete(self) -> bool:
        return bool(self.photos_edit.text().strip() and self.run_edit.text().strip())

    def validatePage(self) -> bool:
        if not Path(self.photos_edit.text().strip()).is_dir():
            self.problem.setText("The photo folder does not exist.")
            return False
        return True

    def minutes(self) -> int:
        return int(self.duration.currentData())

    def train_args(self, device: str) -> list[str]:
        """The time limit, which the engine fits its steps to, with at most the steps of a fast machine (a resumed
        run adds them to the steps it has done); held-out scores about SCORES_PER_RUN times at the expected speed."""
        folder = lambda edit: str(Path(edit.text().strip()).expanduser().absolute())  # noqa: E731 - child's cwd differs
        minutes = self.minutes()
        steps = steps_in(minutes, MAX_IMAGES_PER_S) + (saved_step(folder(self.run_edit)) if self.resume.isChecked() else 0)
        val_every = max(MIN_VAL_EVERY, steps_in(minutes, PLANNED_IMAGES_PER_S) // SCORES_PER_RUN)
        args = ["--data", folder(self.photos_edit), "--out", folder(self.run_edit), "--steps", str(steps),
                "--minutes", str(minutes), "--val-every", str(val_every), "--device", device, "--json"]
        if self.resume.isChecked():
            return [*args, "--resume"]
        # --init fine-tunes with the engine's measured recipe (FINE_TUNE_RECIPE), as the command line does.
        return [*args, "--init", str(self.model_path.absolute())]


class PreviewLabel(QLabel):
    """A preview at 100% that opens in its own window when clicked."""

    clicked = Signal()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.pixmap() is not None and not self.pixmap().isNull():
            self.clicked.emit()
        super().mouseReleaseEvent(event)


class PreviewWindow(QScrollArea):
    """The latest preview at 100% in a window of its own, as large as the screen allows; it follows new previews
    while open, so it can sit beside the wizard during a run."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowFlag(Qt.WindowType.Window)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image = QLabel()
        self.setWidget(self.image)

    def show_pixmap(self, pixmap: QPixmap, caption: str) -> None:
        self.setWindowTitle(f"Training preview at 100% — {caption}")
        self.image.setPixmap(pixmap)
        self.image.adjustSize()
        room = self.screen().availableGeometry().size() * 0.9
        frame = 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width()
        self.resize(min(pixmap.width() + frame, room.width()), min(pixmap.height() + frame, room.height()))


class RunPage(QWizardPage):
    """Live progress of the child process from its first second; complete (Finish enabled) once it has ended,
    then what the run did: how many steps, the score before and after, and a preview of both fills."""

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
        self.stop_reason = ""
        self.final_step = 0
        self.minutes = 0.0
        self.started_at: float | None = None
        self.start_step = 0
        self.val_photos = 0
        self.score: dict | None = None
        self.best: dict | None = None  # the engine's best validation so far (kept as best.pt)
        self.progress = QProgressBar()
        self.progress.setValue(0)
        self.speed = QLabel()
        self.psnr = QLabel("Validation PSNR: not measured yet")
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.preview = PreviewLabel()
        self.preview.setCursor(Qt.CursorShape.PointingHandCursor)
        self.preview.clicked.connect(self.open_preview)
        self.preview_path = ""
        self.preview_area = QScrollArea()  # at 100%: the rows beyond the page's height scroll
        self.preview_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_area.setMinimumHeight(200)
        self.preview_area.setWidget(self.preview)
        self.preview_window: PreviewWindow | None = None
        self.preview_caption = QLabel()
        self.preview_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setMaximumHeight(90)
        self.use_button = QPushButton("Use this model")
        self.use_button.setVisible(False)
        self.use_button.clicked.connect(self.use_model)
        self.back_button = QPushButton()  # one click back to the model used before "Use this model"
        self.back_button.setVisible(False)
        self.back_button.clicked.connect(self.use_previous)
        self.model_name = ""
        self.runner = TaskRunner(parent=self)
        self._previews: dict[QObject, tuple[str, str]] = {}  # a decoding preview's task signals -> (path, caption)

        layout = QVBoxLayout(self)
        for widget in (self.progress, self.speed, self.psnr, self.result, self.preview_area, self.preview_caption,
                       self.status, self.log):
            layout.addWidget(widget, 1 if widget is self.preview_area else 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def start(self, args: list[str], name: str) -> None:
        """Run `contextfill train ARGS`; the model it makes is kept as `<name>.pt` when used."""
        self.model_name = name
        self.progress.setRange(0, 0)  # busy until the engine reports: starting Python and torch takes seconds
        self.progress.setFormat("")
        self.status.setText("Starting the training engine…")
        self.started_at = time.monotonic()  # the user's wait, which the time limit is about, starts now
        self.train.start(args)

    def isComplete(self) -> bool:
        return not self.train.is_running()

    @Slot(dict)
    def _on_event(self, record: dict) -> None:
        kind = record["event"]
        if kind == "loading":
            self._show_loading(record)
        elif kind == "start":
            self.final_step = self.start_step = int(record["step"])
            self.minutes, self.val_photos = float(record.get("minutes") or 0), int(record["val_photos"])
            self.progress.setRange(0, int(record["steps"]))
            self.progress.setValue(int(record["step"]))
            # A timed run's steps are its maximum until the engine has measured its speed and planned them.
            self.progress.setFormat("step %v of at most %m" if self.minutes > 0 else "step %v / %m")
            self.status.setText(f"Training on {record['train_photos']} photos ({record['val_photos']} kept aside to "
                                f"score it) on {record['device']}.")
        elif kind == "plan":
            self.progress.setMaximum(int(record["steps"]))
            if not self.train.stopping:
                self.progress.setFormat("step %v / %m")
        elif kind == "step":
            self.final_step = int(record["step"])
            if not self.train.stopping:  # after Stop the last step's numbers would only look stale
                self.progress.setValue(self.final_step)
                left = format_duration(self._seconds_left(record))
                self.speed.setText(f"{record['images_per_s']:.1f} images/s · {left} left")
        elif kind == "val":
            when = "the starting model" if record["step"] == self.start_step else f"step {record['step']}"
            self.psnr.setText(f"Validation PSNR (hole) on {self._photos(self.val_photos)} kept aside: "
                              f"{record['val_psnr']:.2f} dB for {when}")
            if self.score is None:
                self._show_preview(record["preview"], "Each row a crop: with the hole · the fill · the original")
        elif kind == "best":
            self.best = record
            self.log.appendPlainText(f"Best so far at step {record['step']}: {record['val_psnr']:.2f} dB")
        elif kind == "score":
            self.score = record
            self._show_preview(record["preview"], "Each row a crop: with the hole · the starting model's fill · "
                                                  "the new model's fill · the original")
        elif kind == "warning":
            self.log.appendPlainText(str(record["message"]))
        elif kind == "stopped":
            self.stopped_at = self.final_step = int(record["step"])
            self.stop_reason = str(record.get("reason", ""))
            self.log.appendPlainText(f"Stopped at step {record['step']}; checkpoint saved.")
        elif kind == "done":
            self.model_path, self.final_step = str(record["model"]), int(record["step"])

    def _show_loading(self, record: dict) -> None:
        total = int(record["photos"])
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(int(record.get("done", 0)))
        self.progress.setFormat("reading photos: %v / %m")
        self.status.setText(f"Reading {total} photos…")

    def _seconds_left(self, record: dict) -> float:
        """The engine's estimate for the remaining steps, or the time limit if that comes first."""
        left = float(record["eta_s"])
        if self.minutes > 0 and self.started_at is not None:
            left = min(left, self.minutes * 60 - (time.monotonic() - self.started_at))
        return left

    def _show_preview(self, path: str, caption: str) -> None:
        """Decode the engine's preview on a worker; it is shown when ready."""
        task = Task(lambda progress, cancel: decoded_preview(path), name="preview")
        task.signals.finished.connect(self._on_preview)
        self._previews[task.signals] = (path, caption)
        self.runner.submit(task)

    @Slot(object)
    def _on_preview(self, image: QImage) -> None:
        path, caption = self._previews.pop(self.sender())
        if image.isNull() or self._previews:  # unreadable, or a newer preview is on its way
            return
        self.preview.setPixmap(QPixmap.fromImage(image))
        self.preview.adjustSize()
        self.preview_path = path
        self.preview.setToolTip(f"{path}\nClick to open it in a window of its own")
        self.preview_caption.setText(caption)
        if self.preview_window is not None and self.preview_window.isVisible():
            self.preview_window.show_pixmap(self.preview.pixmap(), caption)

    @Slot()
    def open_preview(self) -> None:
        """The preview at 100% in a window of its own, all its rows at once where the screen has room."""
        if self.preview_window is None:
            self.preview_window = PreviewWindow(self)
        self.preview_window.show_pixmap(self.preview.pixmap(), self.preview_caption.text())
        self.preview_window.show()
        self.preview_window.raise_()

    def _learned_text(self) -> str:
        steps = self.final_step  # since the starting model, a resumed run's earlier steps included
        if steps < FEW_STEPS:
            return f"Only {steps} steps: expect little change."
        return f"{steps:,} steps trained."

    @staticmethod
    def _photos(n: int) -> str:
        return f"{n} photo{'s' if n != 1 else ''}"

    def _score_text(self) -> str:
        if self.score is None:
            return "Not scored: no photos were kept aside (a run needs at least two readable photos to score itself)."
        s = self.score
        photos = self._photos(s["val_photos"])
        text = (f"On {photos} kept out of training ({s['crops']} crops, hole only): {s['before_psnr']:.2f} dB with the "
                f"starting model, {s['after_psnr']:.2f} dB with the new one ({s['gain_db']:+.2f} dB, give or take "
                f"{s['gain_se_db']:.2f}).")
        if s["clear"]:
            verdict = " A difference this small is hard to see." if s["gain_db"] < 0.1 else ""
        elif s["gain_db"] <= 0:
            verdict = " The new model is not better on these photos; keeping the current one is the safer choice."
        else:
            verdict = (f" A gain this size could be chance on {photos} (a clear one is over twice the give-or-take); "
                       "keeping the current model is the safer choice.")
        return text + verdict + self._best_text()

    def _best_text(self) -> str:
        """Why the log's best score is not the one offered: a model picked by its score on the held-out photos
        would overstate that score, so the final model is scored and offered, and the best is only kept."""
        b, s = self.best, self.score
        if b is None or s is None or int(b["step"]) in (int(s["step"]), self.start_step):
            return ""
        return (f" The best validation, {b['val_psnr']:.2f} dB at step {b['step']}, is kept as best.pt; the final "
                "model is the one offered, because a step chosen for its score on these photos would overstate it.")

    @Slot(int, bool)
    def _on_ended(self, code: int, crashed: bool) -> None:
        self.speed.clear()
        self.progress.setRange(0, max(self.progress.maximum(), 1))
        if self.model_path:
            if self.stopped_at is None:
                outcome = "Done."
                self.progress.setFormat("done: step %v")
            else:
                why = "Time is up: stopped" if self.stop_reason == "time" else "Stopped"
                outcome = f"{why} at step {self.stopped_at}; the checkpoint is saved, so the run can be resumed."
                self.progress.setFormat(f"stopped at step {self.stopped_at}")
            self.result.setText(f"{self._learned_text()} {self._score_text()}")
            self.status.setText(f"{outcome} Model saved to {self.model_path}")
            self.use_button.setVisible(self.gained())
        elif self.train.stopping:
            self.progress.setFormat("stopped")
            self.status.setText("Stopped before a checkpoint was written; nothing new was saved.")
        else:
            self.progress.setFormat("failed")
            tail = self.train.stderr_tail() or "(no error output)"
            how = "crashed" if crashed else f"stopped with exit code {code}"
            self.status.setText(f"Training {how}.")
            show_error(self, "Training failed", f"The training process {how}:\n\n{tail}")
        self.completeChanged.emit()

    def stop(self) -> None:
        if self.train.is_running():
            self.status.setText("Stopping: saving a checkpoint…")
            self.speed.clear()
            self.progress.setFormat("stopping…")
            self.train.stop()

    def gained(self) -> bool:
        """The new model scored clearly better than the starting one (the engine's verdict: over twice the gain's
        standard error and 0.01 dB): only then is it offered, since a gain within the noise of a few held-out
        photos would make the default a model that is no better, only different."""
        return self.score is not None and bool(self.score["clear"])

    @Slot()
    def use_model(self) -> None:
        """Keep the model under its own name (on a worker), then make it the one fills use."""
        self.use_button.setEnabled(False)
        task = Task(lambda progress, cancel: keep_model(Path(self.model_path), self.model_name), name="keep model")
        task.signals.finished.connect(self._on_model_kept)
        task.signals.errored.connect(self._on_keep_failed)
        self.runner.submit(task)

    @Slot(object)
    def _on_model_kept(self, path: Path) -> None:
        previous = self.settings.get(S.MODEL_PATH)
        self.settings.set(S.PREVIOUS_MODEL_PATH, previous)
        self._choose(str(path))
        self.use_button.setText(f"In use: {path.name}")
        self.back_button.setText(f"Use {Path(previous).name if previous else 'the default model'} again")
        self.back_button.setVisible(True)

    @Slot(str, str)
    def _on_keep_failed(self, message: str, details: str) -> None:
        self.use_button.setEnabled(True)
        show_error(self, "Cannot keep the model", message, details or None)

    @Slot()
    def use_previous(self) -> None:
        self._choose(self.settings.get(S.PREVIOUS_MODEL_PATH))
        self.back_button.setVisible(False)
        self.use_button.setText("Use this model")
        self.use_button.setEnabled(True)

    def _choose(self, path: str) -> None:
        self.settings.set(S.MODEL_PATH, path)
        self.settings.sync()
        self.modelChosen.emit(path)


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
        # Room for previews at 100% (three or four columns of 128 px, rows scrolling), within the screen.
        self.resize(760, min(860, self.screen().availableGeometry().height() - 60))

    def initializePage(self, page_id: int) -> None:
        super().initializePage(page_id)
        if self.page(page_id) is self.run_page:
            photos = self.setup_page.photos_edit.text().strip()
            self.run_page.start(self.setup_page.train_args(self.settings.get(S.DEVICE)) + self.extra_args,
                                model_name(photos, date.today()))

    def reject(self) -> None:
        if self.run_page.train.is_running():
            self.run_page.stop()
            return
        super().reject()
