"""Conversions between Pillow images, numpy masks and QImage, all copying so no buffer outlives its owner.

They run on workers (open, paste, fills), never on the GUI thread: a 50 MP photo takes a good part of a second.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage


def pil_to_qimage(image: Image.Image) -> QImage:
    """Any working-mode Pillow image as a QImage (alpha kept, greyscale shown as grey)."""
    if image.mode == "RGBA":
        data, fmt, channels = image.tobytes(), QImage.Format.Format_RGBA8888, 4
    elif image.mode == "L":
        data, fmt, channels = image.tobytes(), QImage.Format.Format_Grayscale8, 1
    else:
        data, fmt, channels = image.convert("RGB").tobytes(), QImage.Format.Format_RGB888, 3
    w, h = image.size
    return QImage(data, w, h, w * channels, fmt).copy()


def qimage_to_pil(image: QImage) -> Image.Image:
    """A pasted or dropped QImage as a Pillow image: RGBA when it has alpha, else RGB."""
    mode = "RGBA" if image.hasAlphaChannel() else "RGB"
    converted = image.convertToFormat(QImage.Format.Format_RGBA8888 if mode == "RGBA" else QImage.Format.Format_RGB888)
    size = (converted.width(), converted.height())
    return Image.frombytes(mode, size, bytes(converted.constBits()), "raw", mode, converted.bytesPerLine())


def argb_view(image: QImage) -> np.ndarray:
    """Writable (H, W, 4) uint8 view of an ARGB32 QImage's pixels, in memory order B, G, R, A."""
    h, w = image.height(), image.width()
    buf = np.frombuffer(image.bits(), dtype=np.uint8).reshape(h, image.bytesPerLine())
    return buf[:, : w * 4].reshape(h, w, 4)
