"""Fill on worker threads with the tiny model and the patch fill, then compare, apply and undo."""

from __future__ import annotations

import threading

import numpy as np
from app_fixtures import app_settings, dialogs, drag, photo_path, window  # noqa: F401
from PySide6.QtCore import Qt

from contextfill.app import settings as S
from contextfill.app.results import ORIGINAL
from contextfill.app.tools import Tool
from contextfill.model.methods import NAMES


def _paint_hole(qtbot, window, box=(60, 40, 100, 80)):
    window.set_tool(Tool.RECT)
    x0, y0, x1, y1 = box
    drag(qtbot, window.canvas, [(x0, y0), (x1, y1)])
    return window.layer.array()


def _choose(window, methods):
    for method, check in window.fill_panel.checks.items():
        check.setChecked(method in methods)


def test_fill_all_methods_compare_apply_undo(qtbot, window):
    original = np.asarray(window.document.image).copy()
    mask = _paint_hole(qtbot, window)
    _choose(window, NAMES)
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
        assert window.tabs.currentIndex() == 1, "results appear in the Compare tab at once"
        assert not window.fill_panel.fill_button.isEnabled() and window.fill_panel.cancel_button.isEnabled()
    assert set(window.fill_results) == set(NAMES)
    assert list(window.results.panels) == [ORIGINAL, *NAMES]
    for method in NAMES:
        result = window.fill_results[method]
        filled = np.asarray(result.image)
        assert result.image.size == window.document.image.size
        assert np.array_equal(filled[~mask], original[~mask]), f"{method} changed pixels outside the hole"
        panel = window.results.panel(method)
        assert panel.has_result() and " s · CPU" in panel.info.text()
        assert window.fill_panel.bars[method].value() == 1000
    assert window.fill_panel.fill_button.isEnabled()

    # Before/after: holding backslash shows the original in every panel; release shows the fill again.
    panel = window.results.panel("patch")
    after_key = panel.item.pixmap().cacheKey()
    qtbot.keyPress(panel.view, Qt.Key.Key_Backslash)
    assert panel.item.pixmap().cacheKey() != after_key
    qtbot.keyRelease(panel.view, Qt.Key.Key_Backslash)
    assert panel.item.pixmap().cacheKey() == after_key

    # Click the patch panel to pick it, then Apply: image replaced, mask cleared, one undo step.
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton)
    assert window.results.selected == "patch"
    steps = window.undo_stack.count()
    patch_result = np.asarray(window.fill_results["patch"].image)
    qtbot.mouseClick(window.results.apply_button, Qt.MouseButton.LeftButton)
    applied = np.asarray(window.document.image)
    assert np.array_equal(applied, patch_result)
    assert not np.array_equal(applied[mask], original[mask])
    assert not window.layer.array().any() and window.layer.is_empty()
    assert window.undo_stack.count() == steps + 1 and window.tabs.currentIndex() == 0
    assert window.windowTitle().startswith("photo.png*")

    window.undo_action.trigger()
    assert np.array_equal(np.asarray(window.document.image), original)
    assert np.array_equal(window.layer.array(), mask)
    window.redo_action.trigger()
    assert np.array_equal(np.asarray(window.document.image), applied)

    # Keep editing after an apply: a new stroke and a second fill work as before.
    _paint_hole(qtbot, window, (10, 10, 30, 30))
    _choose(window, ["patch"])
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        window.start_fill()
    assert list(window.fill_results) == ["patch"]


def test_fill_runs_off_the_gui_thread(qtbot, window, monkeypatch):
    threads = []
    import contextfill.model.pipeline
    from contextfill import model

    real = model.pipeline.inpaint

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(model.pipeline, "inpaint", spy)
    _paint_hole(qtbot, window)
    _choose(window, ["patch"])
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        window.start_fill()
    assert threads and all(t is not threading.main_thread() for t in threads)


