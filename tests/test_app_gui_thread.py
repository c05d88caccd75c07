"""The GUI thread only paints (issue 19): mask operations, the Compare view's mask, paste, the devices Settings
names, the wizard's preview and log, and closing all leave their work to workers, driven through the real window.

`ASYNC_PIXELS` is set to 0 where a test needs the worker path that a 50 MP photo takes, on the small test photo.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from app_fixtures import app_settings, dialogs, drag, finished, photo_path, window  # noqa: F401
from PIL import Image
from PySide6.QtCore import QByteArray, QMimeData
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialog

from contextfill.app import mask as mask_module
from contextfill.app.mask_ops import grow
from contextfill.app.results import ORIGINAL
from contextfill.app.tools import Tool
from contextfill.app.zoomview import ImageItem


def _rectangle(qtbot, window, box=(60, 40, 100, 80)) -> np.ndarray:
    window.set_tool(Tool.RECT)
    drag(qtbot, window.canvas, [box[:2], box[2:]])
    qtbot.waitUntil(lambda: not window.layer.is_busy())
    return window.layer.array()


def test_mask_operations_run_on_the_worker_and_undo_in_order(qtbot, window, monkeypatch):
    monkeypatch.setattr(mask_module, "ASYNC_PIXELS", 0)
    painted = _rectangle(qtbot, window)
    assert painted[50, 80] and window.undo_stack.count() == 1, "the rectangle is written by the worker, one step"

    window.grow_spin.setValue(4)
    window.grow_action.trigger()
    assert window.layer.is_busy() and not window.undo_action.isEnabled(), "grow runs on the worker; undo waits"
    window.invert_action.trigger()  # refused while the mask is being written: its bounds are not final
    assert "still being updated" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window.layer.is_busy())
    assert np.array_equal(window.layer.array(), grow(painted, 4)) and window.undo_action.isEnabled()

    window.invert_action.trigger()
    qtbot.waitUntil(lambda: not window.layer.is_busy())
    assert np.array_equal(window.layer.array(), ~grow(painted, 4)) and window.undo_stack.count() == 3
    for _ in range(2):
        window.undo_action.trigger()
        qtbot.waitUntil(lambda: not window.layer.is_busy())
    assert np.array_equal(window.layer.array(), painted)
    assert window.layer.bounds() is not None and not window.layer.is_empty()


def test_the_compare_original_shows_the_mask_composed_on_the_worker(qtbot, window):
    hole = _rectangle(qtbot, window)
    window.fill_panel.checks["context-encoder"].setChecked(False)
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
    original = window.results.panel(ORIGINAL)
    overlays = [item for item in original.item.childItems() if isinstance(item, ImageItem)]
    assert len(overlays) == 1 and "with mask" in original.info.text()
    overlay = overlays[0]
    x0, y0 = int(overlay.pos().x()), int(overlay.pos().y())
    alpha = np.frombuffer(overlay.image.constBits(), np.uint32).reshape(overlay.image.height(), -1) >> 24
    shown = np.zeros_like(hole)
    shown[y0:y0 + alpha.shape[0], x0:x0 + overlay.image.width()] = alpha[:, :overlay.image.width()] == 255
    assert np.array_equal(shown, hole), "the overlay is the hole that was filled, where it was"


def test_paste_from_another_program_is_decoded_on_the_worker(qtbot, window):
    pixels = (np.random.default_rng(3).random((50, 70, 3)) * 255).astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(pixels).save(encoded, format="PNG")
    decoded_on: list[threading.Thread] = []

    class ForeignClipboard(QMimeData):
        """Another program's PNG as Qt offers it on X11: asking for a QImage decodes it on the caller's thread."""

        def formats(self):
            return ["image/png", "application/x-qt-image"]

        def hasFormat(self, kind):
            return kind in self.formats()

        def retrieveData(self, kind, preferred):
            if kind == "application/x-qt-image":
                decoded_on.append(threading.current_thread())
            return QByteArray(encoded.getvalue()) if kind == "image/png" else None

    assert finished(qtbot, window, window._open_mime(ForeignClipboard()))
    assert np.array_equal(np.asarray(window.document.image), pixels) and window.document.path is None
    assert decoded_on == [], "the GUI thread never asked Qt to decode the image"


def test_settings_names_the_devices_found_by_the_worker_at_start(qtbot, window, monkeypatch):
    from contextfill.app import main_window as main_module
    from contextfill.app.main_window import MainWindow

    probed_on: list[threading.Thread] = []

    def choices():
        probed_on.append(threading.current_thread())
        return {"auto": "Automatic (Probe)", "cpu": "CPU", "cuda": "CUDA (not available)", "mps": "MPS (not available)"}

    monkeypatch.setattr(main_module, "device_choices", choices)
    other = MainWindow(window.settings)
    qtbot.addWidget(other)
    qtbot.waitUntil(lambda: not other.runner.is_busy())
    assert len(probed_on) == 1 and probed_on[0] is not threading.main_thread()
    shown: list[str] = []
    monkeypatch.setattr(main_module.SettingsDialog, "exec",
                        lambda dialog: shown.append(dialog.device.itemText(0)) or QDialog.DialogCode.Rejected)
    other.open_settings()
    assert shown == ["Automatic (Probe)"] and len(probed_on) == 1, "opening Settings probes nothing itself"


def test_closing_while_saving_keeps_the_window_responsive_and_finishes_the_save(qtbot, window, tmp_path):
    target = tmp_path / "closing.tif"
    window.save_as(target)
    window.close()
    assert window.isVisible() and not window.isEnabled() and "Closing" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    with Image.open(target) as saved:
        assert saved.size == window.document.image.size


def test_a_photo_over_the_size_limit_names_the_setting_that_raises_it(qtbot, app_settings, dialogs, tmp_path):
    from contextfill.app import settings as S
    from contextfill.app.dialogs import SettingsDialog
    from contextfill.app.main_window import MainWindow

    big = tmp_path / "big.png"
    Image.new("RGB", (1500, 1000)).save(big)  # 1.5 MP
    app_settings.set(S.MAX_MEGAPIXELS, 1)
    window = MainWindow(app_settings)
    qtbot.addWidget(window)
    assert not finished(qtbot, window, window.open_path(big))
    (title, message), = dialogs.errors
    assert message == "big.png: 1500x1000 is 2 MP, over the 1 MP limit; raise Largest photo in Settings to open it"
    settings = SettingsDialog(app_settings, {"auto": "Automatic", "cpu": "CPU"}, window)
    settings.max_megapixels.setValue(2)
    settings.accept()
    window.apply_settings(window.fill_options())
    assert finished(qtbot, window, window.open_path(big)) and window.document.image.size == (1500, 1000)


def test_opening_another_photo_frees_the_last_ones_masks_and_their_history_on_a_worker(qtbot, window, photo_path):
    """A mask layer is 200 MB at 50 MP, and an operation on the whole mask keeps 50 MB before and after for its undo
    step: freeing them took 27 ms of the GUI thread each."""
    import weakref

    from shiboken6 import Shiboken

    _rectangle(qtbot, window)
    old = (window.layer, window.sampling_layer)
    freed = []
    for pixels in (window.layer._pixels, window.sampling_layer._pixels, window.undo_stack.command(0)._after):
        weakref.finalize(pixels, lambda: freed.append(threading.current_thread()))
    del pixels
    assert finished(qtbot, window, window.open_path(photo_path))
    qtbot.waitUntil(lambda: not any(Shiboken.isValid(layer) for layer in old))
    assert window.layer is not old[0] and Shiboken.isValid(window.layer)
    qtbot.waitUntil(lambda: len(freed) == 3)
    assert threading.main_thread() not in freed, "the masks and the undo step's were freed on a worker"


def test_views_draw_a_large_photo_from_its_smallest_reduced_copy_as_large_as_shown(qtbot, window, photo_path,
                                                                                    monkeypatch):
    """A smooth draw costs by how far it shrinks its source: each view draws from the smallest copy that is at least
    as large as it shows the photo (a 2048 px copy in a Compare panel cost 3.3 ms a repaint, a 1024 px one 0.9 ms)."""
    from contextfill.app import qtimage

    monkeypatch.setattr(qtimage, "REDUCED_SIDE", 80)  # the 160x120 test photo counts as large
    assert finished(qtbot, window, window.open_path(photo_path))
    item = window.canvas.image_item
    assert [(copy.width(), copy.height()) for copy in item.small] == [(80, 60), (40, 30), (20, 15)]
    assert item.copy_for(1.0) is None and item.copy_for(0.45) is item.small[0]
    assert item.copy_for(0.2) is item.small[1] and item.copy_for(0.1) is item.small[2]
    window.canvas.set_zoom(0.45)  # the photo is 72 px wide on screen: drawn from the 80 px copy

    def shot() -> np.ndarray:
        window.canvas.viewport().repaint()
        image = window.canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        return np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())[:, :image.width() * 3].astype(int)

    from_small = shot()
    small, item.small = item.small, ()
    from_full = shot()
    item.small = small
    assert np.abs(from_small - from_full).mean() < 3, "the reduced copy looks like the photo"
    hole = _rectangle(qtbot, window)
    window.fill_panel.checks["context-encoder"].setChecked(False)
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
    panel = window.results.panel("patch")
    assert panel.item.small and window.results.panel(ORIGINAL).item.small
    window.apply_result("patch")
    assert window.document.reduced and hole.any()


def test_opening_another_photo_frees_the_last_ones_pixels_on_a_worker(qtbot, window, photo_path, tmp_path):
    """Freeing a 50 MP photo's pixels took 27 ms for its Pillow image and 27 ms for its QImage: the GUI thread lets go
    of them, and the file worker frees them."""
    import weakref

    assert finished(qtbot, window, window.open_path(photo_path))
    freed = []
    weakref.finalize(window.document.image, lambda: freed.append(threading.current_thread()))
    second = tmp_path / "second.png"
    Image.new("RGB", (120, 90), "teal").save(second)
    assert finished(qtbot, window, window.open_path(second))
    qtbot.waitUntil(lambda: bool(freed))
    assert freed[0] is not threading.main_thread(), "the last photo's pixels were freed on a worker"


def test_opening_another_photo_frees_the_photos_its_undo_history_kept_on_a_worker(qtbot, window, dialogs, photo_path,
                                                                                   tmp_path):
    """Each applied fill's undo step keeps the photo before it (and after): clearing the history on opening another
    photo freed them on the GUI thread, 27 ms each for a 50 MP Pillow image and as much for its QImage; and the fill's
    finished task kept the photo alive for good (workers.Task)."""
    import weakref

    from PySide6.QtWidgets import QMessageBox

    assert finished(qtbot, window, window.open_path(photo_path))
    before = window.document.image
    _rectangle(qtbot, window)
    window.fill_panel.checks["context-encoder"].setChecked(False)
    with qtbot.waitSignal(window.fillFinished, timeout=60_000):
        assert window.start_fill()
    window.apply_result("patch")
    assert window.document.image is not before and window.undo_stack.canUndo()
    freed = []
    weakref.finalize(before, lambda: freed.append(threading.current_thread()))
    del before  # the undo step holds the photo before the fill now, and nothing else
    dialogs.save_changes = QMessageBox.StandardButton.Discard
    second = tmp_path / "second.png"
    Image.new("RGB", (120, 90), "teal").save(second)
    assert finished(qtbot, window, window.open_path(second))
    qtbot.waitUntil(lambda: bool(freed))
    assert freed[0] is not threading.main_thread(), "the photo the undo step kept was freed on a worker"



def test_large_photos_are_allocated_in_blocks_glibc_always_maps_fresh():
    """Pillow's 16 MB blocks came from glibc's heap once one had been freed (its mmap threshold rises to 32 MB), where
    calloc zeroes them with the GIL held: a 50 MP decode on the file worker stalled the GUI thread 40-150 ms."""
    from contextfill.app import document  # noqa: F401  (sets the block size)

    assert Image.core.get_block_size() > 32 << 20
