"""The editing canvas: the photo, the sampling-area and hole overlays on top, a brush outline that follows the cursor.

Mouse gestures are turned into tool gestures (app.tools) in image coordinates; panning and zooming come
from ZoomView. `[` and `]` (window actions, app/actions.py) change the brush size as in other editors.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap, QUndoStack
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QWidget

from contextfill.app.mask import MaskLayer
from contextfill.app.qtimage import pixmaps
from contextfill.app.tools import Gesture, RectGesture, SamplingStroke, StrokeGesture, Tool
from contextfill.app.zoomview import ImageItem, PhotoItem, ZoomView

MIN_BRUSH, MAX_BRUSH = 1, 500


class MaskOverlay(ImageItem):
    """Draws the mask layer's image at a chosen opacity, repainting only what an edit touched."""

    def __init__(self) -> None:
        super().__init__()
        self._layer: MaskLayer | None = None

    def set_layer(self, layer: MaskLayer) -> None:
        if self._layer is not None:
            self._layer.changed.disconnect(self._on_changed)
        self.prepareGeometryChange()
        self._layer = layer
        self.image = layer.image
        layer.changed.connect(self._on_changed)
        self.update()

    def _on_changed(self, rect: QRect) -> None:
        self.update(QRectF(rect))

    def drawn_rect(self) -> QRect:
        """Only the painted bounds: an empty mask (the sampling area, mostly) draws nothing, where drawing the whole
        layer of a 50 MP photo took 12 ms at every repaint."""
        box = self._layer.bounds() if self._layer is not None else None
        return QRect() if box is None else QRect(box[0], box[1], box[2] - box[0], box[3] - box[1])


class BrushOutline(QGraphicsItem):
    """A circle of the brush's diameter, drawn black-and-white so it shows on any photo."""

    def __init__(self) -> None:
        super().__init__()
        self.diameter = 40.0
        self.setZValue(10)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_diameter(self, diameter: float) -> None:
        self.prepareGeometryChange()
        self.diameter = diameter

    def boundingRect(self) -> QRectF:
        r = self.diameter / 2 + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        r = self.diameter / 2
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for color, style in ((QColor(0, 0, 0, 200), Qt.PenStyle.SolidLine), (QColor(255, 255, 255), Qt.PenStyle.DashLine)):
            pen = QPen(color, 0, style)
            pen.setCosmetic(True)
            painter.setPen(pen)
            painter.drawEllipse(QPointF(0, 0), r, r)


