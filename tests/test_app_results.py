"""The comparison view on its own (synchronised zoom/pan, selection) and the crash handler."""

from __future__ import annotations

import logging
import sys
import threading

from app_fixtures import app_settings, dialogs, photo_path, window  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPixmap

from contextfill.app.crash import FATAL_MARKER, install_excepthook
from contextfill.app.results import ORIGINAL, ResultsView


def _image(color: str) -> QImage:
    image = QImage(400, 300, QImage.Format.Format_RGB32)
    image.fill(QColor(color))
    return image


def test_panels_zoom_and_pan_together_and_only_results_are_selectable(qtbot):
    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    before = QPixmap.fromImage(_image("gray"))
    view.start(before, [("patch", "Patch fill"), ("hybrid", "Hybrid")])
    assert list(view.panels) == [ORIGINAL, "patch", "hybrid"]
    assert not view.apply_button.isEnabled()

    first, second = view.panel("patch").view, view.panel("hybrid").view
    first.zoom_by(4)
    first.horizontalScrollBar().setValue(first.horizontalScrollBar().value() + 30)
    for panel in view.panels.values():
        assert abs(panel.view.zoom() - first.zoom()) < 1e-6
        assert (panel.view.view_state()[1] - first.view_state()[1]).manhattanLength() < 1.0
    view.actual_button.click()
    assert second.zoom() == 1.0 and view.panel(ORIGINAL).view.zoom() == 1.0

    view.select(ORIGINAL)
    assert view.selected is None, "the original cannot be applied"
    with qtbot.waitSignal(view.applyRequested) as applied:
        view.set_result("hybrid", _image("green"), "0.10 s · CPU")
        assert view.selected == "hybrid" and view.apply_button.isEnabled()
        qtbot.mouseDClick(second.viewport(), Qt.MouseButton.LeftButton)
    assert applied.args == ["hybrid"]


def test_the_default_method_is_preselected_when_it_arrives_unless_the_user_picked(qtbot):
    """The context encoder's result comes first and is the softest: Apply straight after a fill applies the
    default method's result, not the first to arrive; a panel the user clicked stays picked."""
    from contextfill.model.methods import BEST, NAMES

    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    before = QPixmap.fromImage(_image("gray"))
    order = sorted(NAMES, key=lambda name: name == BEST)  # the default arrives last
    view.start(before, [(name, name) for name in NAMES])
    for name in order:
        view.set_result(name, _image("green"), "0.10 s · CPU")
        assert view.selected == (name if name == BEST else order[0])
    other = order[0]
    view.start(before, [(name, name) for name in NAMES])
    view.set_result(other, _image("green"), "")
    qtbot.mouseClick(view.panel(other).view.viewport(), Qt.MouseButton.LeftButton)
    view.set_result(BEST, _image("green"), "")
    assert view.selected == other


def test_uncaught_exception_is_logged_and_shown(app_settings, monkeypatch, caplog):
    shown = []
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_excepthook(lambda message, details: shown.append((message, details)))
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        with caplog.at_level(logging.CRITICAL):
            sys.excepthook(*sys.exc_info())
    assert shown and shown[0][0] == "RuntimeError: boom" and "Traceback" in shown[0][1]
    assert FATAL_MARKER in caplog.text


def test_an_exception_on_a_worker_thread_is_shown_from_the_gui_thread(qtbot, monkeypatch, caplog):
    """A dialog is a widget, which only the GUI thread may make: a worker's uncaught exception is logged at once
    and shown from the GUI thread."""
    shown = []
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    install_excepthook(lambda message, details: shown.append((message, details, threading.current_thread())))

    def fail() -> None:
        raise ValueError("worker boom")

    with caplog.at_level(logging.CRITICAL):
        worker = threading.Thread(target=fail)
        worker.start()
        worker.join()
        assert FATAL_MARKER in caplog.text and "worker boom" in caplog.text
        qtbot.waitUntil(lambda: bool(shown), timeout=5_000)
    message, details, thread = shown[0]
    assert message == "ValueError: worker boom" and "Traceback" in details
    assert thread is threading.main_thread()


def test_many_variations_scroll_instead_of_squashing_the_panels_or_widening_the_window(qtbot, window):
    """As a new user met it: 9 variations shrank the original and the main panels to thumbnails and widened the
    window past the screen."""
    from app_fixtures import drag

    from contextfill.app.results import MIN_PANEL
    from contextfill.app.tools import Tool

    width, minimum = window.width(), window.minimumSizeHint().width()
    window.set_tool(Tool.RECT)
    drag(qtbot, window.canvas, [(60, 40), (100, 80)])
    for method, check in window.fill_panel.checks.items():
        check.setChecked(method in ("patch", "hybrid"))
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
    window.fill_panel.variations_spin.setValue(5)
    with qtbot.waitSignal(window.fillFinished, timeout=120_000):
        assert window.start_variations()
    assert len(window.results.panels) == 1 + 2 + 10
    qtbot.wait(50)  # the layout settles
    assert window.width() == width and window.minimumSizeHint().width() <= minimum, "the window is no wider"
    for key, panel in window.results.panels.items():
        assert panel.width() >= MIN_PANEL.width() and panel.height() >= MIN_PANEL.height(), key
    assert window.results.scroll.verticalScrollBar().maximum() > 0, "the rows that do not fit scroll"


