"""Side-by-side comparison: the original with its mask, then one panel per fill (method, or method and seed).

All panels share zoom and pan (ViewSync). Holding `\\` (or a panel's Before button) shows the original
in place of the fill, as Lightroom's before/after does, with a "Before" badge saying so. Click a panel to
pick it, double-click or press Apply to use it; once applied, the comparison waits for an undo. The grid
(row, 2x2 or column) is chosen to show the photo as large as possible.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from contextfill.app.qtimage import pixmaps
from contextfill.app.zoomview import ImageItem, PhotoItem, Picture, ViewSync, ZoomView
from contextfill.model.methods import BEST

ORIGINAL = "original"
MIN_PANEL = QSize(260, 220)  # a panel never gets smaller: the comparison scrolls instead
BEFORE_KEY = Qt.Key.Key_Backslash


class PanelView(ZoomView):
    """A panel's view, saying when it is clicked or double-clicked from its own mouse handlers: an event filter on it
    or its viewport is called in Python for every event they get, paints and layouts included, which took a good
    part of the GUI thread's time when a comparison starts."""

    clicked = Signal()
    doubleClicked = Signal()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.doubleClicked.emit()
        super().mouseDoubleClickEvent(event)


class ResultPanel(QFrame):
    """One labelled view. `selectable` is False for the original, which cannot be applied."""

    clicked = Signal()
    doubleClicked = Signal()

    def __init__(self, title: str, before: Picture, selectable: bool,
                 parent: QWidget | None = None) -> None:
        """`before` is the original's pixmap and its reduced copies (PhotoItem)."""
        super().__init__(parent)
        self.setObjectName("resultPanel")
        self.setProperty("selected", False)
        self.selectable = selectable
        self._before = before  # implicitly shared: every panel shows the same pixels without a copy
        self._after: Picture | None = None
        self.mask_item: ImageItem | None = None  # the original's: the mask that was filled

        self.title = QLabel(title)
        self.title.setObjectName("panelTitle")
        self.info = QLabel("Waiting…")
        self.info.setObjectName("panelInfo")
        self.before_badge = QLabel("Before: the original")
        self.before_badge.setObjectName("beforeBadge")
        self.before_badge.hide()
        self.before_button = QToolButton()
        self.before_button.setText("Before")
        self.before_button.setToolTip("Hold to see the original (or hold \\ anywhere here)")
        self.before_button.pressed.connect(lambda: self.show_before(True))
        self.before_button.released.connect(lambda: self.show_before(False))
        self.before_button.setEnabled(False)
        header = QHBoxLayout()
        header.setContentsMargins(8, 6, 8, 2)
        header.setSpacing(10)  # "Original" and "600 × 400", not "Original600 × 400"
        header.addWidget(self.title)
        header.addWidget(self.before_badge)
        header.addWidget(self.info, 1)
        header.addWidget(self.before_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(3)
        self.progress.setVisible(selectable)

        for label in (self.title, self.info):  # long titles and timings are cut, never widen the panel
            label.setMinimumWidth(1)
        self.setMinimumSize(MIN_PANEL)

        self.view = PanelView()
        self.view.clicked.connect(self.clicked)
        self.view.doubleClicked.connect(self.doubleClicked)
        self.item = PhotoItem(*self._before)
        self.view.scene().addItem(self.item)
        self.view.scene().setSceneRect(self.item.boundingRect())
        self._dim(selectable)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(0)
        layout.addLayout(header)
        layout.addWidget(self.progress)
        layout.addWidget(self.view, 1)

    def reset(self, title: str, before: Picture, selectable: bool) -> None:
        """Wait for a new result in place: panels are pooled and reused (see ResultsView), so starting a fill creates
        and styles no widgets on the GUI thread (four new panels took 50-100 ms)."""
        self.selectable = selectable
        self._before, self._after = before, None
        if self.mask_item is not None:
            self.view.scene().removeItem(self.mask_item)
            self.mask_item = None
        self.item.set_picture(*before)
        self.view.scene().setSceneRect(self.item.boundingRect())
        self.title.setText(title)
        self.before_badge.hide()
        self.before_button.setEnabled(False)
        self.set_selected(False)
        self._dim(self.selectable)
        self.info.setText("Waiting…")
        self.progress.setValue(0)
        self.progress.setVisible(selectable)

    def _dim(self, on: bool) -> None:
        self.item.setOpacity(0.35 if on else 1.0)

    def set_progress(self, fraction: float) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.info.setText(f"{fraction:.0%}")

    def set_result(self, image: QImage, info: str, small: tuple[QImage, ...] = ()) -> None:
        self._after = (QPixmap.fromImage(image), pixmaps(small))
        self.item.set_picture(*self._after)
        self._dim(False)
        self.progress.setValue(1000)
        self.progress.hide()
        self.info.setText(info)
        self.before_button.setEnabled(True)

    def set_message(self, text: str, error: bool = False) -> None:
        self.progress.hide()
        self.info.setText(text)
        if bool(self.info.property("error")) != error:
            self.info.setProperty("error", error)
            self.info.style().polish(self.info)

    def has_result(self) -> bool:
        return self._after is not None

    def show_before(self, on: bool) -> None:
        if self._after is not None:
            self.item.set_picture(*(self._before if on else self._after))
            self.before_badge.setVisible(on)

    def set_selected(self, on: bool) -> None:
        if bool(self.property("selected")) != on:  # a polish restyles the whole panel: only when it changes
            self.setProperty("selected", on)
            self.style().polish(self)


class ResultsView(QWidget):
    selectionChanged = Signal(str)
    applyRequested = Signal(str)
    zoomChanged = Signal(float)  # the panels' zoom (they share it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.panels: dict[str, ResultPanel] = {}
        self.selected: str | None = None
        self.preferred = BEST  # selected when its result arrives, unless the user has picked another
        self._picked = False
        self.applicable = True  # False while the photo is not the one compared (a result was applied)
        self._sync = ViewSync(self)
        self._before: Picture = (QPixmap(), ())
        self._aspect = 1.0
        self._columns = 0
        self._pool: list[ResultPanel] = []  # panels of earlier comparisons, hidden, to be reused
        self._warm_count = 0
        self._warm_timer = QTimer(self)  # a child: it dies with the view, never calling into a deleted one
        self._warm_timer.timeout.connect(self._warm_step)

        self.hint = QLabel("Paint over what should go, then press Fill to compare the methods here.")
        self.hint.setObjectName("hint")
        self.hint.setMinimumWidth(1)  # its longer texts are cut rather than widen the window
        self.fit_button = QPushButton("Fit")
        self.fit_button.clicked.connect(lambda: self._each_view(ZoomView.fit))
        self.actual_button = QPushButton("100%")
        self.actual_button.clicked.connect(lambda: self._each_view(ZoomView.actual_size))
        self.apply_button = QPushButton("Apply selected")
        self.apply_button.setObjectName("primary")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(lambda: self.selected and self.applyRequested.emit(self.selected))
        bar = QHBoxLayout()
        bar.setContentsMargins(8, 6, 8, 6)
        bar.addWidget(self.hint, 1)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.actual_button)
        bar.addWidget(self.apply_button)

        self.grid_host = grid_host = QWidget()
        self.grid = QGridLayout(grid_host)
        self.grid.setContentsMargins(6, 0, 6, 6)
        self.grid.setSpacing(6)
        # Many panels (variations) scroll instead of shrinking to thumbnails or widening the window past the screen.
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(grid_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.scroll, 1)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def _each_view(self, fn) -> None:
        with self._sync.apart():
            for panel in self.panels.values():
                fn(panel.view)

    def start(self, before: QPixmap, methods: list[tuple[str, str]], small: tuple[QPixmap, ...] = ()) -> None:
        """Lay out a fresh comparison: the original (its mask follows, `show_mask`) plus a waiting panel per (key,
        title); `small` are its reduced copies."""
        self.clear()
        self._before = (before, small)
        self._aspect = before.width() / max(1, before.height())
        self._add(ORIGINAL, self._panel("Original", selectable=False))
        self.add(methods)
        self.panels[ORIGINAL].set_message(f"{before.width()} × {before.height()}")
        self.set_applicable(True)
        self._each_view(ZoomView.fit)

    def warm(self, count: int, after_ms: int = 0) -> None:
        """Make panels for the pool ahead of the first comparison, one per pass of the event loop while the window
        is idle (each takes several ms to create, style and render once), from `after_ms` on, until `count` exist."""
        self._warm_count = count
        self._warm_timer.start(after_ms)

    @Slot()
    def _warm_step(self) -> None:
        if len(self._pool) + len(self.panels) >= self._warm_count:
            self._warm_timer.stop()
            self.ensurePolished()  # the view's own bar and scroll area too, before it is first shown
            return
        panel = self._new_panel()
        panel.grab()  # styled, laid out and painted once offscreen: the first comparison finds its fonts and glyphs
        self._pool.append(panel)
        self._warm_timer.setInterval(0)

    def _new_panel(self) -> ResultPanel:
        panel = ResultPanel("", (QPixmap(), ()), selectable=True, parent=self.grid_host)
        panel.hide()
        panel.clicked.connect(self._on_panel_clicked)
        panel.doubleClicked.connect(self._on_panel_double_clicked)
        panel.view.zoomChanged.connect(self.zoomChanged)
        return panel

    def _panel(self, title: str, selectable: bool) -> ResultPanel:
        panel = self._pool.pop() if self._pool else self._new_panel()
        panel.reset(title, self._before, selectable)
        return panel

    def _key_of(self, panel: QObject) -> str | None:
        return next((key for key, p in self.panels.items() if p is panel and p.selectable), None)

    @Slot()
    def _on_panel_clicked(self) -> None:
        key = self._key_of(self.sender())
        if key is not None:
            self._pick(key)

    @Slot()
    def _on_panel_double_clicked(self) -> None:
        key = self._key_of(self.sender())
        if key is not None:
            self._apply_if_ready(key)

    def show_mask(self, image: QImage, x: int, y: int, opacity: float) -> None:
        """Lay the mask that was filled (`overlay_image`, made on a worker) over the original at (x, y)."""
        original = self.panels.get(ORIGINAL)
        if original is None:
            return
        original.mask_item = ImageItem(image, original.item)  # held here: the parent item does not keep it alive
        original.mask_item.setPos(x, y)
        original.mask_item.setOpacity(opacity)
        width, height = self._before[0].width(), self._before[0].height()
        original.set_message(f"{width} × {height} with mask")

    def add(self, fills: list[tuple[str, str]]) -> None:
        """Append a waiting panel per (key, title) to the comparison, e.g. variations of the fills shown."""
        for key, title in fills:
            self._add(key, self._panel(title, selectable=True))
        self._relayout()

    def set_applicable(self, on: bool) -> None:
        """Off once a result is applied: the results were made from the photo as it was before."""
        self.applicable = on
        self.hint.setText("Click a result to pick it · hold \\ for before/after · Ctrl+wheel zooms all panels" if on
                          else "A result was applied: undo it (Ctrl+Z) to pick another one here")
        self._update_apply()

    def _add(self, key: str, panel: ResultPanel) -> None:
        self.panels[key] = panel
        self._sync.add(panel.view)
        panel.show()

    def clear(self) -> None:
        """Hide the panels and keep them for the next comparison, without the photo they showed (kept, it would be
        freed when the next comparison starts, on the GUI thread: a photo opened since is freed on a worker)."""
        self._sync.clear()
        self._before = (QPixmap(), ())
        for panel in self.panels.values():
            self.grid.removeWidget(panel)
            panel.hide()
            panel.reset("", (QPixmap(), ()), selectable=True)
            self._pool.append(panel)
        self.panels.clear()
        self.selected = None
        self._picked = False
        self.apply_button.setEnabled(False)

    def panel(self, key: str) -> ResultPanel:
        return self.panels[key]

    def set_result(self, key: str, image: QImage, info: str, small: tuple[QImage, ...] = ()) -> None:
        self.panels[key].set_result(image, info, small)
        # Until the user picks one, the default method's result is selected as soon as it arrives (the fastest
        # result, the context encoder's, is the softest: Apply straight after a fill must not apply a smear).
        if self.selected is None or (not self._picked and key == self.preferred):
            self.select(key)
        self._update_apply()

    def _pick(self, key: str) -> None:
        """A click on a panel: the user's choice, kept while later results arrive."""
        self._picked = True
        self.select(key)

    def select(self, key: str) -> None:
        if key not in self.panels or not self.panels[key].selectable:
            return
        self.selected = key
        for k, panel in self.panels.items():
            panel.set_selected(k == key)
        self._update_apply()
        self.selectionChanged.emit(key)

    def _update_apply(self) -> None:
        ready = self.applicable and self.selected is not None and self.panels[self.selected].has_result()
        self.apply_button.setEnabled(ready)

    def _apply_if_ready(self, key: str) -> None:
        self._pick(key)
        if self.applicable and self.panels[key].has_result():
            self.applyRequested.emit(key)

    def show_before(self, on: bool) -> None:
        for panel in self.panels.values():
            panel.show_before(on)

    # layout ------------------------------------------------------------------
    def _best_columns(self) -> int:
        """Columns that make each panel's photo largest for this widget size and image aspect, no panel smaller
        than MIN_PANEL: the rows that do not fit scroll."""
        n = max(1, len(self.panels))
        w, h = max(1, self.scroll.viewport().width()), max(1, self.height() - 40)
        fit = max(1, w // (MIN_PANEL.width() + self.grid.spacing()))
        best, best_scale = 1, 0.0
        for cols in range(1, min(n, fit) + 1):
            rows = math.ceil(n / cols)
            cell_w, cell_h = w / cols, max(h / rows, MIN_PANEL.height()) - 30
            scale = min(cell_w / self._aspect, cell_h)
            if scale > best_scale:
                best, best_scale = cols, scale
        return best

    def _relayout(self) -> None:
        cols = self._best_columns()
        for i, panel in enumerate(self.panels.values()):
            self.grid.removeWidget(panel)
            self.grid.addWidget(panel, i // cols, i % cols)
        for c in range(self.grid.columnCount()):
            self.grid.setColumnStretch(c, 1 if c < cols else 0)
        self._columns = cols

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.panels and self._best_columns() != self._columns:
            self._relayout()

    # before/after key: the panels' views leave it to their parents, so it reaches this view's handlers ------------
    def _before_key(self, event: QKeyEvent) -> bool:
        if event.key() != BEFORE_KEY:
            return False
        if not event.isAutoRepeat():
            self.show_before(event.type() == QEvent.Type.KeyPress)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._before_key(event):
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if not self._before_key(event):
            super().keyReleaseEvent(event)
