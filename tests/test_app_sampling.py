"""The sampling area (a second, green mask the patch fills copy from) and seeded variations, through the real widgets."""

from __future__ import annotations

import numpy as np
import pytest
from contextfill.app import settings as S
from app_fixtures import app_settings, dialogs, drag, view_pos, window  # noqa: F401
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from contextfill.app.mask import SAMPLING_COLOR
from contextfill.app.results import ORIGINAL
from contextfill.app.tools import Tool

HOLE = (100, 40, 140, 80)  # x0, y0, x1, y1: inside the orange right half


@pytest.fixture
def photo_path(tmp_path):
    """Blue texture on the left half, orange on the right: which half a fill copied from shows in its colour."""
    rng = np.random.default_rng(1)
    pixels = np.zeros((120, 160, 3), np.float64)
    pixels[:, :80] = (40, 70, 200)
    pixels[:, 80:] = (220, 130, 30)
    pixels += rng.normal(0, 14, pixels.shape)
    path = tmp_path / "halves.png"
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(path)
    return path


def _paint_hole(qtbot, window, box=HOLE):
    window.set_tool(Tool.RECT)
    x0, y0, x1, y1 = box
    drag(qtbot, window.canvas, [(x0, y0), (x1, y1)])
    return window.layer.array()


def _paint_sampling_area(qtbot, window):
    """Three sampling-brush strokes over the blue left half."""
    window.tool_actions[Tool.SAMPLE].trigger()
    window.canvas.set_brush_size(30)
    for y in (20, 60, 100):
        drag(qtbot, window.canvas, [(15, y), (40, y), (65, y)])
    return window.sampling_layer.array()


def _choose(window, methods):
    for method, check in window.fill_panel.checks.items():
        check.setChecked(method in methods)


def _fill(qtbot, window, button):
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_sampling_brush_paints_its_own_green_layer_with_undo_and_clear(qtbot, window):
    hole = _paint_hole(qtbot, window)
    window.tool_actions[Tool.SAMPLE].trigger()
    assert window.tool_actions[Tool.SAMPLE].isChecked() and not window.tool_actions[Tool.BRUSH].isChecked()
    window.canvas.set_brush_size(10)
    drag(qtbot, window.canvas, [(20, 20), (50, 20), (70, 20)])
    area = window.sampling_layer.array()
    assert area[20, 20] and area[20, 50] and area[20, 70] and area[16, 40] and not area[30, 40]
    assert np.array_equal(window.layer.array(), hole), "the sampling brush never touches the hole mask"
    assert window.undo_stack.count() == 2, "one stroke is one undo step"

    window.opacity_slider.setValue(100)
    shot = window.canvas.viewport().grab().toImage()
    assert shot.pixelColor(view_pos(window.canvas, 40, 20)) == QColor(SAMPLING_COLOR)
    assert shot.pixelColor(view_pos(window.canvas, 120, 60)) == window.layer.color, "the hole shows in its own colour"

    drag(qtbot, window.canvas, [(40, 20), (41, 20)], modifier=Qt.KeyboardModifier.AltModifier)
    erased = window.sampling_layer.array()
    assert not erased[20, 40] and erased[20, 20], "Alt erases the sampling area"
    window.clear_sampling_action.trigger()
    assert not window.sampling_layer.array().any() and np.array_equal(window.layer.array(), hole)
    assert window.undo_stack.count() == 4

    window.undo_action.trigger()
    assert np.array_equal(window.sampling_layer.array(), erased)
    window.undo_action.trigger()
    assert np.array_equal(window.sampling_layer.array(), area)
    window.undo_action.trigger()
    assert not window.sampling_layer.array().any() and np.array_equal(window.layer.array(), hole)
    window.redo_action.trigger()
    assert np.array_equal(window.sampling_layer.array(), area)


