"""Logging to a file in the user's log folder, and a last-resort handler for uncaught exceptions.

An exception that escapes a slot must not kill the app silently: it is written to the log with its
traceback, and a dialog tells the user what happened and where the log is.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path

from PySide6.QtCore import QtMsgType, qInstallMessageHandler

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


def install_excepthook(show) -> None:
    """Route uncaught exceptions (GUI thread and others) to the log and to `show(message, details)`."""

    def handle(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("%s:\n%s", FATAL_MARKER, details)
        try:
            show(f"{exc_type.__name__}: {exc}", details)
        except Exception:  # noqa: BLE001 - the handler itself must never raise
            log.exception("could not show the error dialog")

    sys.excepthook = handle
    threading.excepthook = lambda args: handle(args.exc_type, args.exc_value, args.exc_traceback)
