"""Hole-mask strategies of the paper (centre, random block, random region), seeded and shared by training
and evaluation so a validation figure always means the same holes. Masks are bool arrays, True = hole."""

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


def random_block_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Several possibly overlapping rectangles covering up to a quarter of the image."""
    mask = np.zeros((h, w), bool)
    target = rng.uniform(0.08, 0.25) * h * w
    while mask.sum() < target:
        bh = int(rng.integers(max(1, h // 8), max(2, h // 3)))
        bw = int(rng.integers(max(1, w // 8), max(2, w // 3)))
        top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
        before = mask.copy()
        mask[top : top + bh, left : left + bw] = True
        if mask.sum() > h * w / 4:
            mask = before
            break
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


def random_region_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Arbitrary shapes -- blobs and thick brush strokes -- covering 20-30% of the image."""
    canvas = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(canvas)
    target = rng.uniform(0.20, 0.30)
    covered = 0.0
    for _ in range(12):
        if rng.random() < 0.5:
            radius = math.sqrt(rng.uniform(0.04, 0.12) * h * w / math.pi)
            draw.polygon(_blob_polygon(rng.uniform(0, w), rng.uniform(0, h), radius, rng), fill=255)
        else:
            width = max(1, int(rng.uniform(0.05, 0.12) * min(h, w)))
            points = [(rng.uniform(0, w), rng.uniform(0, h))]
            for _ in range(int(rng.integers(2, 5))):
                angle, step = rng.uniform(0, 2 * math.pi), rng.uniform(0.15, 0.35) * min(h, w)
                x, y = points[-1]
                points.append((x + step * math.cos(angle), y + step * math.sin(angle)))
            draw.line(points, fill=255, width=width, joint="curve")
            for x, y in points:
                draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
        covered = (np.asarray(canvas) > 127).mean()
        if covered >= target:
            break
    return np.asarray(canvas) > 127


def make_mask(strategy: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    if strategy == "mixed":
        strategy = STRATEGIES[int(rng.integers(0, 3))]
    if strategy == "center":
        return center_mask(h, w)
    if strategy == "random-block":
        return random_block_mask(h, w, rng)
    if strategy == "random-region":
        return random_region_mask(h, w, rng)
    raise ValueError(f"unknown mask strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")


def make_batch(strategy: str, batch: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(B, 1, S, S) float32 masks, 1 = hole."""
    return np.stack([make_mask(strategy, size, size, rng) for _ in range(batch)])[:, None].astype(np.float32)
