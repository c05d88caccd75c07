"""Training batches made on the training device: the decoded photos stay there as uint8, and each step's crops
(cut, scaled, flipped) and hole masks come from a few tensor operations on the whole batch.

Cutting crops one at a time in Python on the CPU fed a GPU one step in ten. The random draws (which photo,
where, how big, which hole) are still NumPy draws on the CPU, a few hundred numbers per batch, so a batch stays a
pure function of (seed, rank, step) on any device; only the pixels are made on the device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InpaintError
from .masks import STRATEGIES, center_mask

REDRAWS = 4  # a flat crop (sky, a wall) teaches nothing about filling holes: up to 4 draws, the liveliest kept
BLOCKS, REGION_SHAPES, STROKE_SEGMENTS = 16, 12, 4
COARSE = 4  # px between the samples that decide how many shapes a mask takes


def _pyramid(photo: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """The photo and its halvings (2x2 means), as uint8."""
    out = [photo]
    for _ in range(1, levels):
        out.append(F.avg_pool2d(out[-1][None].float(), 2)[0].round().to(torch.uint8))
    return out


class DeviceCrops:
    """Random multi-scale square crops of `size` px with flips, from photos kept on `device` as one flat uint8
    tensor (no padding: photos of any shape side by side), each with its halvings: a window w times the crop
    reads the halving that leaves it 1-2 times the crop, sampled 2x2 per output pixel, so a shrunk crop is
    antialiased at a quarter of the reads of sampling the full photo 4x4."""

    def __init__(self, photos: list[torch.Tensor], size: int, device: torch.device, max_zoom_out: float = 4.0,
                 min_std: float = 0.04):
        usable = [p for p in photos if min(p.shape[1:]) >= 8]
        if not usable:
            raise InpaintError("no usable photos to train on")
        self.size, self.max_zoom_out, self.min_std, self.device = size, max_zoom_out, min_std, device
        self.levels = 1 + int(math.floor(math.log2(max(1.0, max_zoom_out))))
        pyramids = [_pyramid(p, self.levels) for p in usable]
        self.heights = np.array([[level.shape[1] for level in pyr] for pyr in pyramids])  # (photos, levels)
        self.widths = np.array([[level.shape[2] for level in pyr] for pyr in pyramids])
        sizes = (self.heights * self.widths).reshape(-1)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).reshape(self.heights.shape)
        self.pixels = torch.cat([level.reshape(3, -1) for pyr in pyramids for level in pyr], dim=1).to(device)

    def __len__(self) -> int:
        return len(self.heights)

    def draw(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """(REDRAWS, n) candidate windows: photo, side, top, left and flip, each side log-uniform between the
        model's size (or the photo's short side) and max_zoom_out times it, the position uniform."""
        shape = (REDRAWS, n)
        photo = rng.integers(len(self), size=shape)
        h, w = self.heights[photo, 0], self.widths[photo, 0]
        short = np.minimum(h, w)
        low = np.minimum(self.size, short)
        high = np.maximum(low, np.minimum(short, int(self.size * self.max_zoom_out)))
        side = np.rint(np.exp(rng.uniform(np.log(low), np.log(high)))).astype(np.int64)
        top = (rng.random(shape) * (h - side + 1)).astype(np.int64)
        left = (rng.random(shape) * (w - side + 1)).astype(np.int64)
        return {"photo": photo, "side": side, "top": top, "left": left, "flip": rng.random(shape) < 0.5}

    def cut(self, photo: np.ndarray, side: np.ndarray, top: np.ndarray, left: np.ndarray, flip: np.ndarray) -> torch.Tensor:
        """(n, 3, size, size) float crops in [0, 1] of the given windows, in one gather and one 2x2 mean."""
        level = np.clip(np.floor(np.log2(np.maximum(side / self.size, 1.0))), 0, self.levels - 1).astype(np.int64)
        scale = 2.0 ** level
        t = lambda a, dtype=torch.float32: torch.from_numpy(np.asarray(a)).to(self.device, dtype)  # noqa: E731
        fine = (torch.arange(2 * self.size, device=self.device) + 0.5) / (2 * self.size)  # sample centres in (0, 1)
        extent = t(side / scale)[:, None]
        along = fine[None] * extent  # (n, 2*size): where each sample falls in the window, at its level
        across = torch.where(t(flip, torch.bool)[:, None], extent - along, along)
        height, width = t(self.heights[photo, level], torch.long)[:, None], t(self.widths[photo, level], torch.long)[:, None]
        rows = torch.minimum((t(top / scale)[:, None] + along).long(), height - 1)
        cols = torch.minimum((t(left / scale)[:, None] + across).long(), width - 1)
        index = t(self.offsets[photo, level], torch.long)[:, None, None] + rows[:, :, None] * width[:, :, None] + cols[:, None, :]
        samples = self.pixels.index_select(1, index.reshape(-1)).reshape(3, len(side), 2 * self.size, 2 * self.size)
        return (F.avg_pool2d(samples.float(), 2) / 255.0).transpose(0, 1).contiguous()  # channels first, then crops

    def batch(self, n: int, rng: np.random.Generator) -> torch.Tensor:
        """n crops on the device; a crop flatter than min_std is re-drawn, at most REDRAWS times in all."""
        return self.batch_from_photos(n, rng)[0]

    def batch_from_photos(self, n: int, rng: np.random.Generator) -> tuple[torch.Tensor, np.ndarray]:
        """`batch`, and the index of the photo each crop was cut from (crops of one photo are alike: a score's
        noise is judged photo by photo too)."""
        draws = self.draw(n, rng)
        crops = self.cut(*(v[0] for v in draws.values()))
        photos = draws["photo"][0].copy()
        spread = crops.std(dim=(1, 2, 3))
        for r in range(1, REDRAWS):
            flat = (spread < self.min_std).nonzero().flatten()
            if len(flat) == 0:
                break
            picked = flat.cpu().numpy()
            again = self.cut(*(v[r, picked] for v in draws.values()))
            better = again.std(dim=(1, 2, 3)) > spread[flat]
            crops[flat[better]] = again[better]
            spread[flat[better]] = again.std(dim=(1, 2, 3))[better]
            taken = picked[better.cpu().numpy()]
            photos[taken] = draws["photo"][r, taken]
        return crops, photos


def _paint(inside: torch.Tensor, target: torch.Tensor, ceiling: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Each mask's (n, k, s, s) shapes painted in order until their union covers `target` (a fraction); a
    shape that would take it past `ceiling` is left out and ends it, as a hand paints. Returns which shapes
    were taken, (n, k), and their union, (n, s, s)."""
    union = torch.zeros_like(inside[:, 0])
    growing = torch.ones(len(inside), dtype=torch.bool, device=inside.device)
    taken = torch.zeros(inside.shape[:2], dtype=torch.bool, device=inside.device)
    for k in range(inside.shape[1]):
        grown = union | inside[:, k]
        cover = grown.float().mean(dim=(1, 2))
        taken[:, k] = growing & (cover <= ceiling)
        union = torch.where(taken[:, k, None, None], grown, union)
        growing &= (cover < target) & (cover <= ceiling)
    return taken, union


