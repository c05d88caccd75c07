"""How a photo was encoded, so a result written in its format keeps it: a quality-100 JPEG is not saved at 92, and a
lossy WebP does not come back 2.5 times its size at quality 95.

A JPEG's quality is not stored in the file, only its quantization tables: the estimate is the IJG quality whose
tables (as Pillow's encoder makes them) are nearest. A WebP says whether it is lossless (a VP8L image chunk); a
lossy one's quality cannot be read, so it is written at the quality photo tools export WebP at by default.
"""

from __future__ import annotations

import io
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image

WEBP_LOSSY_QUALITY = 80  # Pillow's and most export dialogs' default (cwebp's is 75)


@lru_cache(maxsize=1)
def _ijg_tables() -> dict[int, tuple[int, ...]]:
    """quality -> Pillow's luminance table at that quality (encoding an 8x8 grey square takes microseconds)."""
    tables = {}
    for quality in range(1, 101):
        buffer = io.BytesIO()
        Image.new("L", (8, 8), 128).save(buffer, format="JPEG", quality=quality)
        with Image.open(buffer) as im:
            tables[quality] = tuple(im.quantization[0])
    return tables


def jpeg_quality(image: Image.Image) -> int | None:
    """The IJG quality nearest to a JPEG's luminance table, or None for an image that is not a JPEG."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    table = tuple(tables[0])
    return min(_ijg_tables().items(), key=lambda item: sum(abs(a - b) for a, b in zip(item[1], table)))[0]


def webp_is_lossless(path: str | os.PathLike) -> bool:
    """True when the WebP file's image chunk is VP8L (lossless), read from the RIFF chunk headers only."""
    with open(path, "rb") as f:
        if f.read(12)[8:12] != b"WEBP":
            return False
        while header := f.read(8):
            if len(header) < 8:
                return False
            kind, size = header[:4], int.from_bytes(header[4:], "little")
            if kind in (b"VP8 ", b"VP8L"):
                return kind == b"VP8L"
            f.seek(size + (size & 1), os.SEEK_CUR)  # chunks are padded to an even size
    return False


def source_encoding(image: Image.Image, path: str | os.PathLike | None) -> dict:
    """Save parameters that keep how the photo at `path` was encoded, for a result written in its own format:
    {"quality": q} for a JPEG, {"lossless": True} or the lossy quality for a WebP, {} otherwise."""
    if image.format == "JPEG" and (quality := jpeg_quality(image)) is not None:
        return {"quality": quality}
    if image.format == "WEBP" and path is not None and Path(path).is_file():
        return {"lossless": True} if webp_is_lossless(path) else {"quality": WEBP_LOSSY_QUALITY}
    return {}
