"""Reading photos the way a person sees them, and writing files without ever leaving a half-written one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InpaintError

WORKING_MODES = ("RGB", "RGBA", "L")


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open any Pillow-readable image with its EXIF orientation applied; clear error if unreadable."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            info = dict(im.info)
            out = ImageOps.exif_transpose(im)
    except FileNotFoundError:
        raise InpaintError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InpaintError(f"{path.name}: not a readable image ({exc})") from None
    for key in ("icc_profile", "exif"):
        if key in info and key not in out.info:
            out.info[key] = info[key]
    return out


def to_working_mode(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Convert to RGB, RGBA or L; return the image and a note saying what was converted, if anything."""
    mode = image.mode
    if mode in WORKING_MODES:
        return image, None
    if mode in ("1",):
        return image.convert("L"), "converted 1-bit image to 8-bit greyscale"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L"), (
            f"converted {mode} image to 8-bit greyscale"
        )
    if mode in ("LA", "La"):
        return image.convert("RGBA"), f"converted {mode} image to RGBA"
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        target = "RGBA" if has_alpha else "RGB"
        return image.convert(target), f"converted palette image to {target}"
    if mode in ("RGBa",):
        return image.convert("RGBA"), "converted premultiplied RGBA to RGBA"
    return image.convert("RGB"), f"converted {mode} image to RGB"


def load_mask(path_or_image, size: tuple[int, int]) -> np.ndarray:
    """A mask is any image; pixels brighter than mid-grey are hole. Size must match exactly (no silent resize)."""
    if isinstance(path_or_image, Image.Image):
        im = ImageOps.exif_transpose(path_or_image)
        name = "mask"
    else:
        im = load_image(path_or_image)
        name = Path(path_or_image).name
    if im.size != tuple(size):
        raise InpaintError(
            f"{name} is {im.size[0]}x{im.size[1]} but the image is {size[0]}x{size[1]}; "
            "the mask must have the image's size"
        )
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        alpha = np.asarray(im)[..., 3]
        grey = np.asarray(im.convert("L"))
        return (grey > 127) & (alpha > 127)
    return np.asarray(im.convert("L")) > 127


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call write(tmp_path) then rename onto path, so a crash never leaves a truncated file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved photo should get the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(image: Image.Image, path: str | os.PathLike, **params) -> Path:
    """Save atomically; the format follows the file suffix. EXIF/ICC are kept where given in params."""
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise InpaintError(f"{Path(path).name}: unknown image format (use .png, .jpg, .webp or .tif)")
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    return atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **params))
