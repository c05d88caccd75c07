"""Mask editing through the real canvas widget: mouse gestures, keys, undo/redo, mask operations."""

from __future__ import annotations

import numpy as np
from app_fixtures import app_settings, dialogs, drag, photo_path, view_pos, window  # noqa: F401
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QFocusEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from contextfill.app.mask_ops import bbox, grow, shrink
from contextfill.app.tools import Tool


def test_brush_stroke_paints_mask_along_the_drag(qtbot, window):
    window.canvas.set_brush_size(10)
    drag(qtbot, window.canvas, [(20, 60), (60, 60), (100, 60)])
    mask = window.layer.array()
    assert mask[60, 20] and mask[60, 60] and mask[60, 100]
    assert mask[57, 80] and not mask[70, 80], "stroke is about 10 px wide"
    assert not mask[10, 10] and not mask[60, 130]
    assert window.undo_stack.count() == 1, "one stroke is one undo step"


def _hover(canvas, x: int, y: int) -> None:
    """A move with no button held: what the canvas sees after its release went to a dialog."""
    pos = QPointF(view_pos(canvas, x, y))
    event = QMouseEvent(QEvent.Type.MouseMove, pos, canvas.viewport().mapToGlobal(pos), Qt.MouseButton.NoButton,
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(canvas.viewport(), event)


def test_a_stroke_whose_release_is_lost_ends_where_it_was(qtbot, window):
    window.canvas.set_brush_size(10)
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=view_pos(window.canvas, 20, 60))
    qtbot.mouseMove(viewport, view_pos(window.canvas, 60, 60))
    _hover(window.canvas, 100, 100)  # the release never came
    _hover(window.canvas, 120, 20)
    mask = window.layer.array()
    assert mask[60, 20] and mask[60, 60]
    assert not mask[80, 80] and not mask[100, 100] and not mask[20, 120], "hovering after a lost release paints"
    assert window.undo_stack.count() == 1, "the cut-off stroke is its own undo step"
    window.undo_action.trigger()
    assert not window.layer.array().any()


def test_a_dialog_taking_focus_mid_stroke_ends_it(qtbot, window):
    window.canvas.set_brush_size(10)
    viewport = window.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=view_pos(window.canvas, 20, 60))
    qtbot.mouseMove(viewport, view_pos(window.canvas, 60, 60))
    QApplication.sendEvent(window.canvas, QFocusEvent(QEvent.Type.FocusOut, Qt.FocusReason.PopupFocusReason))
    assert window.undo_stack.count() == 1
    drag(qtbot, window.canvas, [(20, 100), (100, 100)])
    mask = window.layer.array()
    assert mask[100, 60] and not mask[80, 80], "the next stroke starts fresh, with no line from the last one"
    assert window.undo_stack.count() == 2


def test_overlay_pixels_show_the_mask_colour(qtbot, window):
    window.canvas.set_brush_size(16)
    drag(qtbot, window.canvas, [(80, 60), (81, 60)])
    window.opacity_slider.setValue(100)
    shot = window.canvas.viewport().grab().toImage()
    painted = shot.pixelColor(view_pos(window.canvas, 80, 60))
    assert painted == window.layer.color, "at full opacity the painted pixel is the mask colour"
    window.set_mask_color(QColor("#00ff00"))
    assert window.layer.array()[60, 80], "recolouring keeps the mask"
    shot = window.canvas.viewport().grab().toImage()
    assert shot.pixelColor(view_pos(window.canvas, 80, 60)) == QColor("#00ff00")


def test_rectangle_eraser_undo_redo(qtbot, window):
    window.tool_actions[Tool.RECT].trigger()
    drag(qtbot, window.canvas, [(30, 20), (70, 50), (90, 70)])
    mask = window.layer.array()
    box = bbox(mask)
    assert box is not None and abs(box[0] - 30) <= 1 and abs(box[1] - 20) <= 1
    assert abs(box[2] - 90) <= 1 and abs(box[3] - 70) <= 1
    assert mask[20:70, 30:90].mean() > 0.95

    window.tool_actions[Tool.ERASER].trigger()
    window.canvas.set_brush_size(12)
    drag(qtbot, window.canvas, [(30, 45), (90, 45)])
    erased = window.layer.array()
    assert not erased[45, 60] and erased[25, 60] and erased[65, 60]
    assert window.undo_stack.count() == 2

    window.undo_action.trigger()
    assert np.array_equal(window.layer.array(), mask)
    window.undo_action.trigger()
    assert not window.layer.array().any()
    window.redo_action.trigger()
    window.redo_action.trigger()
    assert np.array_equal(window.layer.array(), erased)


def test_alt_rectangle_subtracts(qtbot, window):
    window.set_tool(Tool.RECT)
    drag(qtbot, window.canvas, [(10, 10), (100, 100)])
    drag(qtbot, window.canvas, [(40, 40), (60, 60)], modifier=Qt.KeyboardModifier.AltModifier)
    mask = window.layer.array()
    assert mask[20, 20] and not mask[50, 50]


