"""Runs fills on the task runner and shows them in the Fill panel and the Compare view.

A fill is a FillJob: its Compare panel's key and title, the method and the options (seed, sampling area).
Task signals arrive as queued calls on this object's slots in the GUI thread; `sender()` says whose task
sent them. `reset()` forgets the running jobs, so a replaced fill still reporting is simply not found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.fill import FillOptions, ModelCache, fill_task
from app.fill_panel import FillPanel
from app.results import ResultsView
from app.workers import Task, TaskRunner

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FillJob:
    key: str  # the Compare panel's key, e.g. "patch" or "patch@3" for a variation with seed 3
    method: str
    title: str
    options: FillOptions


class FillController(QObject):
    """The fills of one comparison: their tasks while they run, then their results, errors and titles."""

    finished = Signal()  # every job queued so far is done (finished, failed or cancelled)

    def __init__(self, runner: TaskRunner, models: ModelCache, panel: FillPanel, view: ResultsView,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner, self.models, self.panel, self.view = runner, models, panel, view
        self.results: dict = {}  # key -> FillResult
        self.titles: dict[str, str] = {}  # key -> title, for every job of the comparison
        self.errors: list[tuple[str, str, str]] = []  # (title, message, details) of the latest run
        self.mask: np.ndarray | None = None  # the hole the comparison fills
        self._running: dict[QObject, tuple[Task, FillJob]] = {}  # keyed by the task's signals object
        self._queued: list[Task] = []

    def is_running(self) -> bool:
        return bool(self._running)

    def run(self, jobs: list[FillJob], image: Image.Image, mask: np.ndarray) -> None:
        """Queue a task per job; they start on the next event-loop turn, once their new panels are painted."""
        self.mask = mask
        self.errors.clear()
        self.panel.reset([job.method for job in jobs])
        self.panel.set_running(True)
        for job in jobs:
            task = Task(fill_task(job.method, image, mask, job.options, self.models), name=f"fill ({job.key})")
            signals = task.signals
            signals.started.connect(self._on_started)
            signals.progress.connect(self._on_progress)
            signals.finished.connect(self._on_finished)
            signals.errored.connect(self._on_errored)
            signals.cancelled.connect(self._on_cancelled)
            signals.done.connect(self._on_done)
            self._running[signals] = (task, job)
            self.titles[job.key] = job.title
            self._queued.append(task)
        QTimer.singleShot(0, self._submit)

    def cancel(self) -> bool:
        """Ask every running job to stop; False when none was running."""
        for task, job in self._running.values():
            task.cancel()
            self.panel.set_status(job.method, "cancelling…")
        return self.is_running()

    def reset(self) -> None:
        """Stop every job, ignore whatever they still report, and empty the comparison."""
        for task, _ in self._running.values():
            task.cancel()
        self._running.clear()
        self.results.clear()
        self.titles.clear()
        self.mask = None
        self.view.clear()
        self.panel.reset([])
        self.panel.set_running(False)

    @Slot()
    def _submit(self) -> None:
        queued, self._queued = self._queued, []
        for task in queued:
            self.runner.submit(task)

    def _job(self) -> FillJob | None:
        entry = self._running.get(self.sender())
        return entry[1] if entry else None

    @Slot()
    def _on_started(self) -> None:
        if job := self._job():
            self.panel.set_status(job.method, "running")
            self.view.panel(job.key).info.setText("Running…")

    @Slot(float)
    def _on_progress(self, fraction: float) -> None:
        if job := self._job():
            self.panel.set_progress(job.method, fraction)
            self.view.panel(job.key).set_progress(fraction)

    @Slot(object)
    def _on_finished(self, outcome) -> None:
        if not (job := self._job()):
            return
        result, preview = outcome
        self.results[job.key] = result
        self.view.set_result(job.key, preview, f"{result.seconds:.2f} s · {result.device}")
        self.panel.set_progress(job.method, 1.0)
        self.panel.set_status(job.method, f"{result.seconds:.2f} s")
        for note in getattr(result, "notes", []) or []:
            log.info("%s: %s", job.title, note)

    @Slot(str, str)
    def _on_errored(self, message: str, details: str) -> None:
        if job := self._job():
            self.errors.append((job.title, message, details))
            self.view.panel(job.key).set_message(message, error=True)
            self.panel.set_status(job.method, "failed")

    @Slot()
    def _on_cancelled(self) -> None:
        if job := self._job():
            self.view.panel(job.key).set_message("Cancelled")
            self.panel.set_status(job.method, "cancelled")

    @Slot()
    def _on_done(self) -> None:
        if self._running.pop(self.sender(), None) is not None and not self._running:
            self.panel.set_running(False)
            self.finished.emit()
