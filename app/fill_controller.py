"""Runs fills and model loads on the task runner and shows them in the Fill panel and the Compare view.

A fill is a FillJob: its Compare panel's key and title, the method and the options (seed, sampling area).
Task signals arrive as queued calls on this object's slots in the GUI thread; `sender()` says whose task
sent them. `reset()` forgets the running jobs, so a replaced fill still reporting is simply not found.
The comparison (results, their previews, the image and hole they filled) outlives an Apply, so undoing
the Apply brings it back to pick another result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QColor

from contextfill.app.fill import FillOptions, ModelCache, fill_task, load_model_task
from contextfill.app.fill_panel import FillPanel
from contextfill.app.mask import overlay_image
from contextfill.app.results import ResultsView
from contextfill.app.workers import Task, TaskRunner, release

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
    modelLoaded = Signal(bool)  # a model load ended: True when the model is ready
    modelFailed = Signal(str, str, bool)  # message, details, whether to tell the user in a dialog
    deviceFound = Signal(str)  # the device a loaded model runs on, in words

    def __init__(self, runner: TaskRunner, models: ModelCache, panel: FillPanel, view: ResultsView,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner, self.models, self.panel, self.view = runner, models, panel, view
        self.results: dict = {}  # key -> FillResult
        self.previews: dict = {}  # key -> (QImage of the result, its reduced copies), made on the worker
        self.titles: dict[str, str] = {}  # key -> title, for every job of the comparison
        self.errors: list[tuple[str, str, str]] = []  # (title, message, details) of the latest run
        self.cancelled = 0  # jobs of the latest run stopped by Cancel
        self.image: Image.Image | None = None  # the photo the comparison fills
        self.mask_revision: int | None = None  # the hole mask layer's revision when the comparison read it
        self.hole: tuple[tuple[int, int, int, int], np.ndarray] | None = None  # the box it filled, its pixels
        self._running: dict[QObject, tuple[Task, FillJob]] = {}  # keyed by the task's signals object
        self._queued: list[Task] = []
        self._loads: dict[QObject, tuple[str, bool]] = {}  # model loads: signals -> (file name, report in a dialog)
        self._overlays: dict[QObject, float] = {}  # the mask of this comparison's original: signals -> its opacity

    def is_running(self) -> bool:
        return bool(self._running)

    def run(self, jobs: list[FillJob], image: Image.Image, mask: np.ndarray, revision: int,
            box: tuple[int, int, int, int]) -> None:
        """Queue a task per job; they start on the next event-loop turn, once their new panels are painted.
        `box` holds every hole pixel of `mask`: Apply clears that hole, not strokes painted while the fill ran."""
        x0, y0, x1, y1 = box
        self.image, self.mask_revision, self.hole = image, revision, (box, mask[y0:y1, x0:x1])
        self.errors.clear()
        self.cancelled = 0
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

    def show_mask(self, hole: np.ndarray, sampling: np.ndarray | None, hole_color: QColor, sampling_color: QColor,
                  opacity: float) -> Task:
        """Compose the mask for the comparison's original on the worker (before the fills, which queue behind it)."""
        colors = (hole_color.rgb() & 0xFFFFFF, sampling_color.rgb() & 0xFFFFFF)
        task = Task(lambda progress, cancel: overlay_image(hole, sampling, *colors), name="mask overlay")
        task.signals.finished.connect(self._on_overlay)
        self._overlays[task.signals] = opacity
        return self.runner.submit(task)

    @Slot(object)
    def _on_overlay(self, overlay) -> None:
        opacity = self._overlays.pop(self.sender(), None)
        if overlay is not None and opacity is not None:
            self.view.show_mask(*overlay, opacity)

    def cancel(self) -> bool:
        """Ask every running job to stop; False when none was running."""
        for task, job in self._running.values():
            task.cancel()
            self.panel.set_status(job.method, "cancelling…")
        return self.is_running()

    def reset(self) -> None:
        """Stop every job, ignore whatever they still report, and empty the comparison; the results' pixels are
        freed on the worker (`workers.release`), once the panels no longer show them."""
        for task, _ in self._running.values():
            task.cancel()
        self._running.clear()
        self._overlays.clear()
        pixels = [*self.results.values(), *self.previews.values()]
        self.results.clear()
        self.previews.clear()
        self.titles.clear()
        self.image = self.mask_revision = self.hole = None
        self.view.clear()
        self.panel.reset([])
        self.panel.set_running(False)
        if pixels:
            release(self.runner, *pixels)

    def load_model(self, options: FillOptions, report_errors: bool = False) -> Task:
        """Load the chosen model on the worker so the first fill does not wait for it."""
        name = options.resolved_model_path().name
        self.panel.show_model(f"Model: {name} (loading…)")
        task = Task(load_model_task(options, self.models), name="load model")
        task.signals.finished.connect(self._on_model_loaded)
        task.signals.errored.connect(self._on_model_failed)
        self._loads[task.signals] = (name, report_errors)
        return self.runner.submit(task)

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
        result, preview, small = outcome
        self.results[job.key] = result
        self.previews[job.key] = (preview, small)
        self.view.set_result(job.key, preview, f"{result.seconds:.2f} s · {result.device}", small)
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
            self.cancelled += 1
            self.view.panel(job.key).set_message("Cancelled")
            self.panel.set_status(job.method, "cancelled")

    @Slot()
    def _on_done(self) -> None:
        if self._running.pop(self.sender(), None) is not None and not self._running:
            self.panel.set_running(False)
            self.finished.emit()

    @Slot(object)
    def _on_model_loaded(self, model) -> None:
        self._loads.pop(self.sender(), None)
        params = sum(p.numel() for p in model.net.parameters())
        self.panel.show_model(f"Model: {model.path.name} · {params / 1e6:.2f}M parameters", str(model.path))
        self.deviceFound.emit(model.device_label)
        self.modelLoaded.emit(True)

    @Slot(str, str)
    def _on_model_failed(self, message: str, details: str) -> None:
        name, report = self._loads.pop(self.sender(), ("", False))
        self.panel.show_model(f"Model: {name} — failed to load", message)
        self.modelFailed.emit(message, details, report)
        self.modelLoaded.emit(False)