def test_bracket_keys_change_brush_size_and_slider(qtbot, window):
    window.canvas.set_brush_size(40)
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_size > 40 and window.size_spin.value() == window.canvas.brush_size
    for _ in range(3):
        qtbot.keyClick(window.canvas, Qt.Key.Key_BracketLeft)
    assert window.canvas.brush_size < 40
    window.size_slider.setValue(25)
    assert window.canvas.brush_size == 25 and window.canvas.outline.diameter == 25


def test_mask_operations_are_single_undo_steps(qtbot, window):
    window.set_tool(Tool.RECT)
    drag(qtbot, window.canvas, [(60, 40), (100, 80)])
    before = window.layer.array()
    window.grow_spin.setValue(5)
    window.grow_action.trigger()
    grown = window.layer.array()
    assert grown.sum() > before.sum() and grown[37, 80] and not grown[30, 80]
    assert np.array_equal(grown, grow(before, 5))  # run on the painted bounds, as on the whole mask
    window.shrink_action.trigger()
    assert np.array_equal(window.layer.array(), shrink(grown, 5))
    window.invert_action.trigger()
    assert window.layer.array()[5, 5]
    window.clear_action.trigger()
    assert not window.layer.array().any()
    assert window.undo_stack.count() == 5
    for _ in range(4):
        window.undo_action.trigger()
    assert np.array_equal(window.layer.array(), before)


def test_zoom_and_pan(qtbot, window):
    canvas = window.canvas
    window.actual_action.trigger()
    assert canvas.zoom() == 1.0
    canvas.zoom_by(10)
    assert abs(canvas.zoom() - 10) < 1e-6
    bar = canvas.horizontalScrollBar()
    start = bar.value()
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=view_pos(canvas, 80, 60))
    qtbot.mouseMove(viewport, view_pos(canvas, 80, 60) - QPoint(50, 0))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton)
    assert bar.value() == start + 50
    assert not window.layer.array().any(), "panning never paints"
    window.fit_action.trigger()
    assert canvas.zoom() < 10


def test_grow_and_shrink_are_round_and_inverse():
    mask = np.zeros((50, 60), bool)
    mask[20:30, 25:35] = True
    grown = grow(mask, 6)
    assert bbox(grown) == (19, 14, 41, 36)
    assert not grown[14, 19], "corners are rounded, not square"
    assert np.array_equal(shrink(grown, 6), mask)
    assert not shrink(np.ones((10, 10), bool), 2)[0].any(), "the border counts as outside"


