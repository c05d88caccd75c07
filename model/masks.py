"""Hole masks shared by training and evaluation, seeded so a validation figure always means the same holes. Masks
are bool arrays, True = hole. The paper's training strategies (centre, random block, random region) are drawn a
whole batch at a time on the training device, in batches.py."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

STRATEGIES = ("center", "random-block", "random-region", "mixed")


def center_mask(h: int, w: int, fraction: float = 0.5) -> np.ndarray:
    """The central square, `fraction` of the short side (the paper's 64 in 128)."""
    side = max(1, round(min(h, w) * fraction))
    top, left = (h - side) // 2, (w - side) // 2
    mask = np.zeros((h, w), bool)
    mask[top : top + side, left : left + side] = True
    return mask


def _blob_polygon(cx: float, cy: float, radius: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """A smooth star-shaped outline: a circle whose radius wobbles with a few low harmonics."""
    theta = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    r = np.ones_like(theta)
    for k in (2, 3, 4):
        r += rng.uniform(0.0, 0.25 / k * 2) * np.cos(k * theta + rng.uniform(0, 2 * math.pi))
    r = radius * np.clip(r, 0.35, None)
    return list(zip(cx + r * np.cos(theta), cy + r * np.sin(theta)))


def blob_mask(h: int, w: int, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """One object-sized irregular blob covering about `fraction` of the image, wholly inside it."""
    radius = math.sqrt(fraction * h * w / math.pi)
    cx = rng.uniform(min(radius, w / 2), max(w - radius, w / 2))
    cy = rng.uniform(min(radius, h / 2), max(h - radius, h / 2))
    canvas = Image.new("L", (w, h), 0)
    ImageDraw.Draw(canvas).polygon(_blob_polygon(cx, cy, radius, rng), fill=255)
    return np.asarray(canvas) > 127
