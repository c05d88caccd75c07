"""Opening, saving and overwrite protection, settings persistence, and the entry point's routing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from app_fixtures import app_settings, dialogs, drag, finished, photo_path, window  # noqa: F401
from conftest import make_photo
from PIL import Image
from PySide6.QtCore import QMimeData, QRect, QUrl
from PySide6.QtGui import QGuiApplication, QImage
from test_batch_robust import png16

from contextfill.app import settings as S
from contextfill.app.dialogs import SettingsDialog, about_text
from contextfill.app.gui import create_window, parse_args
from contextfill.app.paths import sample_image

ROOT = Path(__file__).resolve().parent.parent


def test_save_as_png_reads_back_and_never_replaces_silently(qtbot, window, dialogs, photo_path):
    original_bytes = photo_path.read_bytes()
    proposed = window.document.proposed_save_path()
    assert proposed == photo_path.with_name("photo-filled.png")
    assert finished(qtbot, window, window.save_as(proposed))
    assert np.array_equal(np.asarray(Image.open(proposed)), np.asarray(window.document.image))

    # Saving over the opened original asks; answering Cancel leaves the file untouched.
    dialogs.overwrite = False
    assert not window.save_as(photo_path)
    assert dialogs.overwrite_asked == [photo_path]
    assert photo_path.read_bytes() == original_bytes
    # The next proposal skips the name already taken.
    window.document.saved_path = None
    assert window.document.proposed_save_path().name == "photo-filled-2.png"


def test_save_asks_before_replacing_and_replaces_when_confirmed(qtbot, window, dialogs, tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    dialogs.overwrite = True
    assert finished(qtbot, window, window.save_as(target))
    assert dialogs.overwrite_asked == [target]
    assert Image.open(target).size == (160, 120)
    assert not list(tmp_path.glob(".out-*")), "no temporary file left behind"


def test_a_file_that_appears_while_saving_is_kept_and_the_photo_takes_the_next_name(qtbot, window, dialogs,
                                                                                     tmp_path, monkeypatch):
    """Save As checks the name when it is chosen; a file that another program writes there before the save is
    published is never replaced: the photo takes out-2.png, and the status bar says so."""
    import contextfill.app.file_controller as files

    target = tmp_path / "out.png"
    real = files.save_image

    def someone_else_writes_first(image, path, **params):
        target.write_bytes(b"another program's file")
        return real(image, path, **params)

    monkeypatch.setattr(files, "save_image", someone_else_writes_first)
    assert finished(qtbot, window, window.save_as(target))
    assert dialogs.overwrite_asked == [] and target.read_bytes() == b"another program's file"
    saved = tmp_path / "out-2.png"
    assert np.array_equal(np.asarray(Image.open(saved)), np.asarray(window.document.image))
    assert window.document.saved_path == saved
    message = window.statusBar().currentMessage()
    assert message.startswith(f"Saved {saved}") and "out.png appeared meanwhile" in message


def test_saving_a_transparent_photo_as_jpeg_says_the_transparency_is_dropped(qtbot, window, tmp_path):
    cutout = Image.open(window.document.path).convert("RGBA")
    cutout.putalpha(128)
    cutout.save(tmp_path / "cutout.png")
    assert finished(qtbot, window, window.open_path(tmp_path / "cutout.png"))
    assert finished(qtbot, window, window.save_as(tmp_path / "cutout.jpg"))
    assert "JPEG keeps no transparency" in window.statusBar().currentMessage()
    assert finished(qtbot, window, window.save_as(tmp_path / "cutout-kept.png"))
    assert "transparency" not in window.statusBar().currentMessage()


def test_a_16_bit_photo_says_on_opening_that_it_is_edited_in_8_bits(qtbot, window, tmp_path):
    deep = png16(tmp_path / "deep.png", np.asarray(make_photo(96, 64), np.uint16) * 257)
    assert finished(qtbot, window, window.open_path(deep))
    assert "reduced 16-bit colour to 8 bits per channel" in window.statusBar().currentMessage()


def test_jpeg_keeps_exif_and_icc_and_orientation_is_applied(qtbot, app_settings, dialogs, tmp_path):
    from contextfill.app.main_window import MainWindow

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    exif[0x010F] = "TestCam"
    src = tmp_path / "rotated.jpg"
    Image.new("RGB", (80, 40), (200, 30, 30)).save(src, exif=exif, icc_profile=b"\0" * 8 + b"fake")
    win = MainWindow(app_settings)
    qtbot.addWidget(win)
    assert finished(qtbot, win, win.open_path(src))
    assert win.document.image.size == (40, 80), "EXIF orientation applied on open"
    app_settings.set(S.JPEG_QUALITY, 80)
    out = tmp_path / "saved.jpg"
    assert finished(qtbot, win, win.save_as(out))
    with Image.open(out) as saved:
        assert saved.size == (40, 80)
        assert saved.getexif().get(0x010F) == "TestCam"
        assert saved.getexif().get(0x0112, 1) == 1, "orientation not applied twice"
        assert saved.info.get("icc_profile") == b"\0" * 8 + b"fake"
    for suffix in (".webp", ".tif"):
        assert finished(qtbot, win, win.save_as(tmp_path / f"saved{suffix}"))
        assert Image.open(tmp_path / f"saved{suffix}").size == (40, 80)


def test_unknown_suffix_and_unreadable_files_give_clear_dialogs(qtbot, window, dialogs, tmp_path):
    assert window.save_as(tmp_path / "out.xyz") is None
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    assert not finished(qtbot, window, window.open_path(bad))
    assert not finished(qtbot, window, window.open_path(tmp_path / "missing.png"))
    titles = [t for t, _ in dialogs.errors]
    assert titles == ["Cannot save", "Cannot open image", "Cannot open image"]
    assert "broken.png" in dialogs.errors[1][1] and "not found" in dialogs.errors[2][1]
    assert window.document.path.name == "photo.png", "the open document is kept"


def test_recent_files_drop_and_paste(qtbot, window, dialogs, photo_path, tmp_path):
    other = tmp_path / "other.png"
    Image.new("L", (30, 20), 128).save(other)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(other))])
    QGuiApplication.clipboard().setMimeData(data)
    with qtbot.waitSignal(window.files.finished):
        window.paste_action.trigger()
    assert window.document.path == other and window.document.image.mode == "L"
    assert window.settings.get(S.RECENT)[:2] == [str(other.resolve()), str(photo_path.resolve())]
    window._fill_recent_menu()
    assert [a.text() for a in window.recent_menu.actions()][:2] == ["other.png", "photo.png"]

    image = QImage(50, 40, QImage.Format.Format_RGB32)
    image.fill(0xFF336699)
    QGuiApplication.clipboard().setImage(image)
    assert finished(qtbot, window, window.paste())
    assert window.document.path is None and window.document.image.size == (50, 40)
    assert window.document.proposed_save_path().name == "untitled-filled.png"


def test_settings_dialog_persists_and_restores_defaults(qtbot, app_settings):
    dialog = SettingsDialog(app_settings, {"auto": "Automatic (CPU)", "cpu": "CPU"})
    qtbot.addWidget(dialog)
    dialog.patch_size.setValue(11)
    dialog.quality.setCurrentIndex(dialog.quality.findData("best"))
    dialog.seed.setValue(42)
    dialog.accept()
    reread = S.Settings()
    assert (reread.get(S.PATCH_SIZE), reread.get(S.QUALITY), reread.get(S.SEED)) == (11, "best", 42)
    dialog.restore_defaults()
    assert dialog.patch_size.value() == S.PATCH_SIZE.default and dialog.quality.currentData() == "fast"


def test_settings_version_mismatch_resets_to_defaults(app_settings):
    app_settings.set(S.SEED, 7)
    app_settings._q.setValue("version", 0)
    assert S.Settings().get(S.SEED) == 0


def test_window_opens_on_the_sample_and_about_names_versions(qtbot, app_settings, dialogs):
    window = create_window(app_settings, None)
    qtbot.addWidget(window)
    assert finished(qtbot, window, True)
    assert window.document.path == sample_image() and sample_image().stat().st_size < 1_000_000
    text = about_text("CPU")
    assert "PyTorch" in text and "Qt" in text and "CPU" in text
    window.runner.wait(30_000)


def test_command_line_image_and_a_bad_path_is_reported_not_replaced_by_the_sample(qtbot, app_settings, dialogs,
                                                                                  photo_path):
    assert parse_args([str(photo_path)]).image == str(photo_path)
    window = create_window(app_settings, str(photo_path.with_name("nope.png")))
    qtbot.addWidget(window)
    assert not finished(qtbot, window, True)
    assert window.document is None and "not found" in dialogs.errors[0][1]
    window.runner.wait(30_000)


@pytest.mark.parametrize("argv", [["contextfill", "batch", "--help"]])
def test_engine_subcommands_never_import_qt(argv):
    code = (
        "import sys; from app.entry import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'PySide6' not in sys.modules, 'engine subcommand imported Qt'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "usage" in proc.stdout.lower()


def test_dropping_a_file_opens_it(qtbot, window, tmp_path):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDropEvent

    dropped = tmp_path / "dropped.jpg"
    Image.new("RGB", (64, 48), (10, 200, 10)).save(dropped)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.files.finished):
        window.dropEvent(event)  # Qt delivers a Drop only inside a real drag session, so call the handler
    assert event.isAccepted()
    assert window.document.path == dropped and window.document.image.size == (64, 48)
    assert window.windowTitle().startswith("dropped.jpg")


def test_a_tiff_saved_from_the_app_round_trips_pixels_compression_and_metadata(qtbot, window, tmp_path):
    """The app encodes TIFF in a child process (libtiff keeps the GIL): the file is the one an in-process save
    writes, byte for byte, with the pixels, the deflate compression, the DPI and the ICC profile."""
    from contextfill.model.imageio import save_image

    rng = np.random.default_rng(1)
    source = tmp_path / "scan.tif"
    Image.fromarray(rng.integers(0, 256, (97, 131, 3), dtype=np.uint8), "RGB").save(
        source, compression="tiff_lzw", dpi=(300, 300), icc_profile=b"\0" * 8 + b"fake")
    assert finished(qtbot, window, window.open_path(source))
    out = tmp_path / "scan-filled.tif"
    assert finished(qtbot, window, window.save_as(out))
    with Image.open(out) as saved:
        assert np.array_equal(np.asarray(saved), np.asarray(window.document.image))
        assert saved.info["compression"] == "tiff_adobe_deflate"
        assert saved.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        assert saved.info["icc_profile"] == b"\0" * 8 + b"fake"
    in_process = save_image(window.document.image, tmp_path / "in-process.tif",
                            **window.document.save_params(out, 95))
    assert out.read_bytes() == in_process.read_bytes()
    assert not list(tmp_path.glob(".*")), "no temporary file left behind"


def test_a_tiff_the_encoder_refuses_is_reported_and_nothing_is_written(tmp_path):
    from contextfill.model.imageio import save_image

    with pytest.raises(OSError, match="encoder error"):
        save_image(Image.new("RGB", (10, 10)), tmp_path / "fax.tif", apart=True, compression="group4")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_the_canvas_shows_the_opened_pixels_and_empty_masks(qtbot, window, tmp_path, mode):
    """The canvas draws the worker's QImage as it is (no conversion on the GUI thread): same pixels, any mode."""
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (45, 67, len(mode)), dtype=np.uint8)
    if mode == "RGBA":
        pixels[..., 3] = 255
        pixels[:5, :5, 3] = 0
    source = tmp_path / f"photo-{mode}.png"
    Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode).save(source)
    assert finished(qtbot, window, window.open_path(source))
    shown = window.canvas.image_item.pixmap().toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    rgba = np.frombuffer(shown.constBits(), np.uint8).reshape(45, shown.bytesPerLine())[:, :67 * 4].reshape(45, 67, 4)
    expected = np.asarray(window.document.image.convert("RGBA"))
    opaque = expected[..., 3] == 255
    assert np.array_equal(rgba[opaque], expected[opaque])
    assert np.array_equal(rgba[..., 3], expected[..., 3])
    assert not window.layer.array().any() and not window.sampling_layer.array().any()
    window.layer.paint_rect(QRect(3, 4, 10, 6))
    assert window.layer.array().sum() == 60 and not window.sampling_layer.array().any()


