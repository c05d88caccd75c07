"""What a new user tripped over (issue 10), each driven through the real widgets, and the rule that worker
results reach the GUI only through @Slot methods running on the GUI thread."""

from __future__ import annotations

import functools
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from app_fixtures import app_settings, dialogs, drag, finished, photo_path, window  # noqa: F401
from PIL import Image
from PySide6.QtCore import QThread, QTimer, Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QLineEdit,
    QMessageBox,
    QSpinBox,
    QWidget,
)

from contextfill.app import settings as S
from contextfill.app.batch_dialog import BatchDialog
from contextfill.app.dialogs import SettingsDialog, ShortcutsDialog
from contextfill.app.file_controller import FileController
from contextfill.app.fill import ModelCache
from contextfill.app.fill_controller import FillController
from contextfill.app.paths import is_bundled, resources_dir
from contextfill.app.results import ORIGINAL
from contextfill.app.tools import Tool
from contextfill.model.methods import BEST
from contextfill.app.workers import TaskRunner



def _paint_hole(qtbot, window, box=(60, 40, 100, 80)) -> np.ndarray:
    window.set_tool(Tool.RECT)
    drag(qtbot, window.canvas, [box[:2], box[2:]])
    return window.layer.array()


def _fill(qtbot, window, methods) -> None:
    for method, check in window.fill_panel.checks.items():
        check.setChecked(method in methods)
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        qtbot.mouseClick(window.fill_panel.fill_button, Qt.MouseButton.LeftButton)


def _click_panel(qtbot, window, key) -> None:
    qtbot.mouseClick(window.results.panel(key).view.viewport(), Qt.MouseButton.LeftButton)


# ---------------------------------------------------------------------------- the GUI thread only paints
def _recording(fn, name: str, seen: dict):
    @functools.wraps(fn)  # keeps the @Slot signature
    def record(self, *args):
        seen.setdefault(name, []).append((QThread.currentThread(), threading.current_thread()))
        return fn(self, *args)

    return record


def test_worker_results_reach_slots_on_the_gui_thread(qtbot, app_settings, dialogs, tiny_model_path, photo_path,
                                                      tmp_path, monkeypatch):
    seen: dict[str, list] = {}
    for cls in (TaskRunner, FileController, FillController):
        for name, fn in list(vars(cls).items()):
            if name.startswith("_on_"):
                monkeypatch.setattr(cls, name, _recording(fn, f"{cls.__name__}.{name}", seen))
    from contextfill.app.main_window import MainWindow

    app_settings.set(S.MODEL_PATH, str(tiny_model_path))
    app_settings.set(S.DEVICE, "cpu")
    win = MainWindow(app_settings)
    qtbot.addWidget(win)
    assert finished(qtbot, win, win.open_path(photo_path))  # decode on a worker
    win.show()
    with qtbot.waitSignal(win.modelLoaded, timeout=30_000):
        win.preload_model()
    _paint_hole(qtbot, win)
    _fill(qtbot, win, ["patch", "hybrid"])
    _click_panel(qtbot, win, "patch")
    qtbot.mouseClick(win.results.apply_button, Qt.MouseButton.LeftButton)
    assert finished(qtbot, win, win.save_as(tmp_path / "out.png"))  # encode on a worker
    assert (tmp_path / "out.png").exists()

    expected = {"FileController._on_finished", "FileController._on_done", "FillController._on_started",
                "FillController._on_finished", "FillController._on_done", "FillController._on_model_loaded",
                "TaskRunner._on_done"}
    assert expected <= set(seen)
    gui = QApplication.instance().thread()
    wrong = {name: calls for name, calls in seen.items()
             if any(qt is not gui or py is not threading.main_thread() for qt, py in calls)}
    assert wrong == {}


