"""The hole mask being edited: an image-sized ARGB QImage painted in the overlay colour.

Keeping the mask as a QImage lets brush strokes use QPainter directly (fast, round caps, no Python
per-pixel loops); the alpha channel *is* the mask, and `array()` turns it into the bool array the
engine wants. Antialiasing stays off so every pixel is either hole or not.

The layer also keeps how many pixels are hole, a rectangle that holds them all and a revision number, each updated
at the cost of the edit, so starting a fill on a 50 MP photo reads only the part of the mask that is painted.

The pixels live in a zeroed numpy buffer (calloc: the system hands out zero pages as they are first touched), so a
new layer for a 50 MP photo costs nothing on the GUI thread, where filling 200 MB with transparency took 0.1 s.

An operation on many pixels at once (invert, grow, a rectangle over the photo, undoing one of them) reads, computes,
diffs and writes them on the layer's own worker: on a 50 MP photo invert took 0.8 s of the GUI thread. Its writes
run one after the other in the order asked, and the count, bounds and revision change only when one is done, on the
GUI thread; while any is under way the layer `is_busy()`, and the window neither paints into it nor reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRect, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPainter, QPen

from contextfill.app.mask_ops import bbox
from contextfill.app.workers import Task, TaskRunner

TILE = 256  # an edit remembers the mask as it was in tiles of this side, the first time it touches each
SAMPLING_COLOR = "#34c759"  # green, so the sampling area never looks like the (red-ish) hole
ASYNC_PIXELS = 1 << 20  # an operation on a box of more pixels (4 MB of mask, some 10 ms per pass) runs on the worker

Box = tuple[int, int, int, int]  # x0, y0, x1, y1, half-open


@dataclass(frozen=True)
class MaskEdit:
    """What one operation changed: the smallest box holding every pixel that differs, the mask there before and
    after, and how many hole pixels the box held before and after."""

    box: Box
    before: np.ndarray
    after: np.ndarray
    counts: tuple[int, int]


class MaskLayer(QObject):
    """Owns the mask pixels; emits `changed(rect)` with the dirty image rectangle after every edit."""

    changed = Signal(QRect)
    busyChanged = Signal(bool)  # an operation started on the worker with none running, or the last one was written

    def __init__(self, size: QSize, color: QColor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._color = QColor(color)
        w, h = size.width(), size.height()
        # Transparent is all zero bytes. The QImage keeps a reference to the buffer (PySide's doing) and paints
        # into it; a copy of it that is painted on detaches into memory of its own, as any shared QImage does.
        self._pixels = np.zeros((h, 4 * w), np.uint8)
        self.image = QImage(self._pixels, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
        self._journal: dict[tuple[int, int], np.ndarray] | None = None  # (tile row, col) -> mask before the edit
        self._count = 0  # pixels of hole
        self._bounds = QRect()  # holds every hole pixel (erasing does not shrink it until the mask is empty)
        self.revision = 0  # goes up with every change of the mask's pixels (a recolour is not one)
        self._runner = TaskRunner(parent=self)  # one thread: operations write in the order they were asked
        self._pending: dict[QObject, Callable[[MaskEdit | None], None]] = {}  # a running operation's task signals -> done
        self._free: Callable[..., None] = lambda *pixels: None  # where release() hands the pixels

    @property
    def color(self) -> QColor:
        return QColor(self._color)

    def is_empty(self) -> bool:
        return self._count == 0

    def is_busy(self) -> bool:
        """An operation is being computed or written on the worker: the pixels are not to be painted or read."""
        return bool(self._pending)

    def release(self, free: Callable[..., None]) -> None:
        """Delete the layer now, or once the operation its worker is writing is done; its pixels (200 MB at 50 MP)
        are handed to `free` (a worker's `release`: freeing them took 27 ms of the GUI thread)."""
        self._free = free
        if self.is_busy():
            self.busyChanged.connect(self._release)
        else:
            self._release()

    @Slot()
    def _release(self) -> None:
        if self.is_busy():
            return
        pixels, self.image, self._pixels = (self.image, self._pixels), None, None
        self._free(*pixels)
        self.deleteLater()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the worker's operations are written (their bookkeeping still arrives as queued calls)."""
        return self._runner.wait(msecs)

    def bounds(self) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) holding every hole pixel (perhaps more), or None when the mask is empty."""
        return None if self._bounds.isEmpty() else self._box(self._bounds)

    def array(self) -> np.ndarray:
        """A fresh (H, W) bool copy of the mask; True = hole. Only the painted bounds are read, straight into a
        new zeroed array whose untouched rest costs nothing until the engine reads it on a worker (a whole 50 MP
        mask: 9 ms, against 28 ms for Qt's alpha extraction)."""
        mask = np.zeros((self.image.height(), self.image.width()), bool)
        if box := self.bounds():
            x0, y0, x1, y1 = box
            np.not_equal(self._words()[y0:y1, x0:x1], 0, out=mask[y0:y1, x0:x1])
        return mask

    def region(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """A bool copy of the mask inside box (x0, y0, x1, y1): costs what the box holds, not the whole image."""
        x0, y0, x1, y1 = box
        return self._words()[y0:y1, x0:x1] != 0

    def _words(self) -> np.ndarray:
        """Writable (H, W) view of the pixels as 32-bit words: 0 where transparent (premultiplied), so a word is
        the mask; writing whole words is many times faster than numpy's masked writes of four bytes."""
        h, w = self.image.height(), self.image.width()
        return np.frombuffer(self.image.bits(), np.uint32).reshape(h, self.image.bytesPerLine() // 4)[:, :w]

    def begin_edit(self) -> None:
        """Start remembering, tile by tile as they are first painted, what an edit changes (for its undo step)."""
        self._journal = {}

    def end_edit(self) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
        """(box, before, after) of what changed since begin_edit(), or None when no pixel did. A stroke on a
        50 MP photo then reads the tiles it touched, not the whole mask, before and after."""
        journal, self._journal = self._journal, None
        if not journal:
            return None
        rows, cols = [r for r, _ in journal], [c for _, c in journal]
        h, w = self.image.height(), self.image.width()
        box = (min(cols) * TILE, min(rows) * TILE, min(w, (max(cols) + 1) * TILE), min(h, (max(rows) + 1) * TILE))
        after = self.region(box)
        before = after.copy()  # tiles the edit never touched are as they were
        for (r, c), tile in journal.items():
            y, x = r * TILE - box[1], c * TILE - box[0]
            before[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        changed = changed_box(before, after)
        if changed is None:
            return None
        x0, y0, x1, y1 = changed
        return (box[0] + x0, box[1] + y0, box[0] + x1, box[1] + y1), before[y0:y1, x0:x1], after[y0:y1, x0:x1]

    def _painted(self, rect: QRect) -> int:
        """How many hole pixels rect holds."""
        x0, y0, x1, y1 = self._box(rect)
        return int(np.count_nonzero(self._words()[y0:y1, x0:x1]))

    def _edited(self, rect: QRect, before: int, after: int) -> None:
        """Book an edit of rect that held `before` hole pixels and now holds `after`, then tell the views."""
        self._count += after - before
        if self._count == 0:
            self._bounds = QRect()
        elif after:
            self._bounds = self._bounds.united(rect)
        self.revision += 1
        self.changed.emit(rect)

    @staticmethod
    def _box(rect: QRect) -> tuple[int, int, int, int]:
        return rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1

    def _remember(self, rect: QRect) -> None:
        """Before painting over rect during an edit: keep the tiles under it that are not yet kept."""
        rect = rect.intersected(self.image.rect())
        if self._journal is None or rect.isEmpty():
            return
        h, w = self.image.height(), self.image.width()
        for r in range(rect.top() // TILE, rect.bottom() // TILE + 1):
            for c in range(rect.left() // TILE, rect.right() // TILE + 1):
                if (r, c) not in self._journal:
                    self._journal[(r, c)] = self.region((c * TILE, r * TILE, min(w, (c + 1) * TILE), min(h, (r + 1) * TILE)))

    def set_array(self, mask: np.ndarray) -> None:
        self.set_region((0, 0, self.image.width(), self.image.height()), mask)

    def set_region(self, box: Box, values: np.ndarray) -> None:
        """Overwrite the pixels inside box (x0, y0, x1, y1) with the bool array `values` (undo, redo, apply)."""
        self.transform(box, lambda _before: values)

    def transform(self, box: Box, fn: Callable[[np.ndarray], np.ndarray],
                  done: Callable[[MaskEdit | None], None] = lambda edit: None) -> None:
        """Replace the mask inside box by fn(the mask there), then call done(what changed, or None) on the GUI thread:
        at once for a small box while nothing else is being written, else once the worker has written it."""
        x0, y0, x1, y1 = box
        if (x1 - x0) * (y1 - y0) <= ASYNC_PIXELS and not self.is_busy():
            done(self._book(self._apply(box, fn)))
            return
        task = Task(lambda progress, cancel: self._apply(box, fn), name="mask operation")
        task.signals.finished.connect(self._on_applied)
        task.signals.done.connect(self._on_task_done)
        self._pending[task.signals] = done
        self._runner.submit(task)
        if len(self._pending) == 1:
            self.busyChanged.emit(True)

    def _apply(self, box: Box, fn: Callable[[np.ndarray], np.ndarray]) -> MaskEdit | None:
        """Read, compute, diff and write only the pixels that change; no bookkeeping and no signal (this may run on
        the worker, which touches nothing but the pixels of the box)."""
        before = self.region(box)
        after = np.asarray(fn(before), bool)
        changed = changed_box(before, after)
        if changed is None:
            return None
        cx0, cy0, cx1, cy1 = changed
        before, after = before[cy0:cy1, cx0:cx1].copy(), after[cy0:cy1, cx0:cx1].copy()  # not the whole box's arrays
        x0, y0 = box[0] + cx0, box[1] + cy0
        view = self._words()[y0 : y0 + after.shape[0], x0 : x0 + after.shape[1]]
        np.multiply(after, np.uint32(self._color.rgba() | 0xFF000000), out=view, casting="unsafe")  # 0 or opaque colour
        return MaskEdit((x0, y0, x0 + after.shape[1], y0 + after.shape[0]), before, after,
                        (int(np.count_nonzero(before)), int(np.count_nonzero(after))))

    def _book(self, edit: MaskEdit | None) -> MaskEdit | None:
        """Count, bounds, revision and repaint for a written edit (GUI thread)."""
        if edit is not None:
            x0, y0, x1, y1 = edit.box
            self._edited(QRect(x0, y0, x1 - x0, y1 - y0), *edit.counts)
        return edit

    @Slot(object)
    def _on_applied(self, edit: MaskEdit | None) -> None:
        self._pending[self.sender()](self._book(edit))

    @Slot()
    def _on_task_done(self) -> None:
        self._pending.pop(self.sender(), None)
        if not self._pending:
            self.busyChanged.emit(False)

    def set_color(self, color: QColor) -> None:
        """Recolour the painted pixels in one composition pass, keeping the mask itself unchanged."""
        self._color = QColor(color)
        self._color.setAlpha(255)
        painter = QPainter(self.image)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceIn)
        painter.fillRect(self.image.rect(), self._color)
        painter.end()
        self.changed.emit(self.image.rect())

    def _painter(self, erase: bool) -> QPainter:
        painter = QPainter(self.image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if erase:
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
        return painter

    def paint_line(self, p0: QPointF, p1: QPointF, diameter: float, erase: bool = False) -> None:
        """Paint (or erase) a round-capped segment; p0 == p1 paints a dot."""
        pad = diameter / 2 + 2
        dirty = QRectF(p0, p1).normalized().adjusted(-pad, -pad, pad, pad).toAlignedRect().intersected(self.image.rect())
        self._remember(dirty)
        before = self._painted(dirty)
        painter = self._painter(erase)
        pen = QPen(self._color, max(1.0, diameter), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        if p0 == p1:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(self._color)
            r = max(0.5, diameter / 2)
            painter.drawEllipse(p0, r, r)
        else:
            painter.drawLine(p0, p1)
        painter.end()
        self._edited(dirty, before, self._painted(dirty))

    def paint_rect(self, rect: QRect, erase: bool = False) -> None:
        rect = rect.normalized().intersected(self.image.rect())
        if rect.isEmpty():
            return
        self._remember(rect)
        before = self._painted(rect)
        painter = self._painter(erase)
        painter.fillRect(rect, self._color)
        painter.end()
        self._edited(rect, before, self._painted(rect))


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int] | None:
    """Smallest box holding every pixel that differs, so undo stores only the edited region."""
    return bbox(before != after)


def overlay_image(hole: np.ndarray, sampling: np.ndarray | None, hole_rgb: int,
                  sampling_rgb: int) -> tuple[QImage, int, int] | None:
    """The sampling area with the hole over it, opaque in their colours (0xRRGGBB) as the canvas draws them, cropped
    to their bounds: (image, x, y of its corner), or None with nothing painted. Made on a worker for the Compare
    view's original: composing the two full-size layers on the GUI thread took 0.2 s at 4 MP."""
    painted = hole if sampling is None else hole | sampling
    box = bbox(painted)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    image = QImage(x1 - x0, y1 - y0, QImage.Format.Format_ARGB32_Premultiplied)
    words = np.frombuffer(image.bits(), np.uint32).reshape(y1 - y0, image.bytesPerLine() // 4)[:, : x1 - x0]
    words[:] = 0
    if sampling is not None:
        words[sampling[y0:y1, x0:x1]] = 0xFF000000 | sampling_rgb
    words[hole[y0:y1, x0:x1]] = 0xFF000000 | hole_rgb
    return image, x0, y0