def test_ctrl_wheel_zooms_and_space_drag_pans(qtbot, window):
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    canvas = window.canvas
    canvas.actual_size()
    centre = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(centre, canvas.viewport().mapToGlobal(centre), QPoint(), QPoint(0, 120 * 5),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.zoom() > 2
    canvas.zoom_by(5)
    bar = canvas.verticalScrollBar()
    start = bar.value()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    drag(qtbot, canvas, [(80, 60), (80, 55)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert bar.value() > start, "space+drag scrolled the view"
    assert not window.layer.array().any(), "space+drag never paints"
    assert window.undo_stack.count() == 0


def test_a_stroke_across_tiles_undoes_and_redoes_exactly(qtbot):
    """The layer journals only the tiles a stroke touches; undo and redo still restore every pixel."""
    from PySide6.QtCore import QPointF, QRect, QSize
    from PySide6.QtGui import QUndoStack

    from contextfill.app.mask import TILE, MaskLayer
    from contextfill.app.tools import StrokeGesture

    layer = MaskLayer(QSize(2 * TILE + 90, TILE + 70), QColor("red"))
    layer.paint_rect(QRect(TILE - 40, 30, 80, 200))  # some mask already there, across a tile edge
    stack = QUndoStack()
    before = layer.array()
    eraser = StrokeGesture(layer, stack, 30, erase=True)
    eraser.press(QPointF(TILE - 60, 100))
    for x in range(TILE - 50, 2 * TILE + 60, 25):
        eraser.move(QPointF(x, 100 + (x % 7) * 9))
    eraser.release(QPointF(2 * TILE + 60, TILE + 50))
    after = layer.array()
    assert stack.count() == 1 and (before & ~after).any() and not (after & ~before).any()
    stack.undo()
    assert np.array_equal(layer.array(), before)
    stack.redo()
    assert np.array_equal(layer.array(), after)
    nothing = StrokeGesture(layer, stack, 10, erase=True)  # erasing where nothing is painted changes nothing
    nothing.press(QPointF(2 * TILE + 80, 5))
    nothing.release(QPointF(2 * TILE + 80, 5))
    assert stack.count() == 1


def test_layer_keeps_count_bounds_and_revision_through_every_kind_of_edit(qtbot):
    """array() reads only the painted bounds and is_empty() reads nothing, so both must follow every edit."""
    from PySide6.QtCore import QPointF, QRect, QSize
    from PySide6.QtGui import QImage

    from contextfill.app.mask import MaskLayer

    layer = MaskLayer(QSize(300, 200), QColor("red"))

    def full_read() -> np.ndarray:
        alpha = layer.image.convertToFormat(QImage.Format.Format_Alpha8)
        return np.frombuffer(alpha.constBits(), np.uint8).reshape(200, alpha.bytesPerLine())[:, :300] > 0

    def check(empty: bool) -> None:
        assert np.array_equal(layer.array(), full_read()) and layer.is_empty() == empty

    check(True)
    revisions = [layer.revision]
    layer.paint_line(QPointF(20, 20), QPointF(120, 60), 12)
    check(False)
    layer.paint_rect(QRect(200, 100, 60, 50))
    check(False)
    layer.paint_line(QPointF(20, 20), QPointF(120, 60), 20, erase=True)  # erase the whole line
    check(False)
    revisions.append(layer.revision)
    layer.set_color(QColor("blue"))  # a recolour is no change of the mask
    assert layer.revision == revisions[-1]
    layer.paint_rect(QRect(190, 90, 80, 70), erase=True)
    check(True)
    layer.set_region((0, 0, 300, 200), np.eye(200, 300, dtype=bool))  # as undo and the mask operations do
    check(False)
    layer.set_array(np.zeros((200, 300), bool))
    check(True)
    assert layer.revision > revisions[-1] > revisions[0]


def test_grow_and_shrink_at_the_image_border_match_the_whole_mask_operation(qtbot, window):
    """The operations run on the painted bounds only; where those touch the border, it still counts as outside."""
    window.set_tool(Tool.RECT)
    h, w = window.layer.array().shape
    drag(qtbot, window.canvas, [(w - 30, 2), (w + 40, 40)])  # dragged past the right edge
    before = window.layer.array()
    assert before[:, -1].any()
    window.grow_spin.setValue(4)
    window.shrink_action.trigger()
    assert np.array_equal(window.layer.array(), shrink(before, 4)) and not window.layer.array()[:, -1].any()
    window.undo_action.trigger()
    window.grow_action.trigger()
    assert np.array_equal(window.layer.array(), grow(before, 4))


def test_bracket_keys_change_the_brush_wherever_the_focus_is(qtbot, window):
    """As a new user met it: `[` and `]` did nothing until the canvas was clicked."""
    button = window.fill_panel.fill_button  # where the focus is after pressing Fill
    button.setFocus()
    qtbot.waitUntil(button.hasFocus)
    size = window.canvas.brush_size
    qtbot.keyClick(button, Qt.Key.Key_BracketRight)
    assert window.canvas.brush_size > size and window.size_spin.value() == window.canvas.brush_size
    qtbot.keyClick(button, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(button, Qt.Key.Key_BracketLeft)
    assert window.canvas.brush_size < size


def test_ctrl_wheel_in_compare_keeps_the_point_under_the_cursor_still(qtbot, window):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    window.set_tool(Tool.RECT)
    drag(qtbot, window.canvas, [(60, 40), (100, 80)])
    window.fill_panel.checks["context-encoder"].setChecked(False)
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
    view = window.results.panel("patch").view
    view.set_zoom(4.0)
    cursor = QPoint(view.viewport().width() // 3, view.viewport().height() // 4)
    for notches in (1, 2, -1):
        under = view.mapToScene(cursor)
        wheel = QWheelEvent(QPointF(cursor), QPointF(view.viewport().mapToGlobal(cursor)), QPoint(), QPoint(0, 120 * notches),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.ControlModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(view.viewport(), wheel)
        after = view.mapToScene(cursor)
        assert abs(after.x() - under.x()) < 1 and abs(after.y() - under.y()) < 1, (notches, under, after)
    other = window.results.panel("hybrid").view
    assert abs(other.zoom() - view.zoom()) < 1e-6, "the other panels follow the zoom"


def test_the_overlay_shows_what_is_painted_and_nothing_once_it_is_erased(qtbot, window):
    """The mask overlays draw only the painted bounds (an empty sampling area draws nothing at 50 MP)."""
    canvas = window.canvas

    def shown(x, y):
        canvas.viewport().repaint()
        point = view_pos(canvas, x, y)
        return canvas.viewport().grab().toImage().pixelColor(point)

    photo = shown(80, 60)
    window.set_tool(Tool.RECT)
    drag(qtbot, canvas, [(60, 40), (100, 80)])
    painted = shown(80, 60)
    assert painted.red() > photo.red() + 20 or painted.blue() < photo.blue() - 20, "the hole shows in its colour"
    drag(qtbot, canvas, [(50, 30), (110, 90)], modifier=Qt.KeyboardModifier.AltModifier)
    assert window.layer.is_empty() and shown(80, 60) == photo