def test_patch_and_hybrid_copy_only_from_the_painted_sampling_area(qtbot, window, app_settings, monkeypatch):
    import contextfill.model.pipeline
    from contextfill import model

    # The fill's own colours: the seam blend would pull a blue fill towards the orange around the hole.
    app_settings.set(S.BLEND, False)

    calls = []
    real = model.pipeline.inpaint

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(model.pipeline, "inpaint", spy)
    hole = _paint_hole(qtbot, window)
    _choose(window, ["patch", "hybrid"])
    _fill(qtbot, window, window.fill_panel.fill_button)
    # (Only the patch fill here: the hybrid follows its network's guide, and the test model is random weights.)
    red, _, blue = np.asarray(window.fill_results["patch"].image)[hole].astype(float).mean(axis=0)
    assert red > blue + 100, "with no sampling area the fill copies the orange around the hole"
    assert all(call["patch_options"].sampling == "ring" for call in calls)

    calls.clear()
    area = _paint_sampling_area(qtbot, window)
    _fill(qtbot, window, window.fill_panel.fill_button)
    assert [call["method"] for call in calls] == ["patch", "hybrid"]
    for call in calls:
        assert call["patch_options"].sampling == "region"
        assert np.array_equal(call["patch_options"].region, area)
    original = np.asarray(window.document.image)
    for method in ("patch", "hybrid"):
        filled = np.asarray(window.fill_results[method].image)
        assert np.array_equal(filled[~hole], original[~hole])
        red, _, blue = filled[hole].astype(float).mean(axis=0)
        assert blue > red + 100, f"{method}: the fill copies the blue sampling area"


def test_variations_add_seeded_panels_with_distinct_results_any_of_which_applies(qtbot, window):
    original = np.asarray(window.document.image).copy()
    hole = _paint_hole(qtbot, window)
    _choose(window, ["patch"])
    _fill(qtbot, window, window.fill_panel.fill_button)
    window.fill_panel.variations_spin.setValue(3)
    _fill(qtbot, window, window.fill_panel.variations_button)
    keys = ["patch@1", "patch@2", "patch@3"]
    assert list(window.results.panels) == [ORIGINAL, "patch", *keys], "variations join the comparison of the same hole"
    assert [window.results.panel(k).title.text() for k in keys] == [f"Patch fill · seed {s}" for s in (1, 2, 3)]
    fills = [np.asarray(window.fill_results[k].image) for k in ["patch", *keys]]
    for i, a in enumerate(fills):
        assert np.array_equal(a[~hole], original[~hole])
        for b in fills[i + 1:]:
            assert not np.array_equal(a[hole], b[hole]), "each seed gives a different fill"
    assert all(window.results.panel(k).has_result() for k in keys)

    # Again, with hybrid checked too: new seeds, one panel per (seed, patch-based method).
    _choose(window, ["context-encoder", "patch", "hybrid"])
    window.fill_panel.variations_spin.setValue(2)
    _fill(qtbot, window, window.fill_panel.variations_button)
    assert list(window.results.panels)[5:] == ["patch@4", "hybrid@4", "patch@5", "hybrid@5"]
    assert window.results.panel("hybrid@5").title.text() == "Hybrid · seed 5"

    # Pick a variation and apply it: one undo step, which restores the photo and the hole.
    panel = window.results.panel("patch@2")
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton)
    assert window.results.selected == "patch@2"
    steps = window.undo_stack.count()
    qtbot.mouseClick(window.results.apply_button, Qt.MouseButton.LeftButton)
    assert np.array_equal(np.asarray(window.document.image), fills[2])
    assert window.undo_stack.count() == steps + 1 and window.undo_stack.undoText() == "Apply Patch fill · seed 2"
    window.undo_action.trigger()
    assert np.array_equal(np.asarray(window.document.image), original)
    assert np.array_equal(window.layer.array(), hole)

    # A different hole starts a new comparison rather than joining panels made for another one.
    _paint_hole(qtbot, window, (20, 20, 40, 40))
    window.fill_panel.variations_spin.setValue(1)
    _choose(window, ["patch"])
    _fill(qtbot, window, window.fill_panel.variations_button)
    assert list(window.results.panels) == [ORIGINAL, "patch@6"]