# ---------------------------------------------------------------------------- 1. undo an Apply
def test_undoing_an_apply_brings_the_comparison_back_to_pick_another(qtbot, window):
    original = np.asarray(window.document.image).copy()
    _paint_hole(qtbot, window)
    _fill(qtbot, window, ["context-encoder", "patch"])
    _click_panel(qtbot, window, "patch")
    qtbot.mouseClick(window.results.apply_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == 0 and not window.results.apply_button.isEnabled()
    assert "undo" in window.results.hint.text().lower()

    window.undo_action.trigger()
    assert window.tabs.currentIndex() == 1, "undo shows the comparison again"
    assert np.array_equal(np.asarray(window.document.image), original)
    assert all(window.results.panel(k).has_result() for k in ("context-encoder", "patch"))
    assert window.results.apply_button.isEnabled()
    _click_panel(qtbot, window, "context-encoder")
    qtbot.mouseClick(window.results.apply_button, Qt.MouseButton.LeftButton)
    assert np.array_equal(np.asarray(window.document.image), np.asarray(window.fill_results["context-encoder"].image))
    assert window.undo_stack.count() == 2, "the stroke and the second Apply: the first Apply was undone"


# ---------------------------------------------------------------------------- 2. the zoom read-out
def test_the_status_bar_zoom_is_the_zoom_of_the_view_shown(qtbot, app_settings, dialogs, tiny_model_path,
                                                           photo_path):
    from contextfill.app.gui import create_window

    app_settings.set(S.MODEL_PATH, str(tiny_model_path))
    window = create_window(app_settings, str(photo_path))
    qtbot.addWidget(window)
    assert finished(qtbot, window, True)
    window.show()
    qtbot.waitExposed(window)
    shown = lambda view: f"{view.zoom():.0%}"  # noqa: E731
    qtbot.waitUntil(lambda: window.zoom_label.text() == shown(window.canvas))
    window.resize(window.width() - 300, window.height() - 200)  # the canvas refits quietly
    qtbot.waitUntil(lambda: window.zoom_label.text() == shown(window.canvas))

    _paint_hole(qtbot, window)
    _fill(qtbot, window, ["patch"])
    panel = window.results.panel("patch").view
    window.zoom_in_action.trigger()
    assert window.zoom_label.text() == shown(panel) != shown(window.canvas)
    window.tabs.setCurrentIndex(0)
    assert window.zoom_label.text() == shown(window.canvas)
    window.runner.wait(30_000)


# ---------------------------------------------------------------------------- 3. batch defaults
def test_batch_defaults_to_a_masks_folder_and_the_best_method_and_shows_whole_lines(qtbot, app_settings, photo_dir,
                                                                                  tmp_path, tiny_model_path):
    app_settings.set(S.MODEL_PATH, str(tiny_model_path))
    app_settings.set(S.DEVICE, "cpu")
    dialog = BatchDialog(app_settings, ModelCache())
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.mask_kind.currentData() == "folder" and dialog.method.currentData() == BEST
    assert "beach.jpg uses beach.png" in dialog.mask_hint.text()

    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(3):  # p3 has no mask
        hole = np.zeros((72, 80 + 8 * i), np.uint8)
        hole[26:46, 30:50] = 255
        Image.fromarray(hole).save(masks / f"p{i}.png")
    dialog.input_edit.setText(str(photo_dir))
    dialog.mask_edit.setText(str(masks))
    dialog.method.setCurrentIndex(dialog.method.findData("patch"))
    dialog.resize(420, dialog.height())
    with qtbot.waitSignal(dialog.finished_batch, timeout=60_000):
        assert dialog.start()
    lines = [dialog.log.item(i) for i in range(dialog.log.count())]
    assert [item.text().split()[0] for item in lines] == ["ok", "ok", "ok", "FAIL"]
    fail = lines[-1]
    assert "no mask named p3" in fail.text()
    rect = dialog.log.visualItemRect(fail)
    assert dialog.log.fontMetrics().horizontalAdvance(fail.text()) > dialog.log.viewport().width()
    assert rect.right() <= dialog.log.viewport().width() and rect.height() > dialog.log.fontMetrics().height()
    reopened = BatchDialog(app_settings, ModelCache())
    qtbot.addWidget(reopened)
    assert reopened.method.currentData() == "patch", "the batch's own choices are remembered"


# ---------------------------------------------------------------------------- 4. files
def test_save_as_starts_beside_the_photo_never_in_the_app_folder(qtbot, app_settings, dialogs, photo_path,
                                                                 monkeypatch):
    from contextfill.app.gui import create_window

    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda parent, caption, start, *a, **k: (asked.append(Path(start)), ("", ""))[1]))
    window = create_window(app_settings, None)  # the bundled sample
    qtbot.addWidget(window)
    assert finished(qtbot, window, True)
    window.save_as_action.trigger()
    assert not is_bundled(asked[0]) and not asked[0].parent.is_relative_to(resources_dir())
    assert window.settings.get(S.RECENT) == [], "the sample is not a recent file of the user's"

    assert finished(qtbot, window, window.open_path(photo_path))
    window.save_as_action.trigger()
    assert asked[1] == photo_path.with_name("photo-filled.png")
    window.runner.wait(30_000)


