"""Conversions between Pillow images, numpy masks and QImage, all copying so no buffer outlives its owner.

They run on workers (open, paste, fills), never on the GUI thread: a 50 MP photo takes a good part of a second.
Pillow and PySide keep the GIL for the whole of one call, so a big image is converted in bands of rows: the
GUI thread gets the GIL back between bands and keeps painting.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage, QPixmap

BAND_BYTES = 4 << 20  # about 2 ms of copying per band with the GIL held
REDUCED_SIDE = 2048  # the largest of the copies views draw from when they show the photo no larger (see `reduced`)
REDUCED_LEVELS = 3  # 2048, 1024 and 512 px a side


def pil_to_qimage(image: Image.Image) -> QImage:
    """Any working-mode Pillow image as a QImage (alpha kept, greyscale shown as grey), in the format the raster
    paint engine draws as it is: RGB32, or premultiplied ARGB32 with alpha. `QPixmap.fromImage` on the GUI thread
    then shares these pixels instead of converting them (half a second for 50 MP)."""
    w, h = image.size
    alpha = image.mode == "RGBA"
    out = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied if alpha else QImage.Format.Format_RGB32)
    pixels = argb_view(out)
    rows = max(1, BAND_BYTES // (4 * max(1, w)))
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        band = image.crop((0, y0, w, y1))
        if alpha:
            data = band.convert("RGBa").tobytes("raw", "BGRa")
        else:
            data = (band if band.mode == "RGB" else band.convert("RGB")).tobytes("raw", "BGRX")
        pixels[y0:y1] = np.frombuffer(data, np.uint8).reshape(y1 - y0, w, 4)
        if not alpha:
            pixels[y0:y1, :, 3] = 255  # RGB32 wants its unused byte opaque: Pillow pads with 0, which drawing at an
            # opacity (the Compare panels waiting for their fill) reads as transparent, a black box
    return out


def reduced(image: Image.Image) -> tuple[QImage, ...]:
    """Copies at most REDUCED_SIDE, half and a quarter of it a side (those smaller than the image), largest first, for
    views that show the photo smaller (`PhotoItem` draws from the smallest copy at least as large as it shows): a
    smooth draw costs by how far it shrinks its source, so a 50 MP photo drawn into a view took 26 ms of the GUI
    thread per repaint, a 2048 px copy drawn into a 640 px Compare panel 3.3 ms, a 1024 px one 0.9 ms.

    Made by Pillow's box `reduce`, which lets go of the GIL (60 ms for 50 MP), from the photo, not its QImage:
    `QImage.scaled` keeps the GIL, and held the GUI thread for 50-90 ms."""
    copies: list[Image.Image] = []
    side = REDUCED_SIDE
    for _ in range(REDUCED_LEVELS):
        source = copies[-1] if copies else image
        if side < max(source.size):
            copies.append(source.reduce(math.ceil(max(source.size) / side)))
        side //= 2
    return tuple(pil_to_qimage(copy) for copy in copies)


def pixmaps(images: tuple[QImage, ...]) -> tuple[QPixmap, ...]:
    """Pixmaps sharing the images' pixels (GUI thread: `reduced` copies are small)."""
    return tuple(QPixmap.fromImage(image) for image in images)


def qimage_to_pil(image: QImage) -> Image.Image:
    """A pasted or dropped QImage as a Pillow image: RGBA when it has alpha, else RGB."""
    mode = "RGBA" if image.hasAlphaChannel() else "RGB"
    converted = image.convertToFormat(QImage.Format.Format_RGBA8888 if mode == "RGBA" else QImage.Format.Format_RGB888)
    size = (converted.width(), converted.height())
    return Image.frombytes(mode, size, bytes(converted.constBits()), "raw", mode, converted.bytesPerLine())


def argb_view(image: QImage) -> np.ndarray:
    """Writable (H, W, 4) uint8 view of an ARGB32 (or RGB32) QImage's pixels, in memory order B, G, R, A."""
    h, w = image.height(), image.width()
    buf = np.frombuffer(image.bits(), dtype=np.uint8).reshape(h, image.bytesPerLine())
    return buf[:, : w * 4].reshape(h, w, 4)
