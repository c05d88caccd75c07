"""A QGraphicsView that zooms and pans the way photo editors do; the canvas and result panels share it.

Ctrl+wheel zooms about the cursor, Space+drag or the middle button pans, `fit()` and `actual_size()`
set the two standard zooms. While in fit mode the view refits on resize. `viewChanged` fires on any
zoom or scroll so several views can be kept in step (see `ViewSync`); `zoomChanged` fires on every zoom,
the quiet refit on resize included, so a zoom read-out never goes stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
WHEEL_STEP = 1.0015  # zoom factor per wheel-delta unit: one notch (120) is about 1.2x
BACKGROUND = QColor(30, 30, 32)
PIXEL_ZOOM = 3.0  # from this magnification on, show crisp pixels instead of smoothing
Picture = tuple[QPixmap, tuple[QPixmap, ...]]  # a photo's pixmap and its reduced copies, largest first (PhotoItem)


class ImageItem(QGraphicsObject):
    """Draws a QImage as it is, only the part exposed, with crisp pixels (masks): a QPixmap of a 50 MP image would
    be a 200 MB copy made on the GUI thread."""

    def __init__(self, image: QImage | None = None, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self.image = image if image is not None else QImage()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)

    def boundingRect(self) -> QRectF:
        return QRectF(self.image.rect())

    def drawn_rect(self) -> QRect:
        """The part of the image that may hold anything to draw."""
        return self.image.rect()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        rect = option.exposedRect.toAlignedRect().intersected(self.drawn_rect())
        if rect.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(rect, self.image, rect)


class PhotoItem(QGraphicsPixmapItem):
    """A photo that draws from the smallest of its reduced copies (`qtimage.reduced`) at least as large as the view
    shows it, and from the full pixmap when zoomed in further."""

    def __init__(self, pixmap: QPixmap | None = None, small: tuple[QPixmap, ...] = ()) -> None:
        super().__init__()
        self.small: tuple[QPixmap, ...] = ()
        if pixmap is not None:
            self.set_picture(pixmap, small)

    def set_picture(self, pixmap: QPixmap, small: tuple[QPixmap, ...]) -> None:
        """`small`: the reduced copies, largest first."""
        self.setPixmap(pixmap)
        self.small = small

    def copy_for(self, scale: float) -> QPixmap | None:
        """The reduced copy to draw the photo from at this scale of the view; None: the full pixmap."""
        shown = scale * self.pixmap().width()
        return next((copy for copy in reversed(self.small) if copy.width() >= shown), None)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        small = self.copy_for(painter.worldTransform().m11())
        if small is None:
            super().paint(painter, option, widget)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform,
                              self.transformationMode() == Qt.TransformationMode.SmoothTransformation)
        painter.drawPixmap(self.boundingRect(), small, QRectF(small.rect()))
        painter.restore()


class ZoomView(QGraphicsView):
    viewChanged = Signal()
    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self._fit_mode = True
        self._smooth: bool | None = None
        self._space_down = False
        self._pan_from: QPoint | None = None
        self.horizontalScrollBar().valueChanged.connect(self.viewChanged)
        self.verticalScrollBar().valueChanged.connect(self.viewChanged)

    # zoom -----------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float) -> None:
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._after_zoom()

    def zoom_by(self, factor: float) -> None:
        self._fit_mode = False
        self.set_zoom(self.zoom() * factor)

    def fit(self) -> None:
        self._fit_mode = True
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._after_zoom()

    def actual_size(self) -> None:
        self._fit_mode = False
        self.set_zoom(1.0)

    def _after_zoom(self) -> None:
        # Smooth at ordinary zooms, nearest pixels when magnified enough to inspect them.
        smooth = self.zoom() < PIXEL_ZOOM
        if smooth != self._smooth:
            self._smooth = smooth
            mode = Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
            self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
            for item in self.scene().items():
                if isinstance(item, QGraphicsPixmapItem):
                    item.setTransformationMode(mode)
        self.viewChanged.emit()
        self.zoomChanged.emit(self.zoom())

    def refresh_pixmap_modes(self) -> None:
        """Apply the current smoothing to pixmap items added after the last zoom change."""
        self._smooth = None
        self._after_zoom()

    # state shared between synchronised views -----------------------------
    def view_state(self) -> tuple[float, QPointF, bool]:
        return self.zoom(), self.mapToScene(self.viewport().rect().center()), self._fit_mode

    def set_view_state(self, state: tuple[float, QPointF, bool]) -> None:
        zoom, center, fit_mode = state
        if fit_mode:
            self.fit()
            return
        self._fit_mode = False
        self.set_zoom(zoom)
        self.centerOn(center)

    # events ----------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        if not self._fit_mode:
            super().resizeEvent(event)
            return
        # Quietly, the scrollbars' own changes included: synchronised views in fit mode refit on their own resize, so
        # telling them is waste (each of four Compare panels shown fitted the three others again, three times).
        self.blockSignals(True)
        super().resizeEvent(event)
        self.fit()
        self.blockSignals(False)
        self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Ctrl+wheel zooms about the cursor: the scene point under it stays under it. Qt's own anchor follows the
        last mouse move, which a view without mouse tracking (the Compare panels) never records."""
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            pos = event.position().toPoint()
            under = self.mapToScene(pos)
            self.zoom_by(WHEEL_STEP ** event.angleDelta().y())
            moved = self.mapFromScene(under) - pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
            event.accept()
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = True
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down = False
                self.viewport().setCursor(self.idle_cursor())
            event.accept()
            return
        super().keyReleaseEvent(event)

    def idle_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.ArrowCursor

    def is_panning(self) -> bool:
        return self._pan_from is not None

    def pan_event(self, event: QMouseEvent) -> bool:
        """Handle press/move/release for panning; True when the event was a pan and is consumed."""
        kind = event.type()
        if kind == QMouseEvent.Type.MouseButtonPress:
            if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space_down
            ):
                self._pan_from = event.position().toPoint()
                self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
                return True
            return False
        if self._pan_from is None:
            return False
        if kind == QMouseEvent.Type.MouseMove:
            pos = event.position().toPoint()
            delta = pos - self._pan_from
            self._pan_from = pos
            self._fit_mode = False
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        elif kind == QMouseEvent.Type.MouseButtonRelease:
            self._pan_from = None
            self.viewport().setCursor(
                Qt.CursorShape.OpenHandCursor if self._space_down else self.idle_cursor()
            )
        return True

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self.pan_event(event):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self.pan_event(event):
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self.pan_event(event):
            super().mouseReleaseEvent(event)


class ViewSync(QObject):
    """Keeps the zoom and centre of several views identical: moving one moves them all."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._views: list[ZoomView] = []
        self._connected: set[ZoomView] = set()  # the views whose viewChanged is connected (once each)
        self._busy = False

    def add(self, view: ZoomView) -> None:
        """Keep `view` in step; a view added again after `clear` (the Compare panels are reused) is not connected
        twice."""
        self._views.append(view)
        if view not in self._connected:
            self._connected.add(view)
            view.viewChanged.connect(lambda v=view: self._follow(v))

    def clear(self) -> None:
        self._views.clear()

    @contextmanager
    def apart(self) -> Iterator[None]:
        """Views moved inside this block do not move the others: for a change made to every view at once (Fit,
        100%, a new comparison), where following each one moved every other view again, n² fits in all."""
        busy, self._busy = self._busy, True
        try:
            yield
        finally:
            self._busy = busy

    def _follow(self, source: ZoomView) -> None:
        if self._busy or source not in self._views:
            return
        self._busy = True
        try:
            state = source.view_state()
            for view in self._views:
                if view is not source:
                    view.set_view_state(state)
        finally:
            self._busy = False