def test_save_as_proposes_the_photos_format_with_its_filter_and_keeps_its_jpeg_quality(qtbot, window, tmp_path,
                                                                                      monkeypatch):
    """As a new user met it: a quality-100 JPEG was proposed as -filled.jpg under the PNG filter and written at 92."""
    from PySide6.QtWidgets import QFileDialog

    from contextfill.model.encoding import jpeg_quality

    source = tmp_path / "holiday.jpg"
    Image.open(window.document.path).save(source, quality=100)
    assert finished(qtbot, window, window.open_path(source))
    asked = []

    def save_dialog(parent, caption, start, filters, selected, *args):
        asked.append((Path(start).name, selected))
        return str(tmp_path / "holiday-filled.jpg"), selected

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    assert window.settings.get(S.JPEG_QUALITY) == 92
    assert finished(qtbot, window, window.save_as())
    assert asked == [("holiday-filled.jpg", "JPEG image (*.jpg *.jpeg)")]
    with Image.open(tmp_path / "holiday-filled.jpg") as saved:
        assert jpeg_quality(saved) == 100
    assert finished(qtbot, window, window.save_as(tmp_path / "as-webp.webp"))  # another format: the setting's quality
    assert finished(qtbot, window, window.save_as(tmp_path / "other.jpg"))
    with Image.open(tmp_path / "other.jpg") as saved:
        assert jpeg_quality(saved) == 100
