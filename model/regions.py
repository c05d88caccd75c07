"""Splitting a hole mask into separate regions, each filled through its own context window.

Labelling runs on a coarse grid of blocks (at most ~256 a side) so it stays fast in pure numpy for 20-megapixel
masks; holes closer than a block merge into one region, which is what we want: one window then sees both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Region:
    top: int
    left: int
    bottom: int  # exclusive
    right: int  # exclusive
    cells: np.ndarray  # bool (H, W): the hole pixels that belong to this region

    @property
    def side(self) -> int:
        return max(self.bottom - self.top, self.right - self.left)


def _label_grid(grid: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of a small bool grid by iterative min-label propagation (vectorised)."""
    h, w = grid.shape
    labels = np.where(grid, np.arange(1, h * w + 1).reshape(h, w), 0)
    big = h * w + 1
    while True:
        padded = np.pad(np.where(grid, labels, big), 1, constant_values=big)
        neighbours = np.min(
            [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)], axis=0
        )
        new = np.where(grid, np.minimum(labels, neighbours), 0)
        if np.array_equal(new, labels):
            break
        labels = new
    uniq = np.unique(labels[grid])
    remap = np.zeros(h * w + 2, np.int64)
    remap[uniq] = np.arange(1, len(uniq) + 1)
    return remap[labels], len(uniq)


def split_regions(mask: np.ndarray, max_grid: int = 256) -> list[Region]:
    h, w = mask.shape
    block = max(1, math.ceil(max(h, w) / max_grid))
    gh, gw = math.ceil(h / block), math.ceil(w / block)
    padded = np.zeros((gh * block, gw * block), bool)
    padded[:h, :w] = mask
    grid = padded.reshape(gh, block, gw, block).any(axis=(1, 3))
    labels, count = _label_grid(grid)
    regions = []
    for k in range(1, count + 1):
        cells = np.repeat(np.repeat(labels == k, block, 0), block, 1)[:h, :w] & mask
        ys, xs = np.nonzero(cells.any(axis=1))[0], np.nonzero(cells.any(axis=0))[0]
        regions.append(Region(int(ys[0]), int(xs[0]), int(ys[-1]) + 1, int(xs[-1]) + 1, cells))
    return regions