def test_open_filter_leads_with_photo_formats(qtbot, window, monkeypatch):
    filters = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda parent, caption, start, filt, *a, **k: (filters.append(filt), ("", ""))[1]))
    window.open_action.trigger()
    first = filters[0].split(";;")[0]
    assert first.startswith("Photos (*.jpg *.jpeg *.png") and "*.bufr" not in first


def test_saved_files_join_open_recent_and_keep_the_dpi(qtbot, window, tmp_path):
    source = tmp_path / "scan.jpg"
    Image.new("RGB", (60, 40), (90, 120, 30)).save(source, dpi=(300, 300))
    assert finished(qtbot, window, window.open_path(source))
    for name in ("scan-filled.jpg", "scan-filled.png", "scan-filled.tif"):
        assert finished(qtbot, window, window.save_as(tmp_path / name))
        with Image.open(tmp_path / name) as saved:
            assert saved.info["dpi"] == pytest.approx((300, 300), abs=0.01), name
    window.recent_menu.aboutToShow.emit()
    recent = window.recent_menu.actions()
    assert [a.text() for a in recent][:2] == ["scan-filled.tif", "scan-filled.png"]
    with qtbot.waitSignal(window.files.finished):
        recent[1].trigger()
    assert window.document.path == tmp_path / "scan-filled.png"


def test_quitting_with_an_unsaved_fill_offers_save_and_closes_once_saved(qtbot, window, dialogs, tmp_path,
                                                                        monkeypatch):
    target = tmp_path / "kept.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    _paint_hole(qtbot, window)
    _fill(qtbot, window, ["patch"])
    qtbot.mouseClick(window.results.apply_button, Qt.MouseButton.LeftButton)
    applied = np.asarray(window.document.image).copy()

    dialogs.save_changes = QMessageBox.StandardButton.Cancel
    assert not window.close() and window.isVisible()
    dialogs.save_changes = QMessageBox.StandardButton.Save
    with qtbot.waitSignal(window.files.finished):
        assert not window.close(), "the window waits for the save"
    qtbot.waitUntil(lambda: not window.isVisible())  # once the file worker is idle
    assert dialogs.save_changes_asked == ["photo.png", "photo.png"]
    assert np.array_equal(np.asarray(Image.open(target)), applied)