def _grid(size: int, step: int, device: torch.device) -> torch.Tensor:
    """Pixel centres of a size-px mask, every `step` px (a coarse raster decides coverage cheaply)."""
    return torch.arange(0, size, step, device=device, dtype=torch.float32) + step / 2


def _blocks(n: int, size: int, rng: np.random.Generator, device: torch.device) -> torch.Tensor:
    """Random blocks: rectangles of 1/8-1/3 of the side added until a drawn 8-25% is covered, never over a
    quarter (the rectangle that would pass it is left out)."""
    low, high = max(1, size // 8), max(2, size // 3)
    bh, bw = rng.integers(low, high, size=(2, n, BLOCKS))
    top, left = (rng.random((2, n, BLOCKS)) * (size - np.stack([bh, bw]) + 1)).astype(np.int64)
    t = lambda a: torch.from_numpy(a).to(device)[:, :, None]  # noqa: E731

    pos = torch.arange(size, device=device)
    rows, cols = (pos >= t(top)) & (pos < t(top + bh)), (pos >= t(left)) & (pos < t(left + bw))
    target = torch.from_numpy(rng.uniform(0.08, 0.25, n)).to(device)
    return _paint(rows[..., :, None] & cols[..., None, :], target, ceiling=0.25)[1]


def _regions(n: int, size: int, rng: np.random.Generator, device: torch.device) -> torch.Tensor:
    """Arbitrary shapes: blobs and thick brush strokes (capsules along a 2-4 segment path) added until a drawn
    20-30% is covered, as a hand painting over things would. Each shape is a field, positive inside and in
    pixels, computed on a coarse raster; their maximum is scaled up and cut at 0, which keeps edges smooth."""
    shape = (n, REGION_SHAPES)
    is_blob = rng.random(shape) < 0.5
    start = rng.uniform(0, size, (*shape, 2))  # a blob's centre or a stroke's first point, (x, y)
    radius = np.sqrt(rng.uniform(0.04, 0.12, shape) * size * size / math.pi)
    harmonics = np.array([2, 3, 4])
    amplitude = rng.uniform(0, 1, (*shape, 3)) * 0.5 / harmonics
    phase = rng.uniform(0, 2 * math.pi, (*shape, 3))
    width = np.maximum(1, rng.uniform(0.05, 0.12, shape) * size)
    segments = rng.integers(2, 5, shape)
    angle = rng.uniform(0, 2 * math.pi, (*shape, STROKE_SEGMENTS))
    length = rng.uniform(0.15, 0.35, (*shape, STROKE_SEGMENTS)) * size
    steps = np.stack([length * np.cos(angle), length * np.sin(angle)], axis=-1)
    path = np.concatenate([start[..., None, :], start[..., None, :] + np.cumsum(steps, axis=-2)], axis=-2)
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32)).to(device)[..., None, None]  # noqa: E731
    pos = _grid(size, COARSE, device)
    y, x = pos[:, None], pos[None, :]

    dx, dy = x - t(start[..., 0]), y - t(start[..., 1])
    theta = torch.atan2(dy, dx)[:, :, None]
    wobble = 1 + (t(amplitude) * torch.cos(t(harmonics) * theta + t(phase))).sum(dim=2)
    blob = t(radius) * wobble.clamp_min(0.35) - torch.sqrt(dx * dx + dy * dy)

    nearest = torch.full((n, REGION_SHAPES, len(pos), len(pos)), math.inf, device=device)
    for k in range(STROKE_SEGMENTS):  # squared distance to the path, a segment at a time
        (ax, ay), (bx, by) = (t(path[..., k, i]) for i in (0, 1)), (t(path[..., k + 1, i]) for i in (0, 1))
        u = (((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2).clamp_min(1e-6)).clamp(0, 1)
        d2 = (x - ax - u * (bx - ax)) ** 2 + (y - ay - u * (by - ay)) ** 2
        nearest = torch.where(t(k < segments) > 0, torch.minimum(nearest, d2), nearest)
    stroke = t(width) / 2 - torch.sqrt(nearest)

    field = torch.where(t(is_blob) > 0, blob, stroke)
    taken, _ = _paint(field > 0, t(rng.uniform(0.20, 0.30, n))[:, 0, 0])
    union = field.masked_fill(~taken[..., None, None], -float(size)).amax(dim=1, keepdim=True)
    return F.interpolate(union, size=(size, size), mode="bilinear", align_corners=False)[:, 0] > 0


def hole_masks(strategy: str, n: int, size: int, rng: np.random.Generator, device: torch.device) -> torch.Tensor:
    """(n, 1, size, size) float masks on the device, 1 = hole, for one of masks.STRATEGIES ("mixed" draws one
    of the other three per mask)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown mask strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    kinds = rng.integers(0, 3, n) if strategy == "mixed" else np.full(n, STRATEGIES.index(strategy))
    masks = torch.zeros(n, size, size, dtype=torch.bool, device=device)
    masks[torch.from_numpy(kinds == 0).to(device)] = torch.from_numpy(center_mask(size, size)).to(device)
    for kind, make in ((1, _blocks), (2, _regions)):
        chosen = np.flatnonzero(kinds == kind)
        if len(chosen):
            masks[torch.from_numpy(chosen).to(device)] = make(len(chosen), size, rng, device)
    return masks[:, None].float()
