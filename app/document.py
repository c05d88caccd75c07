"""The photo being edited: pixels in a working mode, where it came from, and how to save it safely.

Decoding (`load`, `from_qimage`) runs on a worker and yields a `Loaded`; the GUI thread only wraps it in a
`Document`. Saving never overwrites the opened original silently: `proposed_save_path` suggests a new name,
and the window asks before replacing any existing file. Writes go through the engine's atomic save.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QByteArray, QFile, QIODevice, QObject, Signal
from PySide6.QtGui import QImage

from contextfill.app.qtimage import pil_to_qimage, qimage_to_pil, reduced
from contextfill.model.encoding import source_encoding
from contextfill.model.imageio import load_image, to_working_mode

# Pillow allocates an image in blocks, 16 MB by default. Once glibc has freed a block that size its mmap threshold
# rises past it (up to 32 MB), and later blocks come from the heap, where calloc zeroes them with the GIL held:
# decoding a 50 MP photo on the file worker then stalled the GUI thread 40-150 ms in the allocation alone. Blocks
# over 32 MB are always fresh pages from the system, zero without being written (`open 50 MP TIFF` in
# bench/bench_gui.py: 37-47 ms -> 12-13 ms).
Image.core.set_block_size(64 << 20)

SAVE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
SAVE_FILTERS = ("PNG image (*.png)", "JPEG image (*.jpg *.jpeg)", "WebP image (*.webp)", "TIFF image (*.tif *.tiff)")
SAVE_FILTER = ";;".join(SAVE_FILTERS)
# The formats cameras and phones write, first in the Open dialog; Pillow's other formats follow.
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp", ".avif", ".tif", ".tiff", ".bmp", ".gif")
KEPT_INFO = ("exif", "icc_profile", "dpi")  # written back on save
# What other programs put on the clipboard or in a drop for an image, encoded: taken as bytes and decoded on a
# worker. Asking Qt for the QImage instead decodes it on the GUI thread (0.3 s for a 4 MP PNG).
ENCODED_IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/tiff": ".tif",
                       "image/bmp": ".bmp", "image/gif": ".gif"}


def open_filter() -> str:
    readable = {e for e, f in Image.registered_extensions().items() if f in Image.OPEN}
    photos = [e for e in PHOTO_SUFFIXES if e in readable]
    everything = photos + sorted(readable - set(photos))
    return ";;".join([_patterns("Photos", photos), _patterns("All images", everything), "All files (*)"])


def save_filter_for(path: Path) -> str:
    """The Save As filter that shows files like `path`: the proposed name and its neighbours, never an empty-looking
    folder of another type."""
    return next((f for f in SAVE_FILTERS if f"*{path.suffix.lower()}" in f.split("(")[1]), SAVE_FILTERS[0])


def _patterns(label: str, suffixes: list[str]) -> str:
    return f"{label} ({' '.join('*' + e for e in suffixes)})"


@dataclass(frozen=True)
class Loaded:
    """A decoded photo and its QImage for the canvas, made on a worker."""

    image: Image.Image  # RGB, RGBA or L
    preview: QImage
    info: dict  # KEPT_INFO entries of the source
    path: Path | None  # None for a pasted or dropped image
    note: str | None  # what was converted on the way in, if anything
    format: str | None = None  # the source's file format (Pillow's name), None for a pasted image
    encoding: dict = field(default_factory=dict)  # how the source was encoded (model/encoding.py), kept on save
    reduced: tuple[QImage, ...] = ()  # the preview at most 2048, 1024 and 512 px a side, for views showing it smaller


def load(path: str | os.PathLike) -> Loaded:
    """Any Pillow-readable file with EXIF orientation applied; raises InpaintError saying why it is unusable."""
    path = Path(path)
    image = load_image(path)
    return _loaded(image, path, image.format, source_encoding(image, path))


def from_qimage(image: QImage) -> Loaded:
    """A pasted or dropped image."""
    return _loaded(qimage_to_pil(image), None)


def from_encoded(data: QByteArray, suffix: str) -> Loaded:
    """A pasted or dropped image file's bytes (ENCODED_IMAGE_TYPES), read as `load` reads a file, so a damaged or
    too large one is refused in the same words, naming it "pasted image"."""
    with tempfile.TemporaryDirectory(prefix="contextfill-paste-") as folder:
        path = Path(folder) / f"pasted image{suffix}"
        _write(data, path)
        return _loaded(load_image(path), None)


def _write(data: QByteArray, path: Path) -> None:
    """The bytes into a new file through QFile, which shares them and lets go of the GIL: `path.write_bytes` needs them
    as a Python buffer, a copy (of 100 MB for a pasted 50 MP PNG) made with the GIL held, which stalled the GUI
    thread for 90-200 ms."""
    file = QFile(str(path))
    if not file.open(QIODevice.OpenModeFlag.WriteOnly) or file.write(data) != data.size():
        raise OSError(f"cannot write {path.name}: {file.errorString()}")
    file.close()


def _loaded(image: Image.Image, path: Path | None, fmt: str | None = None, encoding: dict | None = None) -> Loaded:
    info = {k: image.info[k] for k in KEPT_INFO if k in image.info}
    working, note = to_working_mode(image)
    preview = pil_to_qimage(working)
    return Loaded(working, preview, info, path, note, fmt, encoding or {}, reduced(working))


class Document(QObject):
    """Pixels plus provenance. `imageChanged` fires whenever the pixels are replaced (apply, undo)."""

    imageChanged = Signal()

    def __init__(self, loaded: Loaded, save_dir: Path | None = None) -> None:
        """`save_dir` is where Save As proposes a name: beside the photo unless told otherwise."""
        super().__init__()
        self.image, self.preview, self.reduced = loaded.image, loaded.preview, loaded.reduced
        self.info, self.path, self.note = loaded.info, loaded.path, loaded.note
        self.format, self.encoding = loaded.format, loaded.encoding
        self.save_dir = save_dir or (loaded.path.parent if loaded.path else Path.home())
        self.saved_path: Path | None = None

    @property
    def display_name(self) -> str:
        target = self.saved_path or self.path
        return target.name if target else "Untitled"

    def take_pixels(self) -> tuple[Image.Image, QImage, tuple[QImage, ...]]:
        """Let go of the photo's pixels, for a document that is no longer shown, and return them (to be freed on a
        worker: `workers.release`); a save of it under way has its own reference to the image it writes."""
        pixels, self.image, self.preview, self.reduced = (self.image, self.preview, self.reduced), None, None, ()
        return pixels

    def set_image(self, image: Image.Image, preview: QImage, small: tuple[QImage, ...] = ()) -> None:
        self.image, self.preview, self.reduced = image, preview, small
        self.imageChanged.emit()

    def proposed_save_path(self) -> Path:
        """`<stem>-filled.<ext>` in `save_dir` (or the last save), numbered so it never exists yet."""
        if self.saved_path is not None:
            return self.saved_path
        name = Path(self.path.name if self.path else "untitled.png")
        suffix = name.suffix.lower() if name.suffix.lower() in SAVE_SUFFIXES else ".png"
        candidate = self.save_dir / f"{name.stem}-filled{suffix}"
        n = 2
        while candidate.exists():
            candidate = self.save_dir / f"{name.stem}-filled-{n}{suffix}"
            n += 1
        return candidate

    def save_params(self, path: Path, jpeg_quality: int) -> dict:
        """What `save_image` needs to keep EXIF, the ICC profile and the DPI where the format allows, and, saved in
        the source's own format, how it was encoded (its JPEG quality, a WebP's losslessness); the JPEG/WebP
        quality setting otherwise."""
        params: dict = dict(self.info)
        suffix = path.suffix.lower()
        if suffix in (".jpg", ".jpeg", ".webp"):
            same_format = Image.registered_extensions().get(suffix) == self.format
            params.update(self.encoding if same_format and self.encoding else {"quality": int(jpeg_quality)})
        if suffix == ".webp" and self.image.mode == "L":
            params.pop("icc_profile", None)
        return params
