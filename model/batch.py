"""Filling whole folders: every input gets a new output file, a bad file of any kind is reported in one line
and skipped, and the run goes on. What concerns the whole run (device, model, output folder) is checked before
the first file and stops it at once. Used by `contextfill batch` and by the GUI's batch dialog.

Output names: a result keeps its input's name and format (photo.jpg -> photo.jpg, at JPEG quality 95 with EXIF
and ICC kept; a WebP stays lossless, or lossy at quality 80); another format (`fmt`) takes its suffix (photo.tif -> photo.png), and when another input has the
same stem the name says which input it came from (photo.tif, photo.webp -> photo-tif.png, photo-webp.png). An
existing file is never replaced: the result takes name-2, name-3... instead. An empty file is no result (a run
killed while publishing leaves one where links are not available): it counts as missing, for --skip-existing too.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .devices import resolve_device
from .encoding import source_encoding
from .errors import Cancelled, InpaintError
from .imageio import format_losses, is_missing, load_image, load_mask, save_image
from .masks import center_mask
from .methods import method as method_spec
from .pipeline import get_model, inpaint

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP", "tif": "TIFF"}  # the formats a result can take
SUFFIXES = {fmt: f".{suffix}" for suffix, fmt in FORMATS.items()}
STOPPING_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES}  # a write failing so fails for every file after it


@dataclass
class BatchSummary:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"{len(self.done)} filled, {len(self.skipped)} skipped, {len(self.failed)} failed"]
        lines += [f"  failed: {p.name}: {msg}" for p, msg in self.failed]
        return "\n".join(lines)


def parse_shard(text: str | None) -> tuple[int, int]:
    """'K/N' -> (K, N), K counted from 0; None -> torchrun's rank/world size, or the whole set."""
    if text is None:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise InpaintError(f"--shard takes K/N, e.g. 0/4, not {text!r}") from None
    if not 0 <= k < n:
        raise InpaintError(f"--shard {text}: K must be between 0 and N-1")
    return k, n


def list_inputs(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise InpaintError(f"{source}: no such file or folder")
    return sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))


def check_output(source: Path, output: Path) -> None:
    """Refuse an output folder equal to or inside the input folder, so inputs can never be overwritten."""
    src_dir = (source if source.is_dir() else source.parent).resolve()
    out = output.resolve()
    if out == src_dir or src_dir in out.parents:
        raise InpaintError(f"the output folder {output} must not be the input folder or inside it")


def output_name(path: Path, fmt: str | None = None, shared_stem: bool = False) -> str:
    """The result's file name (see the module docstring). fmt None keeps the input's format when it is one of
    FORMATS, else writes PNG; shared_stem says another input has this stem."""
    own = Image.registered_extensions().get(path.suffix.lower())
    wanted = FORMATS[fmt] if fmt else own if own in SUFFIXES else "PNG"
    if own == wanted:
        return path.name
    if shared_stem and path.suffix:
        return f"{path.stem}-{path.suffix[1:].lower()}{SUFFIXES[wanted]}"
    return path.stem + SUFFIXES[wanted]


def check_writable(output: Path) -> None:
    """Create the output folder and write a scratch file in it, so an unwritable folder stops the run before
    the first fill rather than failing every file."""
    try:
        output.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=output).close()
    except OSError as exc:
        raise InpaintError(f"cannot write to the output folder {output}: {exc.strerror or exc}") from None


class MaskSource:
    """'center', one mask file (or image: the app's painted mask) for every image, or a folder of masks matched by
    file stem."""

    def __init__(self, spec: str | Path | Image.Image):
        self.image = spec if isinstance(spec, Image.Image) else None
        if self.image is not None:
            self.spec, self.path, self.by_stem = "painted", None, {}
            return
        self.spec = str(spec)
        self.path = Path(spec)
        if self.spec != "center" and not self.path.exists():
            raise InpaintError(f"mask {spec}: no such file or folder (use a mask image, a folder of masks, or 'center')")
        self.by_stem = {p.stem: p for p in self.path.iterdir() if p.is_file()} if self.path.is_dir() else {}

    def for_image(self, image_path: Path, size: tuple[int, int]) -> np.ndarray:
        if self.image is not None:
            return load_mask(self.image, size)
        if self.spec == "center":
            return center_mask(size[1], size[0])
        if self.path.is_dir():
            if image_path.stem not in self.by_stem:
                raise InpaintError(f"no mask named {image_path.stem}.* in {self.path}")
            return load_mask(self.by_stem[image_path.stem], size)
        return load_mask(self.path, size)


