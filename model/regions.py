"""Splitting a hole mask into separate regions, each filled in its own small window or crop.

Labelling runs on a coarse grid of blocks (at most 128 a side) so it stays fast in pure numpy for 24-megapixel
masks. Each region keeps only its bounding box and the hole pixels inside it, never a full-size array, so the
cost of 200 dust spots follows the spots, not the photo.
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
    cells: np.ndarray  # bool (bottom - top, right - left): the hole pixels of this region inside its box

    @property
    def side(self) -> int:
        return max(self.bottom - self.top, self.right - self.left)

    def mask_in(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """This region's hole pixels as a bool mask of the box (y0, y1, x0, x1), which must contain the region."""
        mask = np.zeros((y1 - y0, x1 - x0), bool)
        mask[self.top - y0 : self.bottom - y0, self.left - x0 : self.right - x0] = self.cells
        return mask


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


def split_regions(mask: np.ndarray, max_grid: int = 128) -> list[Region]:
    """Regions of the hole mask; holes closer than about a block share one region (one window then sees both)."""
    h, w = mask.shape
    block = max(1, math.ceil(max(h, w) / max_grid))
    gh, gw = math.ceil(h / block), math.ceil(w / block)
    padded = np.zeros((gh * block, gw * block), bool)
    padded[:h, :w] = mask
    grid = padded.reshape(gh, block, gw, block).any(axis=(1, 3))
    labels, count = _label_grid(grid)
    regions = []
    for k in range(1, count + 1):
        rows, cols = np.nonzero((labels == k).any(axis=1))[0], np.nonzero((labels == k).any(axis=0))[0]
        gy0, gy1, gx0, gx1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        local = np.repeat(np.repeat(labels[gy0:gy1, gx0:gx1] == k, block, 0), block, 1)
        y0, x0 = gy0 * block, gx0 * block
        y1, x1 = min(h, gy1 * block), min(w, gx1 * block)
        cells = local[: y1 - y0, : x1 - x0] & mask[y0:y1, x0:x1]
        ys, xs = np.nonzero(cells.any(axis=1))[0], np.nonzero(cells.any(axis=0))[0]
        top, left, bottom, right = y0 + ys[0], x0 + xs[0], y0 + ys[-1] + 1, x0 + xs[-1] + 1
        regions.append(Region(int(top), int(left), int(bottom), int(right), cells[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1]))
    return regions
