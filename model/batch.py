"""Filling whole folders: every input gets a new output file, a bad file is reported and skipped, and the
run goes on. Used by `contextfill batch` and by the GUI's batch dialog."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import Cancelled, InpaintError
from .imageio import load_image, load_mask, save_image
from .masks import center_mask
from .pipeline import inpaint


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


def free_name(path: Path) -> Path:
    """path, or path with -2, -3... appended, whichever does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


class MaskSource:
    """'center', one mask file for every image, or a folder of masks matched by file stem."""

    def __init__(self, spec: str | Path):
        self.spec = str(spec)
        self.path = Path(spec)
        if self.spec != "center" and not self.path.exists():
            raise InpaintError(f"mask {spec}: no such file or folder (use a mask image, a folder of masks, or 'center')")
        self.by_stem = {p.stem: p for p in self.path.iterdir() if p.is_file()} if self.path.is_dir() else {}

    def for_image(self, image_path: Path, size: tuple[int, int]) -> np.ndarray:
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
    mask: str | Path,
    *,
    method: str = "context-encoder",
    model=None,
    device: str = "auto",
    skip_existing: bool = False,
    shard: tuple[int, int] = (0, 1),
    patch_options=None,
    report: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BatchSummary:
    source, output = Path(source), Path(output)
    check_output(source, output)
    masks = MaskSource(mask)
    k, n = shard
    inputs = list_inputs(source)[k::n]
    summary = BatchSummary()
    for i, path in enumerate(inputs):
        if cancel and cancel():
            raise Cancelled()
        target = output / f"{path.stem}.png"
        if target.exists() and skip_existing:
            summary.skipped.append(path)
            report(f"skip {path.name}: {target.name} exists")
        else:
            try:
                image = load_image(path)
                result = inpaint(image, masks.for_image(path, image.size), method=method, model=model, device=device,
                                 patch_options=patch_options, cancel=cancel)
                written = save_image(result.image, free_name(target), **_keep_metadata(result.image))
                summary.done.append(written)
                report(f"ok   {path.name} -> {written} ({result.seconds:.2f} s, {result.device})" + "".join(f"; {m}" for m in result.notes))
            except InpaintError as exc:
                summary.failed.append((path, str(exc)))
                report(f"FAIL {path.name}: {exc}")
            except (OSError, MemoryError, RuntimeError) as exc:
                summary.failed.append((path, f"{type(exc).__name__}: {exc}"))
                report(f"FAIL {path.name}: {type(exc).__name__}: {exc}")
        if progress:
            progress(i + 1, len(inputs))
    return summary


def _keep_metadata(image) -> dict:
    return {k: image.info[k] for k in ("icc_profile", "exif") if image.info.get(k)}