def run_batch(
    source: str | Path,
    output: str | Path,
    mask: str | Path | Image.Image,
    *,
    method: str = "context-encoder",
    model=None,
    device: str = "auto",
    fmt: str | None = None,
    skip_existing: bool = False,
    shard: tuple[int, int] = (0, 1),
    patch_options=None,
    report: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BatchSummary:
    """Fill every input of source (shard K/N: every N-th from K) into output; InpaintError if the run cannot
    start or must stop, every other failure is one file's, reported and listed in the summary."""
    source, output = Path(source), Path(output)
    check_output(source, output)
    if fmt is not None and fmt not in FORMATS:
        raise InpaintError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    masks = MaskSource(mask)
    everything = list_inputs(source)
    stems = Counter(p.stem.lower() for p in everything)
    inputs = everything[shard[0] :: shard[1]]
    dev = resolve_device(device)
    model = _load_model(model, dev) if method_spec(method).needs_model else None
    check_writable(output)
    summary = BatchSummary()
    for i, path in enumerate(inputs):
        if cancel and cancel():
            raise Cancelled()
        target = output / output_name(path, fmt, stems[path.stem.lower()] > 1)
        if skip_existing and not is_missing(target):
            summary.skipped.append(path)
            report(f"skip {path.name}: {target.name} exists")
        else:
            try:
                image = load_image(path)
                result = inpaint(image, masks.for_image(path, image.size), method=method, model=model, device=dev,
                                 patch_options=patch_options, cancel=cancel)
                result.notes.extend(format_losses(result.image.mode, target))
                if is_missing(target):
                    target.unlink(missing_ok=True)  # an empty file is a kill's leftover, not a result: its name is free
                written = save_image(result.image, target, replace=False, **_keep_metadata(result.image),
                                     **_keep_webp(image, path, target))
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever one file does, the others still get filled
                if isinstance(exc, OSError) and exc.errno in STOPPING_ERRNOS:
                    raise InpaintError(f"cannot write to {output}: {os.strerror(exc.errno)}; "
                                       f"stopped after {i} of {len(inputs)} files") from None
                message = _describe(exc).removeprefix(f"{path.name}: ")  # the line names the file already
                summary.failed.append((path, message))
                report(f"FAIL {path.name}: {message}")
            else:
                summary.done.append(written)
                report(f"ok   {path.name} -> {written} ({result.seconds:.2f} s, {result.device})"
                       + "".join(f"; {m}" for m in result.notes))
        if progress:
            progress(i + 1, len(inputs))
    return summary


def _load_model(model, device):
    """The model, loaded once before the first file: if it cannot load, no file can be filled."""
    try:
        return get_model(model, device)
    except InpaintError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. out of GPU memory, a driver error
        raise InpaintError(f"the model could not be loaded on {device}: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    """One line: our own errors are worded already; anything else is named, with its message's first line."""
    if isinstance(exc, InpaintError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "not enough memory for this image"
    first = next(iter(str(exc).strip().splitlines()), "")
    return f"unexpected {type(exc).__name__}" + (f": {first}" if first else "")


def _keep_webp(image: Image.Image, path: Path, target: Path) -> dict:
    """A WebP filled into a WebP stays lossless, or lossy at the usual quality: at quality 95 a lossy photo came
    back 2.5 times its size."""
    return source_encoding(image, path) if image.format == "WEBP" and target.suffix.lower() == ".webp" else {}


def _keep_metadata(image: Image.Image) -> dict:
    return {k: image.info[k] for k in ("icc_profile", "exif", "dpi") if image.info.get(k)}