def test_cancel_stops_the_fill(qtbot, window, monkeypatch):
    import contextfill.model.pipeline
    from contextfill import model

    def slow(image, mask, *, cancel, progress, **kwargs):
        from contextfill.model.errors import Cancelled

        for i in range(2000):
            progress(i / 2000)
            if cancel():
                raise Cancelled()
            threading.Event().wait(0.005)
        raise AssertionError("cancel was never seen")

    monkeypatch.setattr(model.pipeline, "inpaint", slow)
    _paint_hole(qtbot, window)
    _choose(window, ["patch", "hybrid"])
    with qtbot.waitSignal(window.fillFinished, timeout=20_000):
        window.start_fill()
        qtbot.waitUntil(lambda: window.fill_panel.bars["patch"].value() > 0, timeout=10_000)
        window.cancel_action.trigger()
    assert window.fill_results == {}
    assert window.fill_panel.statuses["patch"].text() == "cancelled"
    assert window.results.panel("hybrid").info.text() == "Cancelled"
    assert window.fill_panel.fill_button.isEnabled()


def test_bad_model_shows_a_dialog_and_patch_still_fills(qtbot, window, dialogs, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a model")
    window.settings.set(S.MODEL_PATH, str(bad))
    _paint_hole(qtbot, window)
    _choose(window, ["context-encoder", "patch"])
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        window.start_fill()
    assert list(window.fill_results) == ["patch"]
    assert len(dialogs.errors) == 1 and "Context encoder" in dialogs.errors[0][1]
    assert window.results.panel("context-encoder").info.property("error")


def test_empty_mask_does_not_start_a_fill(qtbot, window):
    assert not window.start_fill()
    assert "Paint over" in window.statusBar().currentMessage()


def test_model_preload_reports_the_model(qtbot, window):
    with qtbot.waitSignal(window.modelLoaded, timeout=30_000) as blocker:
        window.preload_model()
    assert blocker.args == [True]
    assert "tiny.pt" in window.fill_panel.model_label.text()
    assert "CPU" in window.device_status.text()


def test_apply_clears_only_the_hole_it_filled(qtbot, window, monkeypatch):
    """A stroke painted while a fill runs was never filled: Apply keeps it, and says the mask changed since."""
    import contextfill.model.pipeline
    from contextfill import model

    real, release = model.pipeline.inpaint, threading.Event()

    def held(*args, **kwargs):
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(model.pipeline, "inpaint", held)
    filled = _paint_hole(qtbot, window, (60, 40, 100, 80))
    _choose(window, ["patch"])
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
        later = _paint_hole(qtbot, window, (10, 10, 30, 30)) & ~filled  # painted while the fill runs
        release.set()
    assert later.any()
    before_apply = window.layer.array()
    window.tabs.setCurrentIndex(1)
    qtbot.mouseClick(window.results.panel("patch").view.viewport(), Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.results.apply_button, Qt.MouseButton.LeftButton)
    assert np.array_equal(window.layer.array(), later), "only the hole that was filled is cleared"
    assert "mask changed" in window.statusBar().currentMessage()
    window.undo_action.trigger()
    assert np.array_equal(window.layer.array(), before_apply)
    window.redo_action.trigger()
    assert np.array_equal(window.layer.array(), later)


def test_waiting_panels_show_the_photo_and_an_undone_apply_is_not_reported_applied(qtbot, window):
    """As a new user met it: panels were black boxes while a fill ran, and the status bar said "Applied Hybrid"
    after the apply was undone."""
    from contextfill.app.zoomview import BACKGROUND

    _paint_hole(qtbot, window)
    _choose(window, ["patch"])
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
        waiting = window.results.panel("patch")
        assert not waiting.has_result()
        shot = waiting.view.viewport().grab().toImage()
        middle = shot.pixelColor(shot.width() // 2, shot.height() // 2)
        assert abs(middle.red() - BACKGROUND.red()) + abs(middle.green() - BACKGROUND.green()) > 30, \
            "the photo shows, dimmed, while its fill runs"
    window.apply_result("patch")
    assert window.statusBar().currentMessage().startswith("Applied Patch fill")
    window.undo_action.trigger()
    assert "Applied" not in window.statusBar().currentMessage()
    assert "taken back" in window.statusBar().currentMessage()
