"""Opens, pastes and saves photos on a worker of its own, so decoding and encoding never stall painting.

It has its own runner (one thread, so a save and the next open keep their order) rather than the fills'
one, where an open would wait behind a minute-long fill. Task signals arrive as queued calls on this
object's slots in the GUI thread; `sender()` says which job sent them. What the window does with a result
(show it, ask, report) stays in the window: this object only carries the work and words nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QByteArray, QObject, Signal, Slot
from PySide6.QtGui import QImage

from contextfill.app.document import Document, from_encoded, from_qimage, load
from contextfill.app.workers import Task, TaskRunner, release
from contextfill.model.imageio import save_image


@dataclass(frozen=True)
class SaveJob:
    document: Document
    path: Path
    mode: str  # of the pixels written (the document may have let go of them by the time they are: take_pixels)


def call(fn: Callable[..., Any], *args, **kwargs):
    """A task function running fn(*args, **kwargs): decoding and encoding have no steps to report or stop at."""

    def run(progress, cancel):
        return fn(*args, **kwargs)

    return run


class FileController(QObject):
    opened = Signal(object)  # Loaded
    openFailed = Signal(str)  # why, in words (the file's name included)
    saved = Signal(object, object)  # SaveJob, the Path written
    saveFailed = Signal(object, str)  # SaveJob, why
    finished = Signal(bool)  # a file job ended: True when it opened or saved (for callers waiting on it)
    busyChanged = Signal(bool)  # work started with none running, or the last job is done

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = TaskRunner(parent=self)
        self._jobs: dict[QObject, SaveJob | None] = {}  # keyed by the task's signals; None for an open

    def open(self, path: str | os.PathLike) -> Task:
        """Decode a file into a `Loaded`."""
        return self._submit(Task(call(load, Path(path)), name=f"open {Path(path).name}"), None)

    def open_image(self, image: QImage) -> Task:
        """A pasted or dropped image (copied: the clipboard's may change while the worker reads it)."""
        return self._submit(Task(call(from_qimage, QImage(image)), name="paste"), None)

    def open_encoded(self, data: QByteArray, suffix: str) -> Task:
        """A pasted or dropped image file's bytes (implicitly shared, not copied), decoded on the worker."""
        return self._submit(Task(call(from_encoded, data, suffix), name="paste"), None)

    def save(self, document: Document, path: Path, jpeg_quality: int, replace: bool) -> Task:
        """Write the document's pixels as they are now, atomically; the window marks it saved on `saved`, with the
        path written: `path` itself, or without `replace` the next free name when `path` exists by then."""
        params = document.save_params(path, jpeg_quality)
        write = call(save_image, document.image, path, replace=replace, apart=True, **params)  # apart: see save_image
        return self._submit(Task(write, name=f"save {path.name}"), SaveJob(document, path, document.image.mode))

    def release(self, *objects: object) -> None:
        """Free big pixels no longer shown on this worker (`workers.release`)."""
        release(self.runner, *objects)

    def wait(self, msecs: int = -1) -> bool:
        return self.runner.wait(msecs)

    def _submit(self, task: Task, job: SaveJob | None) -> Task:
        signals = task.signals
        signals.finished.connect(self._on_finished)
        signals.errored.connect(self._on_errored)
        signals.done.connect(self._on_done)
        self._jobs[signals] = job
        if len(self._jobs) == 1:
            self.busyChanged.emit(True)
        return self.runner.submit(task)

    @Slot(object)
    def _on_finished(self, outcome) -> None:
        job = self._jobs.get(self.sender())
        if job is None:
            self.opened.emit(outcome)
        else:
            self.saved.emit(job, outcome)
        self.finished.emit(True)

    @Slot(str, str)
    def _on_errored(self, message: str, details: str) -> None:
        job = self._jobs.get(self.sender())
        if job is None:
            self.openFailed.emit(message)
        else:
            self.saveFailed.emit(job, message)
        self.finished.emit(False)

    @Slot()
    def _on_done(self) -> None:
        self._jobs.pop(self.sender(), None)
        if not self._jobs:
            self.busyChanged.emit(False)
