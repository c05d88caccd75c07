"""Undo commands: a mask edit (one whole stroke, rectangle or mask operation) and an applied fill.

Mask edits are recorded after the fact as (before, after) of the changed region only, so a stroke on a
large photo costs memory in proportion to what it touched, and the first redo() is a no-op because the
pixels were already painted interactively.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage, QUndoCommand

from contextfill.app.mask import MaskEdit, MaskLayer

if TYPE_CHECKING:
    from contextfill.app.document import Document


class MaskEditCommand(QUndoCommand):
    """One user gesture on the mask. Consecutive gestures never merge: one stroke = one undo step."""

    def __init__(self, layer: MaskLayer, box: tuple[int, int, int, int], before: np.ndarray, after: np.ndarray,
                 text: str) -> None:
        super().__init__(text)
        self._layer = layer
        self._box, self._before, self._after = box, before, after  # the changed box and its pixels either side
        self._applied = True

    @staticmethod
    def push(stack, layer: MaskLayer, text: str, edit: MaskEdit | None) -> bool:
        """Push a command for an operation the layer has written (`MaskLayer.transform`'s `done`); nothing is
        pushed when no pixel changed."""
        if edit is None:
            return False
        stack.push(MaskEditCommand(layer, edit.box, edit.before, edit.after, text))
        return True

    @staticmethod
    def record_edit(stack, layer: MaskLayer, text: str) -> bool:
        """Push the edit the layer journaled since its begin_edit(); nothing when no pixel changed."""
        edit = layer.end_edit()
        if edit is None:
            return False
        stack.push(MaskEditCommand(layer, *edit, text))
        return True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self._layer.set_region(self._box, self._after)

    def undo(self) -> None:
        self._layer.set_region(self._box, self._before)


class ApplyFillCommand(QUndoCommand):
    """Replace the photo by a fill result and clear the mask it filled; undo restores both.

    Each image travels with its QImage (the result's was made on the worker), so neither direction converts
    pixels on the GUI thread."""

    def __init__(self, document: Document, layer: MaskLayer, result: Image.Image, preview: QImage,
                 small: QImage | None, label: str) -> None:
        super().__init__(f"Apply {label}")
        self._document = document
        self._layer = layer
        self._before = (document.image, document.preview, document.reduced)
        self._after = (result, preview, small)
        self._box = layer.bounds()  # only the painted part of the mask is kept, cleared and restored
        self._mask = layer.region(self._box) if self._box else None

    def redo(self) -> None:
        self._document.set_image(*self._after)
        if self._box:
            self._layer.set_region(self._box, np.zeros_like(self._mask))

    def undo(self) -> None:
        self._document.set_image(*self._before)
        if self._box:
            self._layer.set_region(self._box, self._mask)
