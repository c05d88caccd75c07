"""The photo being edited: pixels in a working mode, where it came from, and how to save it safely.

Saving never overwrites the opened original silently: `proposed_save_path` suggests a new name next to
it, and the window asks before replacing any existing file. Writes go through the engine's atomic save.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QObject, Signal

from model.imageio import load_image, save_image, to_working_mode

SAVE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")
SAVE_FILTER = ";;".join(
    ["PNG image (*.png)", "JPEG image (*.jpg *.jpeg)", "WebP image (*.webp)", "TIFF image (*.tif *.tiff)"]
)


def open_filter() -> str:
    exts = sorted({e for e, f in Image.registered_extensions().items() if f in Image.OPEN})
    return f"Images ({' '.join('*' + e for e in exts)});;All files (*)"


class Document(QObject):
    """Pixels plus provenance. `imageChanged` fires whenever the pixels are replaced (open, apply, undo)."""

    imageChanged = Signal()

    def __init__(self, image: Image.Image, path: Path | None = None, note: str | None = None) -> None:
        super().__init__()
        self.info = {k: image.info[k] for k in ("exif", "icc_profile") if k in image.info}
        self.image, conversion = to_working_mode(image)
        self.path = path
        self.saved_path: Path | None = None
        self.note = note or conversion

    @classmethod
    def open(cls, path: str | os.PathLike) -> Document:
        """Load any Pillow-readable file with EXIF orientation applied; raises InpaintError if unreadable."""
        path = Path(path)
        return cls(load_image(path), path)

    @property
    def display_name(self) -> str:
        target = self.saved_path or self.path
        return target.name if target else "Untitled"

    def set_image(self, image: Image.Image) -> None:
        self.image = image
        self.imageChanged.emit()

    def proposed_save_path(self) -> Path:
        """`<stem>-filled.png` beside the original (or the last save), numbered so it never exists yet."""
        if self.saved_path is not None:
            return self.saved_path
        base = self.path or Path.home() / "untitled.png"
        suffix = base.suffix.lower() if base.suffix.lower() in SAVE_SUFFIXES else ".png"
        candidate = base.with_name(f"{base.stem}-filled{suffix}")
        n = 2
        while candidate.exists():
            candidate = base.with_name(f"{base.stem}-filled-{n}{suffix}")
            n += 1
        return candidate

    def save(self, path: str | os.PathLike, jpeg_quality: int = 92) -> Path:
        """Write atomically, keeping EXIF and the ICC profile where the format allows."""
        path = Path(path)
        suffix = path.suffix.lower()
        params: dict = dict(self.info)
        if suffix in (".jpg", ".jpeg", ".webp"):
            params["quality"] = int(jpeg_quality)
        if suffix == ".webp" and self.image.mode == "L":
            params.pop("icc_profile", None)
        saved = save_image(self.image, path, **params)
        self.saved_path = saved
        return saved
