"""Background work for the GUI: a task runs a function off the GUI thread and reports through signals.

A task function has the signature `fn(progress, cancel) -> result`: it calls `progress(fraction)` as it
goes and polls `cancel()` between steps (the engine raises `Cancelled` when it returns True). Signals
are emitted from the worker thread. Connect them only to `@Slot` methods of QObjects living in the GUI
thread: those run as queued calls there, so they never race with painting, whereas a lambda or closure may
run in the worker itself (PySide6 >= 6.8). Progress is throttled so a chatty engine cannot flood the event loop.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from functools import partial
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, QThreadPool, QTimer, Signal, Slot

from contextfill.model.errors import Cancelled, InpaintError

log = logging.getLogger(__name__)

TaskFn = Callable[[Callable[[float], None], Callable[[], bool]], Any]
PROGRESS_INTERVAL_S = 0.05
WORKER_NICE = 5


class TaskSignals(QObject):
    started = Signal()
    progress = Signal(float)
    finished = Signal(object)  # the function's return value
    errored = Signal(str, str)  # message for people, details (traceback) for the log
    cancelled = Signal()
    done = Signal()  # always last, whatever the outcome


def describe_error(exc: BaseException) -> str:
    """A sentence a person can act on, without a traceback."""
    if isinstance(exc, FileNotFoundError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "Not enough memory for this image. Try a smaller hole, a smaller image, or the CPU device."
    return f"{type(exc).__name__}: {exc}"


def lower_thread_priority() -> None:
    """Let the GUI thread win when cores are scarce: workers yield the CPU to painting and input.

    Qt's LowPriority is honoured on Windows and macOS; on Linux threads have their own nice value.
    """
    QThread.currentThread().setPriority(QThread.Priority.LowPriority)
    if sys.platform.startswith("linux"):
        try:
            base = os.getpriority(os.PRIO_PROCESS, os.getpid())  # the main thread's nice value
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, base + WORKER_NICE))
        except OSError:
            pass


class Task:
    """One unit of background work with cooperative cancellation.

    Not a QRunnable: as one, a fill's task outlived its comparison, and with it its function and the photo and mask
    that holds (200 + 50 MB at 50 MP), with no Python reference left to it (PySide's QThreadPool.start() keeps one
    to a Python QRunnable, seen here in a bare script too). The pool is handed the bound `run`, dropped once run."""

    def __init__(self, fn: TaskFn, name: str = "task") -> None:
        self.fn = fn
        self.name = name
        self.signals = TaskSignals()
        self._cancel = threading.Event()
        self._last_emit = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _progress(self, fraction: float) -> None:
        now = time.monotonic()
        if fraction >= 1.0 or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self.signals.progress.emit(float(min(1.0, max(0.0, fraction))))

    def run(self) -> None:
        lower_thread_priority()
        try:
            if self.is_cancelled():
                raise Cancelled()
            self.signals.started.emit()
            result = self.fn(self._progress, self.is_cancelled)
            if self.is_cancelled():
                raise Cancelled()
        except Cancelled:
            self.signals.cancelled.emit()
        except InpaintError as exc:  # bad input or bad model file: the message says it all
            log.warning("%s: %s", self.name, exc)
            self.signals.errored.emit(str(exc), "")
        except BaseException as exc:  # noqa: BLE001 - a worker must never take the app down
            details = traceback.format_exc()
            log.error("%s failed:\n%s", self.name, details)
            self.signals.errored.emit(describe_error(exc), details)
        else:
            self.signals.finished.emit(result)
        finally:
            self.signals.done.emit()


def release(runner: "TaskRunner", *objects: object) -> None:
    """Drop these references on the runner's thread: freeing a 50 MP photo's pixels (Pillow's or a QImage's) takes
    some 27 ms, most of it the kernel unmapping 50,000 pages, a stall when the GUI thread does it. They are freed
    there only if these are their last references, so the task starts on the next event-loop turn, once the caller
    (and this call's own arguments) have let go: started at once, the worker sometimes dropped its references first
    and the caller's last one freed the pixels on the GUI thread after all. Freeing keeps the GIL, so they go one by
    one, the GUI thread taking the GIL back in between (all at once held it for 55 ms)."""
    held = list(objects)

    def run(progress, cancel) -> None:
        while held:
            held.pop()

    QTimer.singleShot(0, runner, partial(runner.submit, Task(run, name="release")))


class TaskRunner(QObject):
    """Runs tasks on its own thread pool (one thread by default, so fills queue instead of competing)."""

    def __init__(self, threads: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._tasks: dict[QObject, Task] = {}  # keyed by the task's signals object, the sender of `done`

    def submit(self, task: Task) -> Task:
        self._tasks[task.signals] = task
        task.signals.done.connect(self._on_done)
        self.pool.start(task.run)
        return task

    @Slot()
    def _on_done(self) -> None:
        self._tasks.pop(self.sender(), None)

    def is_busy(self) -> bool:
        """A task submitted here has not reported `done` yet."""
        return bool(self._tasks)

    def cancel_all(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)