def test_opening_another_photo_with_an_unsaved_fill_asks_first(qtbot, window, dialogs, tmp_path, photo_path):
    """Open (and paste, drop, Recent, which all end in the same slot) used to drop an applied, unsaved fill at once,
    with Undo greyed out. Cancel keeps the photo and its undo history; Discard opens the other one."""
    other = tmp_path / "other.png"
    Image.open(photo_path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(other)
    _paint_hole(qtbot, window)
    _fill(qtbot, window, ["patch"])
    qtbot.mouseClick(window.results.apply_button, Qt.MouseButton.LeftButton)
    applied = np.asarray(window.document.image).copy()

    dialogs.save_changes = QMessageBox.StandardButton.Cancel
    with qtbot.waitSignal(window.files.finished):
        window.open_path(other)
    assert dialogs.save_changes_asked == ["photo.png"]
    assert window.document.path == photo_path and np.array_equal(np.asarray(window.document.image), applied)
    assert window.undo_stack.canUndo() and "other.png was not opened" in window.statusBar().currentMessage()

    dialogs.save_changes = QMessageBox.StandardButton.Discard
    with qtbot.waitSignal(window.files.finished):
        window.open_path(other)
    assert window.document.path == other and not window.undo_stack.canUndo()


# ---------------------------------------------------------------------------- 5. what the status says
def test_a_cancelled_fill_says_so(qtbot, window, monkeypatch):
    import contextfill.model.pipeline
    from contextfill import model
    from contextfill.model.errors import Cancelled

    def slow(image, mask, *, cancel, progress, **kwargs):
        while not cancel():
            progress(0.5)
            threading.Event().wait(0.005)
        raise Cancelled()

    monkeypatch.setattr(model.pipeline, "inpaint", slow)
    _paint_hole(qtbot, window)
    window.fill_panel.checks["context-encoder"].setChecked(False)
    with qtbot.waitSignal(window.fillFinished, timeout=20_000):
        window.fill_action.trigger()
        qtbot.waitUntil(lambda: window.fill_panel.bars["patch"].value() > 0, timeout=10_000)
        window.cancel_action.trigger()
    assert window.statusBar().currentMessage() == "Fill cancelled."


def test_a_settings_change_clears_stale_timings_and_keeps_the_model_line(qtbot, window):
    with qtbot.waitSignal(window.modelLoaded, timeout=30_000):
        window.preload_model()
    model_line = window.fill_panel.model_label.text()
    assert "M parameters" in model_line
    _paint_hole(qtbot, window)
    _fill(qtbot, window, ["patch"])
    assert window.fill_panel.statuses["patch"].text().endswith(" s")

    def change_patch_size() -> None:
        dialog = QApplication.activeModalWidget()
        dialog.patch_size.setValue(dialog.patch_size.value() + 2)
        dialog.accept()

    QTimer.singleShot(0, change_patch_size)
    window.settings_action.trigger()
    assert window.fill_panel.statuses["patch"].text() == ""
    assert window.fill_panel.model_label.text() == model_line


def test_holding_backslash_says_the_before_image_is_shown(qtbot, window):
    _paint_hole(qtbot, window)
    _fill(qtbot, window, ["patch"])
    panel = window.results.panel("patch")
    assert not panel.before_badge.isVisible()
    qtbot.keyPress(panel.view, Qt.Key.Key_Backslash)
    assert panel.before_badge.isVisible() and "Before" in panel.before_badge.text()
    assert not window.results.panel(ORIGINAL).before_badge.isVisible()
    qtbot.keyRelease(panel.view, Qt.Key.Key_Backslash)
    assert not panel.before_badge.isVisible()


# ---------------------------------------------------------------------------- 6. settings and help
def test_every_setting_explains_itself_and_the_model_field_is_not_cut(qtbot, app_settings):
    dialog = SettingsDialog(app_settings, {"auto": "Automatic (CPU)", "cpu": "CPU"})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    fields = [w for w in dialog.findChildren(QWidget) if isinstance(w, (QComboBox, QSpinBox, QCheckBox, QLineEdit))
              and not isinstance(w.parent(), (QComboBox, QSpinBox))]  # not the spin boxes' own line edits
    assert len(fields) == 10 and all(f.toolTip() for f in fields), [f for f in fields if not f.toolTip()]
    edit = dialog.model_edit
    assert edit.width() >= edit.fontMetrics().horizontalAdvance(edit.placeholderText())


def test_help_lists_the_keyboard_shortcuts(qtbot, window):
    help_menu = window.menuBar().actions()[-1].menu()
    action = next(a for a in help_menu.actions() if a.text() == "&Keyboard shortcuts")
    action.trigger()
    dialog = window.findChild(ShortcutsDialog)
    assert dialog.isVisible()
    table = dialog.table
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["Fill"].startswith("Ctrl+Return") and rows["Brush"] == "B" and rows["Undo"] == "Ctrl+Z"
    assert "Before/after in Compare" in rows
    dialog.close()


# ---------------------------------------------------------------------------- 7. a file that cannot open
def test_an_empty_file_is_named_as_such_and_the_photo_on_screen_stays(qtbot, window, dialogs, tmp_path,
                                                                      monkeypatch):
    empty = tmp_path / "empty.jpg"
    empty.touch()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(empty), "")))
    with qtbot.waitSignal(window.files.finished):
        window.open_action.trigger()
    assert dialogs.errors == [("Cannot open image", "empty.jpg: the file is empty")]
    assert window.document.path.name == "photo.png" and window.windowTitle().startswith("photo.png")


