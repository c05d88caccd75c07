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


def _morph(mask: np.ndarray, radius: int, erode: bool) -> np.ndarray:
    """Dilate or erode only around the mask's bounding box; outside the image counts as not-mask."""
    mask = np.asarray(mask, dtype=bool)
    out = mask.copy()
    box = bbox(mask)
    if radius <= 0 or box is None:
        return out
    x0, y0, x1, y1 = box
    r = radius + 1
    crop = np.pad(mask[y0:y1, x0:x1], r)
    result = ~_disc_dilate(~crop, radius) if erode else _disc_dilate(crop, radius)
    h, w = mask.shape
    X0, Y0, X1, Y1 = max(x0 - r, 0), max(y0 - r, 0), min(x1 + r, w), min(y1 + r, h)
    out[Y0:Y1, X0:X1] = result[Y0 - (y0 - r) : Y1 - (y0 - r), X0 - (x0 - r) : X1 - (x0 - r)]
    return out


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a bool mask by about `radius` pixels in every direction (disc-shaped)."""
    return _morph(mask, radius, erode=False)


def shrink(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erode a bool mask by about `radius` pixels; the image border counts as outside the mask."""
    return _morph(mask, radius, erode=True)


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) half-open bounding box of True pixels, or None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
