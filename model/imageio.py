"""Reading photos the way a person sees them, and writing files without ever leaving a half-written one."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import shared_memory
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InpaintError

WORKING_MODES = ("RGB", "RGBA", "L")
DEEP_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # greyscale in more than 8 bits
BITS_KEY = "contextfill.bits"  # image.info: bits per channel in the file, where Pillow decoded them to fewer
_RAISE_LIMIT = {"how": "--max-megapixels raises it"}  # the refusal's remedy, in the words of the caller's interface


def max_megapixels() -> float:
    """The largest image load_image opens: Pillow's refusal line, twice its MAX_IMAGE_PIXELS (about 179 MP)."""
    return 2 * Image.MAX_IMAGE_PIXELS / 1e6


def set_max_megapixels(megapixels: float, remedy: str | None = None) -> None:
    """Move that line, process-wide (call once at start, before any thread opens images). Pillow only warns
    between half the line and the line; those images are under our limit, so they load without a warning.
    `remedy` says how to raise it where the refusal is read (the app names its setting, not the CLI's flag)."""
    Image.MAX_IMAGE_PIXELS = int(megapixels * 1e6 / 2)
    if remedy:
        _RAISE_LIMIT["how"] = remedy
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open any Pillow-readable image with its EXIF orientation applied; one clear sentence if unusable."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            bits = _decoded_bits(im)
            im.load()
            info = dict(im.info)
            out = ImageOps.exif_transpose(im, in_place=True) or im  # no second full-size copy
    except FileNotFoundError:
        raise InpaintError(f"{path}: file not found") from None
    except Exception as exc:  # a damaged file can make a decoder raise almost anything
        raise InpaintError(f"{path.name}: {_unreadable(path, exc)}") from None
    for key in ("icc_profile", "exif"):
        if key in info and key not in out.info:
            out.info[key] = info[key]
    if bits > 8:
        out.info[BITS_KEY] = bits
    return out


def _decoded_bits(im: Image.Image) -> int:
    """16 for a 16-bit-per-channel colour file (PNG, TIFF), which Pillow decodes to 8 bits with no trace once it is
    loaded: only the decoder's raw mode says so beforehand. 8 otherwise (16-bit greyscale keeps its depth)."""
    if im.mode not in ("RGB", "RGBA"):
        return 8
    raw = [tile[3][0] if isinstance(tile[3], tuple) else tile[3] for tile in im.tile]
    return 16 if any(isinstance(r, str) and ";16" in r for r in raw) else 8


def _unreadable(path: Path, exc: Exception) -> str:
    """Why a file is not a usable image, in words that say what to do about it."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return _too_many_pixels(exc)
    if isinstance(exc, IsADirectoryError):
        return "this is a folder, not an image"
    if isinstance(exc, PermissionError):
        return "no permission to read this file"
    if isinstance(exc, MemoryError):
        return "not enough memory to open this image"
    if path.is_file() and path.stat().st_size == 0:
        return "the file is empty"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image, or in a format ContextFill cannot read"
    if "truncated" in str(exc).lower():
        return "the file is cut short (truncated, or still being copied)"
    return f"the image data is damaged ({type(exc).__name__}: {exc})"


def _too_many_pixels(exc: Exception) -> str:
    """Pillow's message gives only a pixel count; the size is a local of the check that raised."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    size = tb.tb_frame.f_locals.get("size") if tb is not None else None
    limit = f"over the {max_megapixels():.0f} MP limit; {_RAISE_LIMIT['how']}"
    if not (isinstance(size, tuple) and len(size) == 2):
        return f"too many pixels, {limit}"
    return f"{size[0]}x{size[1]} is {size[0] * size[1] / 1e6:.0f} MP, {limit}"


def _grey_levels(image: Image.Image) -> tuple[np.ndarray, float]:
    """A DEEP_MODES image's values and the value of white: 65535 for 16 bits, 255 for 8-bit values stored as 32."""
    arr = np.asarray(image, dtype=np.float64)
    return arr, 65535.0 if arr.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0


def to_working_mode(image: Image.Image) -> tuple[Image.Image, str | None]:
    """Convert to RGB, RGBA or L; return the image and a note saying what was converted, if anything."""
    mode = image.mode
    if mode in WORKING_MODES:
        bits = image.info.get(BITS_KEY, 8)
        return image, f"reduced {bits}-bit colour to 8 bits per channel (results are 8-bit)" if bits > 8 else None
    if mode in ("1",):
        return image.convert("L"), "converted 1-bit image to 8-bit greyscale"
    if mode in DEEP_MODES:
        arr, top = _grey_levels(image)
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


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB pixels as a person sees them: Pillow's own convert("RGB") clamps 16-bit greyscale to 255 (near white)."""
    return to_working_mode(image)[0].convert("RGB")


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
    if im.mode in DEEP_MODES:  # Pillow's convert("L") clamps: a faint 1000 of 65535 would become white
        arr, top = _grey_levels(im)
        return arr > top / 2
    return np.asarray(im if im.mode == "L" else im.convert("L")) > 127


