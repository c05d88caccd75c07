"""Mask tools as gestures: one press-drag-release on the canvas makes exactly one undo step."""

from __future__ import annotations

from enum import Enum
from functools import partial

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QUndoStack

from contextfill.app.mask import MaskLayer
from contextfill.app.undo import MaskEditCommand


class Tool(Enum):
    BRUSH = "Brush"
    RECT = "Rectangle"
    ERASER = "Eraser"
    SAMPLE = "Sampling brush"


class Gesture:
    """Start an edit on press (the layer keeps each tile as it was when first painted), edit while dragging,
    record the whole change as one undo step on release."""

    name = "Edit mask"

    def __init__(self, layer: MaskLayer, stack: QUndoStack) -> None:
        self.layer = layer
        self.stack = stack
        self._editing = False

    def press(self, pos: QPointF) -> None:
        self.layer.begin_edit()
        self._editing = True

    def move(self, pos: QPointF) -> None:
        raise NotImplementedError

    def release(self, pos: QPointF) -> None:
        if self._editing:
            MaskEditCommand.record_edit(self.stack, self.layer, self.name)
            self._editing = False


class StrokeGesture(Gesture):
    """Brush or eraser: round-capped segments between successive mouse positions."""

    def __init__(self, layer: MaskLayer, stack: QUndoStack, diameter: int, erase: bool) -> None:
        super().__init__(layer, stack)
        self.diameter = diameter
        self.erase = erase
        self.name = "Erase" if erase else "Brush stroke"
        self._last: QPointF | None = None

    def press(self, pos: QPointF) -> None:
        super().press(pos)
        self._last = pos
        self.layer.paint_line(pos, pos, self.diameter, self.erase)

    def move(self, pos: QPointF) -> None:
        if self._last is not None and pos != self._last:
            self.layer.paint_line(self._last, pos, self.diameter, self.erase)
            self._last = pos


class SamplingStroke(StrokeGesture):
    """The sampling brush: paints (or, with Alt, erases) the area the fill may copy from."""

    def __init__(self, layer: MaskLayer, stack: QUndoStack, diameter: int, erase: bool) -> None:
        super().__init__(layer, stack, diameter, erase)
        self.name = "Erase sampling area" if erase else "Paint sampling area"


class RectGesture(Gesture):
    """Rectangle from press to release; `preview` shows the outline while dragging (None hides it). The rectangle
    is one mask operation on release (`MaskLayer.transform`): over a large photo it runs on the layer's worker."""

    def __init__(self, layer: MaskLayer, stack: QUndoStack, erase: bool, preview) -> None:
        super().__init__(layer, stack)
        self.erase = erase
        self.name = "Erase rectangle" if erase else "Rectangle"
        self._preview = preview
        self._start = QPointF()

    def press(self, pos: QPointF) -> None:
        self._start = pos
        self._preview(QRectF(pos, pos))

    def move(self, pos: QPointF) -> None:
        self._preview(QRectF(self._start, pos).normalized())

    def release(self, pos: QPointF) -> None:
        self._preview(None)
        rect = QRectF(self._start, pos).normalized().toAlignedRect().intersected(self.layer.image.rect())
        if rect.isEmpty():
            return
        box = (rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1)
        self.layer.transform(box, np.zeros_like if self.erase else np.ones_like,
                             partial(MaskEditCommand.push, self.stack, self.layer, self.name))
