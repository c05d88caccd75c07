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

    def take_pixels(self) -> tuple[np.ndarray, ...]:
        """Let go of the mask before and after (50 MB each for an operation on a whole 50 MP mask), for a history
        that is being cleared, and return them to be freed on a worker (`workers.release`)."""
        pixels, self._before, self._after = (self._before, self._after), None, None
        return pixels

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self._layer.set_region(self._box, self._after)

    def undo(self) -> None:
        self._layer.set_region(self._box, self._before)


class ApplyFillCommand(QUndoCommand):
    """Replace the photo by a fill result and clear the part of the mask it filled; undo restores both.

    Strokes painted while the fill ran were never filled, so they stay: only `hole` (the box and bool pixels the
    fill read) is cleared, inside the box holding it and the mask as it is now. Each image travels with its QImage
    (the result's was made on the worker), so neither direction converts pixels on the GUI thread."""

    def __init__(self, document: Document, layer: MaskLayer, result: Image.Image, preview: QImage,
                 small: tuple[QImage, ...], label: str, hole: tuple[tuple[int, int, int, int], np.ndarray]) -> None:
        super().__init__(f"Apply {label}")
        self._document = document
        self._layer = layer
        self._before = (document.image, document.preview, document.reduced)
        self._after = (result, preview, small)
        (hx0, hy0, hx1, hy1), hole_pixels = hole
        now = layer.bounds() or (hx0, hy0, hx1, hy1)
        x0, y0 = min(now[0], hx0), min(now[1], hy0)
        self._box = (x0, y0, max(now[2], hx1), max(now[3], hy1))
        self._mask = layer.region(self._box)
        filled = np.zeros_like(self._mask)
        filled[hy0 - y0 : hy1 - y0, hx0 - x0 : hx1 - x0] = hole_pixels
        self._mask_after = self._mask & ~filled
        self.mask_changed = not np.array_equal(self._mask, filled)  # painted or erased since the fill read it

    def take_pixels(self) -> tuple[object, ...]:
        """Let go of both photos' pixels and the mask either side, for a history that is being cleared, and return
        them (to be freed on a worker: `workers.release`; a 50 MP photo took 27 ms to free). The command cannot run
        again after this."""
        pixels = (*self._before, *self._after, self._mask, self._mask_after)
        self._before = self._after = ()
        self._mask = self._mask_after = None
        return pixels

    def redo(self) -> None:
        self._document.set_image(*self._after)
        self._layer.set_region(self._box, self._mask_after)

    def undo(self) -> None:
        self._document.set_image(*self._before)
        self._layer.set_region(self._box, self._mask)
