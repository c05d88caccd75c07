"""Training photos: found recursively, decoded and downscaled once, then cropped from memory.

Decoding a 2560x1600 JPEG costs more than a training step, so every photo is read exactly once; a step then
only slices, resizes and flips small crops, which keeps data loading off the critical path.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .errors import InpaintError
from .imageio import load_image, to_rgb


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
    progress: Callable[[int, int], None] | None = None,
) -> dict[Path, torch.Tensor]:
    """Decode each photo once (EXIF orientation applied) to a uint8 (3, H, W) tensor, keyed by path; unreadable
    files are skipped with one warning each. `progress(done, total)` follows the decoding, which can take a while."""
    photos: dict[Path, torch.Tensor] = {}
    for done, path in enumerate(paths, 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = to_rgb(load_image(path))
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


class CropSampler:
    """Random multi-scale square crops with flips, resized to `size`; flat crops (sky, walls) are re-drawn
    because they teach the network nothing about filling holes."""

    def __init__(self, photos: list[torch.Tensor], size: int, max_zoom_out: float = 4.0, min_std: float = 0.04):
        usable = [p for p in photos if min(p.shape[1:]) >= 8]
        if not usable:
            raise InpaintError("no usable photos to train on")
        self.photos, self.size, self.max_zoom_out, self.min_std = usable, size, max_zoom_out, min_std

    def crop(self, rng: np.random.Generator) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF  # here, not at import: torchvision costs 180 MB

        best = None
        for _ in range(4):
            photo = self.photos[int(rng.integers(len(self.photos)))]
            h, w = photo.shape[1:]
            short = min(h, w)
            low, high = min(self.size, short), min(short, int(self.size * self.max_zoom_out))
            side = int(round(np.exp(rng.uniform(np.log(low), np.log(max(low, high))))))
            top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = TF.resized_crop(photo, top, left, side, side, [self.size, self.size], antialias=True)
            if rng.random() < 0.5:
                crop = TF.horizontal_flip(crop)
            crop = crop.float() / 255.0
            if best is None or crop.std() > best.std():
                best = crop
            if crop.std() >= self.min_std:
                break
        return best

    def batch(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        return torch.stack([self.crop(rng) for _ in range(n)])


def split_photos(paths: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """Hold out whole photos (not crops) so validation never sees a training photo."""
    if val_fraction <= 0 or len(paths) < 2:
        return paths, []
    order = np.random.default_rng(seed).permutation(len(paths))
    n_val = min(len(paths) - 1, max(1, round(len(paths) * val_fraction)))
    val = sorted(paths[i] for i in order[:n_val])
    return [p for p in paths if p not in set(val)], val
