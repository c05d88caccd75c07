"""Start the GUI: command line, logging, crash handler, theme, then the main window on an image.

`CONTEXTFILL_EXIT_AFTER_MS` (used by the packaging smoke test and the start-up benchmark) prints a
`WINDOW_SHOWN` line once the window is on screen and quits that many milliseconds later.
"""

from __future__ import annotations

import argparse
import logging
import os

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from contextfill.app import APP_NAME, ORG_NAME, __version__
from contextfill.app.crash import install_excepthook, setup_logging
from contextfill.app.dialogs import show_error
from contextfill.app.main_window import MainWindow
from contextfill.app.paths import icon, sample_image
from contextfill.app.settings import Settings
from contextfill.app.theme import apply_theme

log = logging.getLogger(__name__)
SHOWN_MARKER = "WINDOW_SHOWN"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="contextfill",
        description="Remove things from photos: paint a mask, fill it, compare methods. "
        "Subcommands train, batch and eval run the engine without the GUI.",
    )
    parser.add_argument("image", nargs="?", help="image to open (default: the bundled sample photo)")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    return parser.parse_args(argv)


def create_window(settings: Settings, image: str | None) -> MainWindow:
    """The main window opening `image` (or, without one, the sample), with the model loading in the background.

    An image that cannot be opened is reported and leaves the window empty: showing the sample instead would
    look as if the user's photo had turned into it."""
    window = MainWindow(settings)
    window.open_path(image or sample_image())
    window.preload_model()
    return window


def run_gui(argv: list[str]) -> int:
    args = parse_args(argv[1:])
    app = QApplication.instance() or QApplication(argv[:1])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("contextfill")
    log_path = setup_logging()
    log.info("%s %s starting, log at %s", APP_NAME, __version__, log_path)
    apply_theme(app)
    app.setWindowIcon(icon("contextfill"))
    install_excepthook(lambda message, details: show_error(
        QApplication.activeWindow(), "Unexpected error",
        f"{message}\n\nThe details were written to {log_path}.", details,
    ))
    window = create_window(Settings(), args.image)
    window.show()

    exit_after = os.environ.get("CONTEXTFILL_EXIT_AFTER_MS")
    if exit_after is not None:
        def shown() -> None:
            print(SHOWN_MARKER, flush=True)
            QTimer.singleShot(int(exit_after), window.close)

        QTimer.singleShot(0, shown)
    return app.exec()