# ---------------------------------------------------------------------------- make run without Qt's X11 libraries
ICCCM_KEYSYMS = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}


@pytest.mark.parametrize(("platform", "qpa", "missing", "bundled", "hint"), [
    ("linux", None, ICCCM_KEYSYMS, False, True), ("linux", "xcb", ICCCM_KEYSYMS, False, True),
    ("linux", "offscreen", ICCCM_KEYSYMS, False, False), ("linux", None, set(), False, False),
    ("linux", None, ICCCM_KEYSYMS, True, False), ("darwin", None, ICCCM_KEYSYMS, False, False),
])
def test_every_missing_x11_library_is_named_in_one_line_and_the_app_stops_there(monkeypatch, capsys, tmp_path,
                                                                                platform, qpa, missing, bundled, hint):
    """As a new user met it: libxcb-cursor0 installed, libxcb-icccm4 and libxcb-keysyms1 not."""
    import ctypes

    import contextfill.app.gui

    from contextfill import app
    from contextfill.app.entry import main

    if bundled:
        for name in missing:
            (tmp_path / name).touch()
        monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    if qpa is None:
        monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    else:
        monkeypatch.setenv("QT_QPA_PLATFORM", qpa)

    def load(name, *args, **kwargs):
        if name in missing:
            raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", load)
    started = []
    monkeypatch.setattr(app.gui, "run_gui", lambda argv: started.append(argv) or 0)  # the check runs before Qt
    code = main(["contextfill"])
    err = capsys.readouterr().err
    if hint:
        assert code == 1 and started == [] and err.count("\n") == 1
        assert "sudo apt install libxcb-icccm4 libxcb-keysyms1`" in err
        assert "sudo dnf install xcb-util-wm xcb-util-keysyms`" in err
    else:
        assert code == 0 and started and err == ""


def test_the_library_table_is_what_qts_x11_plugin_links():
    """The check, the hint, the README and the bundle all follow XCB_LIBRARIES: it must list every X11 library the
    installed Qt's xcb plugin needs."""
    import subprocess

    import PySide6

    from contextfill.app.entry import XCB_LIBRARIES

    qt = Path(PySide6.__file__).parent / "Qt"
    needed = set()
    for binary in (qt / "plugins/platforms/libqxcb.so", qt / "lib/libQt6XcbQpa.so.6"):
        dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
        needed |= {line.split("[")[1].rstrip("]") for line in dynamic.splitlines() if "(NEEDED)" in line}
    x11 = {name for name in needed if name.startswith(("libxcb", "libX11", "libxkbcommon"))}
    assert x11 == set(XCB_LIBRARIES)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert all(apt in readme for apt, _, bundled in XCB_LIBRARIES.values() if bundled)


def test_logs_go_to_the_state_folder_with_the_apps_name_once(qtbot):
    from PySide6.QtCore import QStandardPaths

    from contextfill.app.paths import log_dir

    state = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericStateLocation))
    assert log_dir() == state / "ContextFill" / "logs"  # was state/ContextFill/ContextFill/logs
    assert log_dir().is_dir()
