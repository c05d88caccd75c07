"""Fixtures for the GUI tests: isolated settings, recorded dialogs, a shown main window on a small photo.

Test modules import what they use from here (`from app_fixtures import ...`); the tiny model comes from
the shared conftest's `tiny_model_path`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QSettings, QStandardPaths, Qt
from PySide6.QtWidgets import QMessageBox

from contextfill.app import settings as S


@pytest.fixture
def app_settings(tmp_path, monkeypatch, qapp) -> S.Settings:
    """Settings stored under tmp_path, never in the user's real configuration; logs go to Qt's test dirs. The
    process-wide size limit a window sets from them (and its wording) is put back after the test."""
    from contextfill.model import imageio

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    monkeypatch.setitem(imageio._RAISE_LIMIT, "how", imageio._RAISE_LIMIT["how"])
    QStandardPaths.setTestModeEnabled(True)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    return S.Settings()


@dataclass
class Dialogs:
    """What the window tried to tell or ask the user; `overwrite` is the answer to 'Replace file?', `save_changes`
    the button pressed in 'Save changes?', `stop_work` the answer to 'Stop and quit?' (a batch or training runs)."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    overwrite_asked: list[Path] = field(default_factory=list)
    overwrite: bool = False
    save_changes_asked: list[str] = field(default_factory=list)
    save_changes: QMessageBox.StandardButton = QMessageBox.StandardButton.Discard
    stop_work_asked: list[list[str]] = field(default_factory=list)
    stop_work: bool = True


@pytest.fixture
def dialogs(monkeypatch) -> Dialogs:
    record = Dialogs()

    def confirm(parent, path):
        record.overwrite_asked.append(Path(path))
        return record.overwrite

    monkeypatch.setattr("contextfill.app.main_window.show_error", lambda parent, title, message, details=None:
                        record.errors.append((title, message)))
    monkeypatch.setattr("contextfill.app.main_window.confirm_overwrite", confirm)
    def ask(parent, name, before="closing"):
        record.save_changes_asked.append(name)
        return record.save_changes

    monkeypatch.setattr("contextfill.app.main_window.ask_save_changes", ask)

    def stop(parent, running):
        record.stop_work_asked.append(list(running))
        return record.stop_work

    monkeypatch.setattr("contextfill.app.main_window.confirm_stop_work", stop)
    return record


@pytest.fixture
def photo_path(tmp_path) -> Path:
    """A small textured photo (gradient plus noise) so fills have something to copy."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:120, 0:160]
    base = np.stack([x * 1.5, y * 2.0, (x + y) * 0.8], axis=-1)
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels, "RGB").save(path)
    return path


@pytest.fixture
def window(qtbot, app_settings, dialogs, tiny_model_path, photo_path):
    from contextfill.app.main_window import MainWindow

    app_settings.set(S.MODEL_PATH, str(tiny_model_path))  # fixture from tests/conftest.py
    app_settings.set(S.DEVICE, "cpu")
    win = MainWindow(app_settings)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    assert finished(qtbot, win, win.open_path(photo_path))
    win.show()
    qtbot.waitExposed(win)
    win.canvas.fit()
    yield win
    win.cancel_fill()
    win.runner.wait(10_000)


@pytest.fixture
def batch_dialog(qtbot, app_settings, tiny_model_path, monkeypatch):
    """The batch dialog on the tiny CPU model, centre-square masks (the generated photos come without masks);
    error dialogs are collected in `.errors` instead of shown."""
    from contextfill.app.batch_dialog import BatchDialog
    from contextfill.app.fill import ModelCache

    app_settings.set(S.MODEL_PATH, str(tiny_model_path))
    app_settings.set(S.DEVICE, "cpu")
    app_settings.set(S.BATCH_MASK, "center")
    errors: list[str] = []
    monkeypatch.setattr("contextfill.app.batch_dialog.show_error", lambda parent, title, message, details=None: errors.append(message))
    dialog = BatchDialog(app_settings, ModelCache())
    dialog.errors = errors
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    dialog.cancel()
    dialog.runner.wait(10_000)


def finished(qtbot, window, task) -> bool:
    """Wait for a file job the window started (open, paste, drop, save): True when it succeeded, False when it
    failed or none was started (`task` is None)."""
    if task is None:
        return False
    with qtbot.waitSignal(window.files.finished, timeout=30_000) as blocker:
        pass
    return blocker.args[0]


def view_pos(canvas, x: float, y: float) -> QPoint:
    """Viewport coordinates of image pixel (x, y)."""
    return canvas.mapFromScene(QPointF(x, y))


def drag(qtbot, canvas, points, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at the first image point, move through the rest, release at the last: one gesture."""
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, button, modifier, view_pos(canvas, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(viewport, view_pos(canvas, *p))
    qtbot.mouseRelease(viewport, button, modifier, view_pos(canvas, *points[-1]))