def test_a_new_comparison_reuses_the_panels_and_they_still_pick_and_sync_rightly(qtbot, monkeypatch):
    """Panels are pooled (creating and styling four of them stalled the GUI thread): a second comparison shows
    the same widgets, waiting again, with no result, badge or mask left from the first; a click picks the key the
    panel has now, and zooming one view moves each other view once, not once per comparison it was part of."""
    from contextfill.app.zoomview import ViewSync

    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.warm(4)
    qtbot.waitUntil(lambda: len(view._pool) == 4)
    warmed = set(map(id, view._pool))
    first = QPixmap.fromImage(_image("gray"))
    view.start(first, [("patch", "Patch fill"), ("hybrid", "Hybrid")])
    assert set(map(id, view.panels.values())) <= warmed, "the first comparison uses the warmed panels"
    view.set_result("patch", _image("green"), "0.1 s")
    view.show_mask(_image("red"), 0, 0, 0.5)
    old = dict(view.panels)
    follows = []
    original = ViewSync._follow
    monkeypatch.setattr(ViewSync, "_follow", lambda self, source: (follows.append(source), original(self, source)))
    view.panel("hybrid").view.zoom_by(2)
    first_comparison = follows.count(view.panel("hybrid").view)
    follows.clear()

    view.start(QPixmap.fromImage(_image("white")), [("hybrid", "Hybrid"), ("patch", "Patch fill")])
    assert set(map(id, view.panels.values())) <= warmed | set(map(id, old.values()))
    for key, panel in view.panels.items():
        assert panel.isVisible() and not panel.has_result() and panel.mask_item is None
        assert not panel.item.childItems(), "the last comparison's mask is gone"
        assert panel.info.text() != "0.1 s"
    assert view.panel("patch").title.text() == "Patch fill" and view.selected is None

    follows.clear()
    view.panel("hybrid").view.zoom_by(2)
    assert follows.count(view.panel("hybrid").view) == first_comparison, "no connection was made twice"
    with qtbot.waitSignal(view.selectionChanged) as picked:
        qtbot.mouseClick(view.panel("hybrid").view.viewport(), Qt.MouseButton.LeftButton)
    assert picked.args == ["hybrid"]


def test_fit_fits_each_panel_once_not_once_per_panel_it_follows(qtbot, monkeypatch):
    """Fit fits every view itself: the views must not also follow one another, which fitted each of n panels n
    times on the GUI thread."""
    from contextfill.app.zoomview import ZoomView

    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.start(QPixmap.fromImage(_image("gray")), [("patch", "Patch fill"), ("hybrid", "Hybrid"), ("ce", "CE")])
    for panel in view.panels.values():
        panel.view.zoom_by(2)
    fitted = []
    original = ZoomView.fit
    monkeypatch.setattr(ZoomView, "fit", lambda self: (fitted.append(self), original(self)))
    view.fit_button.click()
    assert sorted(map(id, fitted)) == sorted(id(p.view) for p in view.panels.values()), "each view fitted once"
    assert all(p.view.view_state()[2] for p in view.panels.values()), "every view is in fit mode"


def test_panels_shown_in_fit_mode_refit_themselves_without_moving_the_others(qtbot, monkeypatch):
    """A comparison started behind the Edit tab is laid out when its tab is shown: each view in fit mode refits on its
    own resize, and its scrollbars' changes on the way must not make the other views follow it (they refit too)."""
    from PySide6.QtWidgets import QLabel, QTabWidget

    from contextfill.app.zoomview import ViewSync

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    view = ResultsView()
    tabs.addTab(QLabel("edit"), "Edit")
    tabs.addTab(view, "Compare")
    tabs.resize(1200, 800)
    tabs.show()
    view.warm(4)
    qtbot.waitUntil(lambda: len(view._pool) == 4)
    large = QImage(8000, 6000, QImage.Format.Format_RGB32)
    large.fill(QColor("gray"))
    view.start(QPixmap.fromImage(large), [("patch", "Patch fill"), ("hybrid", "Hybrid"), ("ce", "CE")])
    follows = []
    monkeypatch.setattr(ViewSync, "_follow", lambda self, source: follows.append(source))
    tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: all(p.view.isVisible() for p in view.panels.values()))
    qtbot.wait(20)
    assert all(p.view.view_state()[2] for p in view.panels.values()), "every view is still in fit mode"
    assert not follows, "no view followed another"
