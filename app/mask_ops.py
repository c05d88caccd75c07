"""Mask morphology in plain numpy (no SciPy/OpenCV dependency): grow and shrink by a round radius.

A disc is built as the union of a few rectangles, and each rectangle dilation is two separable box
passes computed with cumulative sums, so the cost does not grow with the radius.
"""

from __future__ import annotations

import math

import numpy as np


def _box_dilate_1d(mask: np.ndarray, r: int, axis: int) -> np.ndarray:
    if r <= 0:
        return mask
    n = mask.shape[axis]
    c = np.cumsum(mask, axis=axis, dtype=np.int32)
    pad_shape = list(mask.shape)
    pad_shape[axis] = 1
    c = np.concatenate([np.zeros(pad_shape, np.int32), c], axis=axis)
    idx = np.arange(n)
    hi, lo = np.minimum(idx + r + 1, n), np.maximum(idx - r, 0)
    return (np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)) > 0


def _disc_dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    steps = max(2, min(radius, 6))
    out = np.zeros_like(mask)
    for k in range(steps + 1):
        angle = (math.pi / 2) * k / steps
        ry, rx = round(radius * math.sin(angle)), round(radius * math.cos(angle))
        out |= _box_dilate_1d(_box_dilate_1d(mask, rx, 1), ry, 0)
    return out


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a bool mask by about `radius` pixels in every direction (disc-shaped)."""
    mask = np.asarray(mask, dtype=bool)
    box = bbox(mask)
    out = mask.copy()
    if radius <= 0 or box is None:
        return out
    h, w = mask.shape
    x0, y0, x1, y1 = max(box[0] - radius, 0), max(box[1] - radius, 0), min(box[2] + radius, w), min(box[3] + radius, h)
    out[y0:y1, x0:x1] = _disc_dilate(mask[y0:y1, x0:x1], radius)
    return out


def shrink(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erode a bool mask by about `radius` pixels; the image border counts as outside the mask."""
    mask = np.asarray(mask, dtype=bool)
    box = bbox(mask)
    out = mask.copy()
    if radius <= 0 or box is None:
        return out
    x0, y0, x1, y1 = box
    padded = np.pad(mask[y0:y1, x0:x1], radius + 1, constant_values=False)
    inner = ~_disc_dilate(~padded, radius)
    out[y0:y1, x0:x1] = inner[radius + 1 : -(radius + 1), radius + 1 : -(radius + 1)]
    return out


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) half-open bounding box of True pixels, or None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