def atomic_write(path: str | os.PathLike, write: Callable[[str], object], *, replace: bool = True) -> Path:
    """Call write(tmp) on a new file beside path, fsync it, then publish it in one step, so no reader and no
    crash ever sees a half-written file. replace=True puts it over path (Save, checkpoints); replace=False never
    touches an existing file: it takes path, path-2, path-3... whichever is free when it is published."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}-{secrets.token_hex(6)}{path.suffix or '.tmp'}")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies, as to any new file
    try:
        write(str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            path = _publish_new(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_folder(path.parent)
    return path


def _publish_new(tmp: Path, path: Path) -> Path:
    """Hard-link tmp under the first free name: a link fails on an existing name, so two writers (two processes,
    or a.jpg and a.png filled to one name) can never both take it. tmp is removed by the caller."""
    n = 1
    while True:
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
        try:
            os.link(tmp, candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system (FAT, some shares): claim the name, then fill it
            try:
                os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            except FileExistsError:
                continue
            try:
                os.replace(tmp, candidate)
            except BaseException:
                candidate.unlink(missing_ok=True)  # an empty claim left behind would pass for a result
                raise
            return candidate


def is_missing(path: Path) -> bool:
    """No file, or an empty one: what a process killed between claiming a name and filling it leaves (see
    _publish_new), never a result."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def _fsync_folder(folder: Path) -> None:
    """Make the new name itself durable (POSIX; Windows cannot open a folder for this)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


SAVE_DEFAULTS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}, "TIFF": {"compression": "tiff_adobe_deflate"}}
ICC_SPACES = {b"RGB ", b"GRAY", b"CMYK", b"Lab "}  # the colour spaces a photo's profile names (header bytes 16-20)


def save_image(image: Image.Image, path: str | os.PathLike, *, replace: bool = True, apart: bool = False,
               **params) -> Path:
    """Save atomically (see atomic_write); the format follows the file suffix. EXIF/ICC are kept where given in
    params, except a profile for other pixels than these (a CMYK profile on pixels converted to RGB).

    apart=True (the app, whose GUI thread must keep running) encodes in a child process when the encoder keeps
    the GIL for the whole file (`holds_gil`); the bytes written are the same. Not in a frozen bundle: there a
    spawned child starts the bundle's program again unless its entry point calls multiprocessing.freeze_support()."""
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise InpaintError(f"{Path(path).name}: unknown image format (use .png, .jpg, .webp or .tif)")
    if fmt == "JPEG" and image.mode not in ("RGB", "L", "CMYK"):
        image = image.convert("RGB")
    params = {**SAVE_DEFAULTS.get(fmt, {}), **params}
    if not _profile_fits(params.get("icc_profile"), image.mode):
        del params["icc_profile"]
    if apart and holds_gil(fmt, params) and not getattr(sys, "frozen", False):
        return atomic_write(path, partial(_save_in_child, image, fmt, params), replace=replace)
    return atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **params), replace=replace)


def format_losses(mode: str, path: str | os.PathLike) -> list[str]:
    """What saving pixels of `mode` to `path` drops, in words for the result's notes (save_image drops it
    silently): among the working modes only JPEG loses anything, the transparency."""
    if Image.registered_extensions().get(Path(path).suffix.lower()) == "JPEG" and mode in ("RGBA", "LA", "PA"):
        return ["JPEG keeps no transparency: saved without the alpha channel (PNG, WebP or TIFF keep it)"]
    return []


def holds_gil(fmt: str, params: dict) -> bool:
    """Pillow's libtiff encoder, used for every TIFF compression but none, writes the whole file in one call that
    keeps the GIL (2 s for 50 MP, deflate): no other thread of the process runs meanwhile. JPEG, PNG and
    uncompressed TIFF encode in small steps."""
    return fmt == "TIFF" and params.get("compression", "raw") not in (None, "raw")


# Rows copied into shared memory per step, each step a few ms with the GIL held.
BAND_BYTES = 4 << 20


def _save_in_child(image: Image.Image, fmt: str, params: dict, tmp: str) -> None:
    """image.save(tmp, ...) in a fresh 'spawn' process (no fork of a threaded GUI process): the pixels go through
    shared memory in bands of rows, the save arguments and image.info (Pillow reads its defaults there) as they
    are; the child's error is raised here."""
    w, h = image.size
    row_bytes = len(image.crop((0, 0, w, 1)).tobytes()) if h else 0
    shm = shared_memory.SharedMemory(create=True, size=max(1, row_bytes * h))
    try:
        rows = max(1, BAND_BYTES // max(1, row_bytes))
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            shm.buf[y0 * row_bytes:y1 * row_bytes] = image.crop((0, y0, w, y1)).tobytes()
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(_save_shared, shm.name, image.mode, image.size, row_bytes * h, dict(image.info), fmt, params,
                        tmp).result()
    finally:
        shm.close()
        shm.unlink()


def _save_shared(name: str, mode: str, size: tuple[int, int], nbytes: int, info: dict, fmt: str, params: dict,
                 tmp: str) -> None:
    """In the child: the pixels from shared memory, saved as the parent would have."""
    shm = shared_memory.SharedMemory(name=name)
    try:
        image = Image.frombytes(mode, size, bytes(shm.buf[:nbytes]))
        image.info = info
    finally:
        shm.close()
    image.save(tmp, format=fmt, **params)


def _profile_fits(icc: bytes | None, mode: str) -> bool:
    """False only for a well-formed profile that names another colour space than the pixels'."""
    space = icc[16:20] if icc else b""
    if space not in ICC_SPACES:
        return True
    expected = b"CMYK" if mode == "CMYK" else b"GRAY" if Image.getmodebase(mode) == "L" else b"RGB "
    return space == expected