class Canvas(ZoomView):
    brushSizeChanged = Signal(int)
    cursorMoved = Signal(QPointF)

    def __init__(self, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.layer: MaskLayer | None = None
        self.sampling_layer: MaskLayer | None = None
        self.tool = Tool.BRUSH
        self.brush_size = 40
        self._gesture: Gesture | None = None
        self._gesture_pos = QPointF()  # where the gesture in progress last was, in image coordinates
        self.image_item = PhotoItem()
        self.sampling_overlay = MaskOverlay()
        self.overlay = MaskOverlay()
        self.outline = BrushOutline()
        self.outline.hide()
        self.rect_preview = QGraphicsRectItem()
        pen = QPen(QColor(255, 255, 255), 0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.rect_preview.setPen(pen)
        self.rect_preview.setZValue(9)
        self.rect_preview.hide()
        for item in (self.image_item, self.sampling_overlay, self.overlay, self.outline, self.rect_preview):
            self.scene().addItem(item)
        self.setMouseTracking(True)
        self.viewport().setCursor(self.idle_cursor())

    def set_image(self, image: QImage, small: tuple[QImage, ...] = ()) -> None:
        """Show image (and its reduced copies); made on a worker in RGB32 or premultiplied ARGB32 (see
        `pil_to_qimage`), which the pixmap shares as it is: no conversion of a 50 MP photo on the GUI thread."""
        self.image_item.set_picture(QPixmap.fromImage(image, Qt.ImageConversionFlag.NoFormatConversion),
                                    pixmaps(small))
        self.scene().setSceneRect(QRectF(image.rect()))
        self.refresh_pixmap_modes()

    def set_layers(self, hole: MaskLayer, sampling: MaskLayer) -> None:
        """The hole mask (brush, rectangle, eraser) and the sampling area (sampling brush), drawn under the hole."""
        self.layer, self.sampling_layer = hole, sampling
        self.overlay.set_layer(hole)
        self.sampling_overlay.set_layer(sampling)

    def set_overlay_opacity(self, percent: int) -> None:
        for overlay in (self.overlay, self.sampling_overlay):
            overlay.setOpacity(percent / 100)

    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self.outline.setVisible(tool is not Tool.RECT and self.underMouse())
        self.viewport().setCursor(self.idle_cursor())

    def set_brush_size(self, size: int) -> None:
        size = max(MIN_BRUSH, min(MAX_BRUSH, int(size)))
        if size != self.brush_size:
            self.brush_size = size
            self.outline.set_diameter(size)
            self.brushSizeChanged.emit(size)

    def idle_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.CrossCursor

    def _preview(self, rect: QRectF | None) -> None:
        self.rect_preview.setVisible(rect is not None)
        if rect is not None:
            self.rect_preview.setRect(rect)

    def _new_gesture(self, modifiers: Qt.KeyboardModifier) -> Gesture:
        alt = bool(modifiers & Qt.KeyboardModifier.AltModifier)
        if self.tool is Tool.RECT:
            return RectGesture(self.layer, self.undo_stack, alt, self._preview)
        if self.tool is Tool.SAMPLE:
            return SamplingStroke(self.sampling_layer, self.undo_stack, self.brush_size, alt)
        return StrokeGesture(self.layer, self.undo_stack, self.brush_size, self.tool is Tool.ERASER)

    def step_brush(self, direction: int) -> None:
        """`[` (-1) and `]` (+1): about 15% smaller or larger, as in other editors."""
        step = max(1, round(self.brush_size * 0.15))
        self.set_brush_size(self.brush_size + direction * step)

    # events ----------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus()
        if self.pan_event(event):
            return
        busy = self.layer is None or self.layer.is_busy() or self.sampling_layer.is_busy()  # see MaskLayer.transform
        if event.button() == Qt.MouseButton.LeftButton and not busy:
            self._end_gesture()
            self._gesture_pos = self.mapToScene(event.position().toPoint())
            self._gesture = self._new_gesture(event.modifiers())
            self._gesture.press(self._gesture_pos)
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = self.mapToScene(event.position().toPoint())
        self.outline.setPos(pos)
        self.outline.setVisible(self.tool is not Tool.RECT and not self.is_panning())
        self.cursorMoved.emit(pos)
        if self.pan_event(event):
            return
        if self._gesture is not None:
            if event.buttons() & Qt.MouseButton.LeftButton:
                self._gesture_pos = pos
                self._gesture.move(pos)
            else:  # the release went to a dialog or another window: hovering must not paint on
                self._end_gesture()
            event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.pan_event(event):
            return
        if event.button() == Qt.MouseButton.LeftButton and self._gesture is not None:
            self._end_gesture(self.mapToScene(event.position().toPoint()))
            event.accept()

    def focusOutEvent(self, event) -> None:
        self._end_gesture()  # a dialog that pops up mid-stroke takes the release with it
        super().focusOutEvent(event)

    def _end_gesture(self, pos: QPointF | None = None) -> None:
        """Record the gesture in progress as its undo step, ending at pos or, when its release was lost, where
        it last was."""
        if self._gesture is not None:
            gesture, self._gesture = self._gesture, None
            gesture.release(self._gesture_pos if pos is None else pos)

    def leaveEvent(self, event) -> None:
        self.outline.hide()
        super().leaveEvent(event)
