"""Training photos: found recursively, decoded and downscaled once, then cropped from memory (batches.py).

Decoding a 2560x1600 JPEG costs more than a training step, so every photo is read exactly once; a step then
only cuts, scales and flips crops on the training device, which keeps data loading off the critical path.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import InpaintError
from .imageio import load_image, to_working_mode


def find_photos(root: str | Path) -> list[Path]:
    """Every file under root (recursively), sorted; readability is decided when loading."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InpaintError(f"{root}: no such folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def load_photos(
    paths: list[Path], max_short_side: int, warn: Callable[[str], None] = lambda m: print(m, file=sys.stderr),
    progress: Callable[[int, int], None] | None = None, mode: str = "RGB",
) -> dict[Path, torch.Tensor]:
    """Decode each photo once (EXIF orientation applied) to a uint8 (C, H, W) tensor in `mode` (RGBA for
    cut-outs), keyed by path; unreadable files are skipped with one warning each. `progress(done, total)`
    follows the decoding, which can take a while."""
    photos: dict[Path, torch.Tensor] = {}
    for done, path in enumerate(paths, 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = to_working_mode(load_image(path))[0].convert(mode)
        except InpaintError as exc:
            warn(f"warning: skipping {exc}")
            continue
        finally:
            if progress:
                progress(done, len(paths))
        scale = max_short_side / min(image.size)
        if scale < 1:
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), 4)
        photos[path] = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()
    return photos


# Photos held out at the least, where a third of the folder allows: a score on 2 photos is mostly which 2.
MIN_VAL_PHOTOS = 5


def split_photos(paths: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """Hold out whole photos (not crops) so validation never sees a training photo: val_fraction of them, but at
    least MIN_VAL_PHOTOS, or a third of the folder if that is fewer (most photos still train), and at least one."""
    if val_fraction <= 0 or len(paths) < 2:
        return paths, []
    order = np.random.default_rng(seed).permutation(len(paths))
    n_val = min(len(paths) - 1, max(1, round(len(paths) * val_fraction), min(MIN_VAL_PHOTOS, len(paths) // 3)))
    val = sorted(paths[i] for i in order[:n_val])
    return [p for p in paths if p not in set(val)], val
