"""Logging to a file in the user's log folder, and a last-resort handler for uncaught exceptions.

An exception that escapes a slot must not kill the app silently: it is written to the log with its
traceback, and a dialog tells the user what happened and where the log is. The dialog is a widget, which only
the GUI thread may make: an exception on any other thread reaches it through a queued signal.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import QObject, QtMsgType, Signal, Slot, qInstallMessageHandler

from contextfill.app.paths import log_dir

log = logging.getLogger("contextfill")
FATAL_MARKER = "Uncaught exception"  # packaging/smoke_test.py fails when this reaches the output


def setup_logging() -> Path:
    path = log_dir() / "contextfill.log"
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    file_handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    file_handler.setFormatter(fmt)
    stderr_handler = logging.StreamHandler()
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(fmt)
    root.addHandler(file_handler)
    root.addHandler(stderr_handler)
    qInstallMessageHandler(_qt_message)
    return path


def _qt_message(kind: QtMsgType, context, message: str) -> None:
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }.get(kind, logging.WARNING)
    logging.getLogger("qt").log(level, message)


class _ErrorRelay(QObject):
    """Lives in the GUI thread: `raised` emitted on a worker thread runs `_show` there, as a queued call."""

    raised = Signal(str, str)  # message, details

    def __init__(self, show) -> None:
        super().__init__()
        self._show = show
        self.raised.connect(self._on_raised)

    @Slot(str, str)
    def _on_raised(self, message: str, details: str) -> None:
        try:
            self._show(message, details)
        except Exception:  # noqa: BLE001 - the handler itself must never raise
            log.exception("could not show the error dialog")


def install_excepthook(show) -> None:
    """Route uncaught exceptions (GUI thread and others) to the log and to `show(message, details)`, which runs on
    the GUI thread (call this there)."""
    relay = _ErrorRelay(show)

    def handle(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("%s:\n%s", FATAL_MARKER, details)
        relay.raised.emit(f"{exc_type.__name__}: {exc}", details)

    sys.excepthook = handle
    threading.excepthook = lambda args: handle(args.exc_type, args.exc_value, args.exc_traceback)
