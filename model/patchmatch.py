"""Patch-based hole filling: Wexler, Shechtman and Irani's multi-scale EM completion with a vectorised PatchMatch.

Every hole pixel ends up as a weighted average of real source patches copied from outside the hole, so texture
survives where diffusion and L2-trained networks blur. Torch only (no compiled code), so the same code runs on
CPU and CUDA; all randomness comes from one seeded torch.Generator, so a seed gives the same fill on one device.

Cost is kept proportional to the hole: with the default "ring" sampling each separate hole runs on its own crop,
and per pyramid level only the patches overlapping the hole (the targets) are searched and voted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from contextfill.model.errors import Cancelled, InpaintError
from contextfill.model.regions import split_regions

SAMPLINGS = ("ring", "image", "region")
QUALITIES = ("fast", "best")


@dataclass
class PatchFillOptions:
    patch_size: int = 7  # odd
    sampling: str = "ring"  # "ring" (band of ring_width px around the hole) | "image" | "region"
    ring_width: int = 96  # px at full resolution, used when sampling == "ring"
    region: np.ndarray | None = None  # bool HxW, True = allowed source area, used when sampling == "region"
    quality: str = "fast"  # "fast" | "best" (more EM iterations / PatchMatch iterations)
    seed: int = 0


@dataclass(frozen=True)
class _Schedule:
    """How much work each preset spends: EM iterations per level, PatchMatch passes per EM step, descriptor size."""

    em_coarse: int  # EM iterations at the level where the search starts
    em_fine: int  # EM iterations at every finer level
    pm_passes: int  # propagation + random-search passes per EM iteration
    dims: int  # PCA dimensions of the patch descriptors used for matching


_SCHEDULES = {"fast": _Schedule(em_coarse=4, em_fine=2, pm_passes=1, dims=12),
              "best": _Schedule(em_coarse=12, em_fine=6, pm_passes=2, dims=32)}

_CONFIDENCE_BASE = 1.3  # Wexler et al.: patch weight 1.3**-d, d = distance of its centre into the hole
_MAX_DEPTH = 24  # depth beyond which confidence stops decaying (only weight ratios matter)
# Sample sizes for the PCA basis and the peel's exhaustive search: at most these, and for a small hole a
# multiple of its size (a dust spot needs no 8192-patch search).
_PCA_SAMPLES = 4096
_SAMPLES_PER_TARGET = 2
_CHUNK = 1 << 16  # targets per distance evaluation, bounds memory on huge holes
_PEEL_SOURCES = 8192  # sources sampled for the exhaustive search that seeds the coarsest level
_PEEL_CHUNK = 1024
# Prior against far sources: cost += _LOCALITY * (distance / hole extent)**2. Near sources are the likeliest
# continuation, but on a smooth gradient (a sky) a strong prior prefers a near source a few rows off, whose
# slightly wrong colour shows as bands: 0.3 left steps of 5 levels on a ramp, 0.05 leaves under 2 and scored
# best on the blobs protocol once votes became robust (patch 16.63 dB against 16.46 at 0.3, 16.49 at 0).
_LOCALITY = 0.05
_MIN_SIDE_PATCHES = 8  # the coarsest level is at least this many patches a side
_MIN_RING = 32  # px of ring sampling kept around even the smallest hole
_SETUP_PIXELS_PER_TARGET = 8  # level pixels whose descriptor table costs about one target's EM iteration
# Votes: similarity exp(-d / 2 sigma^2) with sigma^2 the given percentile of the level's match distances. Broad
# weights while the structure settles, sharp ones at the finest level, where only texture detail is decided.
_SIMILARITY_PERCENTILE = 75
_FINE_PERCENTILE = 10
_MODE_STEPS = 2  # mean-shift steps towards the dominant vote
_MODE_BANDWIDTH = 0.05  # colour distance (0..1 per channel) within which votes count as one mode
_GRADIENT_WEIGHT = 1.0  # luminance gradients beside colour in the patch distance
# Hybrid: weight of the network's patch-mean colour in the patch distance, relative to the patch's own colours, at
# the coarsest level; it halves at every finer level (the network says what goes where, the patches bring texture).
_GUIDE_COARSE = 4.0
_GUIDE_DECAY = 0.5


@dataclass
class _Level:
    """One pyramid level of the working crop; `image` holds the current estimate inside the hole."""

    image: torch.Tensor  # (C,H,W)
    hole: torch.Tensor  # (H,W) bool
    allowed: torch.Tensor  # (H,W) bool, pixels a source patch may cover
    patch: int
    source_ok: torch.Tensor | None = None  # (H*W,) bool, valid source patch centres
    sources: torch.Tensor | None = None  # (M,) flat indices of valid source centres
    targets: torch.Tensor | None = None  # (N,) flat indices of patch centres overlapping the hole
    guide: torch.Tensor | None = None  # (C,H,W) the network's prediction at this level (hybrid), or None

    def __post_init__(self) -> None:
        h, w = self.hole.shape
        r = self.patch // 2
        interior = torch.zeros_like(self.hole)
        interior[r:h - r, r:w - r] = True
        blocked = _dilate(self.hole | ~self.allowed, r)
        self.source_ok = (interior & ~blocked).reshape(-1)
        self.sources = self.source_ok.nonzero().squeeze(1)
        self.targets = (interior & _dilate(self.hole, r)).reshape(-1).nonzero().squeeze(1)

    @property
    def width(self) -> int:
        return self.hole.shape[1]

    @cached_property
    def hole_pixels(self) -> torch.Tensor:
        return self.hole.reshape(-1).nonzero().squeeze(1)

    def at_targets(self, values: torch.Tensor, fill: float) -> torch.Tensor:
        """A per-target tensor spread onto the (H*W,) pixel grid, `fill` elsewhere."""
        dense = torch.full((self.hole.numel(),), fill, dtype=values.dtype, device=values.device)
        dense[self.targets] = values
        return dense

    @cached_property
    def confidence(self) -> torch.Tensor:
        """1.3**-depth of each target centre, depth = square distance to the nearest known pixel (capped)."""
        depth = torch.zeros(self.hole.shape, device=self.hole.device)
        known = (~self.hole).float()[None]
        for step in range(1, _MAX_DEPTH + 1):
            if bool(known.all()):
                break
            grown = F.max_pool2d(known, 3, stride=1, padding=1)
            depth[(grown > known)[0]] = step
            known = grown
        depth[(known == 0)[0]] = _MAX_DEPTH
        return _CONFIDENCE_BASE ** -depth.reshape(-1)[self.targets]


def patch_fill(image: torch.Tensor, hole: torch.Tensor, options: PatchFillOptions | None = None, *,
               init: torch.Tensor | None = None, exclude: torch.Tensor | None = None,
               progress: Callable[[float], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> torch.Tensor:
    """Fill `hole` in `image` from patches of the rest of the image (see the module docstring).

    image: (C,H,W) float32 in [0,1]; hole: (H,W) bool on the same device. Returns (C,H,W) on the same device,
    bit-identical to the input outside the hole. `exclude` (H,W) bool: pixels never copied from (other holes that
    are filled elsewhere). `init` (C,H,W), a context encoder's output (the hybrid method), is the coarsest
    estimate and guides the first search of every level. progress(fraction) is called between iterations;
    Cancelled is raised between iterations once cancel() returns True.
    """
    options = options or PatchFillOptions()
    hole = _check_inputs(image, hole, init, options)
    out = image.clone()
    if not bool(hole.any()):
        _report(progress, 1.0)
        return out
    allowed = _sampling_area(hole, options)
    if exclude is not None:  # other holes, filled elsewhere: never a source
        allowed = allowed & ~exclude.to(device=hole.device, dtype=torch.bool)
    groups = _groups(hole, options)
    total, done = sum(size for _, size in groups), 0
    for group, size in groups:
        (y0, y1, x0, x1), work_allowed = _crop_box(hole, allowed, options, group)
        crop = (slice(None), slice(y0, y1), slice(x0, x1))
        work_hole = hole[y0:y1, x0:x1]
        work_image = image[crop].float()
        work_init = None if init is None else torch.where(work_hole, init[crop].float(), work_image)
        part = None if progress is None else (lambda f, a=done: progress((a + f * size) / total))
        filled = _complete(work_image, work_hole, work_allowed, work_init, options, part, cancel)
        out[crop] = torch.where(work_hole, filled.clamp(0, 1).to(image.dtype), out[crop])
        done += size
    _report(progress, 1.0)
    return out


def _groups(hole: torch.Tensor, options: PatchFillOptions) -> list[tuple[tuple[int, int, int, int], int]]:
    """Bounding boxes (y0, y1, x0, x1) of the holes to fill in separate crops, with their pixel counts.

    With ring sampling each separate hole gets its own crop, so 200 dust spots on a 24 MP photo cost 200 small
    fills, not one over the whole photo (a neighbouring hole inside a crop is filled there too, from the
    original pixels, and again in its own crop). Other samplings read from anywhere in the area: one crop.
    """
    if options.sampling != "ring":
        return [(_bbox(hole), int(hole.sum()))]
    regions = split_regions(hole.cpu().numpy())
    return [((r.top, r.bottom, r.left, r.right), int(r.cells.sum())) for r in regions]


def _check_inputs(image: torch.Tensor, hole: torch.Tensor, init: torch.Tensor | None,
                  options: PatchFillOptions) -> torch.Tensor:
    """Fail with a clear InpaintError on anything a caller could get wrong; return the hole as bool."""
    if image.dim() != 3 or not image.is_floating_point():
        raise InpaintError(f"image must be a (C,H,W) float tensor, got {tuple(image.shape)} {image.dtype}")
    if tuple(hole.shape) != tuple(image.shape[1:]):
        raise InpaintError(f"hole has shape {tuple(hole.shape)}, image is {tuple(image.shape[1:])}")
    if init is not None and tuple(init.shape) != tuple(image.shape):
        raise InpaintError(f"init has shape {tuple(init.shape)}, image is {tuple(image.shape)}")
    if options.patch_size < 1 or options.patch_size % 2 == 0:
        raise InpaintError(f"patch_size must be a positive odd number, got {options.patch_size}")
    if options.sampling not in SAMPLINGS:
        raise InpaintError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {options.sampling!r}")
    if options.quality not in QUALITIES:
        raise InpaintError(f"quality must be one of {', '.join(QUALITIES)}, got {options.quality!r}")
    if options.sampling == "ring" and options.ring_width < 1:
        raise InpaintError(f"ring_width must be at least 1 pixel, got {options.ring_width}")
    if options.sampling == "region":
        if options.region is None or tuple(options.region.shape) != tuple(image.shape[1:]):
            raise InpaintError("sampling 'region' needs a bool region of the image's size")
    hole = hole.to(device=image.device, dtype=torch.bool)
    if bool(hole.all()):
        raise InpaintError("the hole covers the whole image: there is nothing to copy from")
    return hole


def _report(progress: Callable[[float], None] | None, fraction: float) -> None:
    if progress is not None:
        progress(min(1.0, fraction))


def _sampling_area(hole: torch.Tensor, options: PatchFillOptions) -> torch.Tensor:
    """Pixels source patches may cover, at full resolution (the hole itself is excluded later)."""
    if options.sampling == "region":
        allowed = torch.as_tensor(np.asarray(options.region, dtype=bool), device=hole.device)
        if not bool((allowed & ~hole).any()):
            raise InpaintError("the sampling region has no pixels outside the hole")
        return allowed
    return torch.ones_like(hole)


def _crop_box(hole: torch.Tensor, allowed: torch.Tensor, options: PatchFillOptions,
              box: tuple[int, int, int, int]) -> tuple[tuple[int, int, int, int], torch.Tensor]:
    """Crop around the holes in `box` holding everything their fill may read, and the sampling area inside it
    (a band of ring_width around the holes for "ring")."""
    y0, y1, x0, x1 = _bbox(hole | allowed) if options.sampling == "region" else box
    # A small hole needs no 96 px of ring to find its texture: twice its size will do, and costs far less.
    ring = min(options.ring_width, max(_MIN_RING, 2 * max(y1 - y0, x1 - x0)))
    margin = options.patch_size + (ring if options.sampling == "ring" else 0)
    h, w = hole.shape
    y0, y1, x0, x1 = max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)
    if options.sampling == "ring":
        return (y0, y1, x0, x1), _dilate(hole[y0:y1, x0:x1], ring + options.patch_size // 2) & allowed[y0:y1, x0:x1]
    return (y0, y1, x0, x1), allowed[y0:y1, x0:x1]


def _bbox(mask: torch.Tensor) -> tuple[int, int, int, int]:
    rows = mask.any(1).nonzero()
    cols = mask.any(0).nonzero()
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Square dilation in O(log radius) passes: 3-tap max filters with dilations 1, 2, 4... sum to any radius."""
    if radius <= 0:
        return mask.clone()
    x = mask[None, None].float()
    step, reach = 1, 0
    while reach < radius:
        step = min(step, radius - reach)
        x = F.max_pool2d(F.pad(x, (step, step, 0, 0)), (1, 3), stride=1, dilation=(1, step))
        x = F.max_pool2d(F.pad(x, (0, 0, step, step)), (3, 1), stride=1, dilation=(step, 1))
        reach += step
        step *= 2
    return x[0, 0] > 0


def _complete(image: torch.Tensor, hole: torch.Tensor, allowed: torch.Tensor, init: torch.Tensor | None,
              options: PatchFillOptions, progress: Callable[[float], None] | None,
              cancel: Callable[[], bool] | None) -> torch.Tensor:
    """Coarse-to-fine EM on the crop; returns the crop with the hole filled.

    Every level votes with a robust mean of all overlapping patches (no pasted blocks, no stair-steps); with
    `init` (the hybrid) the network's prediction is the coarsest estimate and a term of the patch distance in
    each level's first iteration.
    """
    schedule = _SCHEDULES[options.quality]
    generator = torch.Generator(device=image.device)
    generator.manual_seed(options.seed)
    levels = _pyramid(image, hole, allowed, options.patch_size)
    if init is not None:
        guide = init
        for level in levels:
            level.guide = guide[:, :level.hole.shape[0], :level.hole.shape[1]]
            guide = F.avg_pool2d(guide[None], 2, ceil_mode=True)[0]
    start = len(levels) - 1
    _initial_estimate(levels[start], generator)
    iterations = [schedule.em_fine] * start + [schedule.em_coarse]
    meter = _Progress(progress, levels[:start + 1], iterations)
    meter.advance(meter.start_cost)
    basis = _pca_basis(levels[0], schedule.dims, generator)
    nnf = levels[start].sources[torch.randint(len(levels[start].sources), levels[start].targets.shape,
                                              generator=generator, device=image.device)]
    for index in range(start, -1, -1):
        level = levels[index]
        if index < start:
            nnf = _upsample_field(levels[index + 1], nnf, level, generator)
            # Rebuild the estimate from the carried matches (full-resolution texture) instead of starting the
            # level from the coarser estimate magnified (a blur the search would then match to).
            level.image = _vote(level, nnf, torch.zeros(nnf.shape, device=nnf.device))
        search = _Search(level, basis, generator, full_jumps=index == start,
                         guidance=_GUIDE_COARSE * _GUIDE_DECAY ** (len(levels) - 1 - index))
        meter.advance(_setup_cost(level))
        for _ in range(iterations[index]):
            if cancel is not None and cancel():
                raise Cancelled()
            nnf, dist = search.run(nnf, schedule.pm_passes)
            # The network places things once per level; the level's later iterations match texture alone, so
            # the matches grow coherent (no shredded fragments) and a wrong guess of the network fades.
            search.guidance = 0.0
            level.image = _vote(level, nnf, dist, modes=0 if 0 < index == start else _MODE_STEPS,
                                percentile=_FINE_PERCENTILE if index == 0 else _SIMILARITY_PERCENTILE)
            meter.advance(len(level.targets))
    return levels[0].image


class _Progress:
    """Reports the fraction of the estimated work done, in units of one target's search and vote, so the bar moves
    steadily: the initial estimate, each level's descriptor table and every EM iteration at every level count."""

    def __init__(self, progress: Callable[[float], None] | None, levels: list[_Level], iterations: list[int]) -> None:
        self.progress, self.done = progress, 0.0
        self.start_cost = float(len(levels[-1].targets))
        self.total = self.start_cost + sum(_setup_cost(level) + n * len(level.targets)
                                           for level, n in zip(levels, iterations))

    def advance(self, units: float) -> None:
        self.done += units
        _report(self.progress, self.done / self.total)


def _setup_cost(level: _Level) -> float:
    """Per-level fixed work (descriptor table over the whole level) in target-iteration units (measured, rough)."""
    return level.hole.numel() / _SETUP_PIXELS_PER_TARGET


def _pyramid(image: torch.Tensor, hole: torch.Tensor, allowed: torch.Tensor, patch: int) -> list[_Level]:
    """Levels from fine to coarse, down to where the hole is at most about two patches across.

    The patch shrinks (odd, down to 1) when the crop is too small or has no whole source patch for it.
    """
    for size in range(min(patch, _largest_odd(min(hole.shape))), 0, -2):
        level = _Level(image, hole, allowed, size)
        if len(level.sources):
            break
    else:
        raise InpaintError("no source pixels outside the hole in the sampling area")
    levels = [level]
    while _needs_coarser(levels[-1]):
        coarser = _downsample(levels[-1])
        # Too coarse once whole patches of the surroundings are rare: the few left mix everything (a wall's
        # colour with the animal in front of it) and the fill starts from the wrong thing.
        if min(coarser.hole.shape) < _MIN_SIDE_PATCHES * coarser.patch or len(coarser.sources) == 0:
            break
        levels.append(coarser)
    return levels


def _largest_odd(n: int) -> int:
    return n if n % 2 else n - 1


def _needs_coarser(level: _Level) -> bool:
    """A hole with pixels more than a patch away from any known pixel is first solved at a coarser scale."""
    return not bool(_dilate(~level.hole, level.patch).all())


def _downsample(level: _Level) -> _Level:
    """Halve a level: known colours are averaged over known pixels only; any hole pixel makes the block a hole."""
    known = (~level.hole).float()[None]
    num = F.avg_pool2d((level.image * known)[None], 2, ceil_mode=True)[0]
    den = F.avg_pool2d(known[None], 2, ceil_mode=True)[0]
    hole = F.max_pool2d(level.hole.float()[None, None], 2, ceil_mode=True)[0, 0] > 0
    allowed = -F.max_pool2d(-level.allowed.float()[None, None], 2, ceil_mode=True)[0, 0] > 0
    image = torch.where(hole, torch.zeros_like(num), num / den.clamp_min(1e-8))
    return _Level(image, hole, allowed, level.patch)


def _initial_estimate(level: _Level, generator: torch.Generator) -> None:
    """Fill the starting level's hole: the network's prediction (hybrid), or peeled in from the boundary."""
    level.image = _onion_peel(level, generator) if level.guide is None else torch.where(level.hole, level.guide, level.image)


def _onion_peel(level: _Level, generator: torch.Generator) -> torch.Tensor:
    """Fill the hole ring by ring from its boundary, each pixel copied from the source patch best matching its
    already-known neighbours (exhaustive masked search over a sample of sources).

    A smooth start (diffusion, mean colour) lets EM settle on flat patches and stay blurred; this start already has
    texture, which EM then only has to make coherent.
    """
    image = level.image.clone()
    c, h, w = image.shape
    r = level.patch // 2
    offsets = _offsets(level.patch, w, image.device)
    pool = level.sources
    n = min(_PEEL_SOURCES, max(1024, _SAMPLES_PER_TARGET * len(level.targets)))
    if len(pool) > n:
        pool = pool[torch.randperm(len(pool), generator=generator, device=pool.device)[:n]]
    sources = _patches(image, pool, offsets)
    sources_sq = sources.square()
    flat = image.reshape(c, -1)
    known = ~level.hole
    while not bool(known.all()):
        front = (_dilate(known, 1) & ~known).reshape(-1).nonzero().squeeze(1)
        fy, fx = front // w, front % w
        centres = fy.clamp(r, h - 1 - r) * w + fx.clamp(r, w - 1 - r)
        for part in torch.split(torch.arange(len(front), device=front.device), _PEEL_CHUNK):
            target = _patches(image, centres[part], offsets)
            mask = _patches(known.expand(c, h, w).float(), centres[part], offsets)
            cost = (mask * target) @ sources.T * -2 + mask @ sources_sq.T
            best = pool[cost.argmin(1)]
            flat[:, front[part]] = flat[:, best + front[part] - centres[part]]
        known = known.reshape(-1).clone()
        known[front] = True
        known = known.reshape(h, w)
    return image


def _upsample_field(coarse: _Level, nnf: torch.Tensor, fine: _Level, generator: torch.Generator) -> torch.Tensor:
    """Carry matches to the finer level: source (y,x) -> (2y + dy, 2x + dx) for each child offset (dy,dx)."""
    lookup = coarse.at_targets(nnf, -1)
    h, w = fine.hole.shape
    ty, tx = fine.targets // w, fine.targets % w
    parent = lookup[(ty // 2) * coarse.width + tx // 2]
    sy = (parent // coarse.width) * 2 + ty % 2
    sx = (parent % coarse.width) * 2 + tx % 2
    ok = (parent >= 0) & (sy < h) & (sx < w)
    flat = torch.where(ok, sy * w + sx, 0)
    ok &= fine.source_ok[flat]
    random = fine.sources[torch.randint(len(fine.sources), flat.shape, generator=generator, device=flat.device)]
    return torch.where(ok, flat, random)


class _Search:
    """Vectorised PatchMatch on one level: every target improves at once (jump-flood propagation + random search).

    Patches are compared through PCA descriptors (a few dozen numbers instead of C*p*p), computed once per level
    for all sources by convolution, and per EM iteration for the targets only.
    """

    def __init__(self, level: _Level, basis: torch.Tensor, generator: torch.Generator, full_jumps: bool,
                 guidance: float = 0.0) -> None:
        self.level, self.generator, self.guidance = level, generator, guidance
        h, w = level.hole.shape
        p = level.patch
        self.offsets = _offsets(p, w, level.hole.device)
        self.ty, self.tx = level.targets // w, level.targets % w
        self.basis = basis
        self.table = _source_descriptors(level, self.basis)
        if level.guide is not None and guidance > 0:
            # The network says what goes where through each patch's mean colour only: matching its (blurred)
            # texture too would pull in flat patches and blur the fill.
            box = lambda im: F.avg_pool2d(im[None], p, 1, p // 2, count_include_pad=False)[0].reshape(im.shape[0], -1).T  # noqa: E731
            self.source_means = box(level.image)
            self.guide_means = box(level.guide)[level.targets]
            self.guide_scale = guidance * p * p
        reach = max(1, int(max(self.ty.max() - self.ty.min(), self.tx.max() - self.tx.min())) // 2)
        jumps = [1 << k for k in range(reach.bit_length() - 1, -1, -1)] if full_jumps else [4, 2, 1]
        self.jumps = [j for j in jumps if j <= max(reach, 1)] or [1]
        self.locality = _LOCALITY / (2 * reach) ** 2
        self.radii = torch.tensor([r for r in (max(h, w) >> k for k in range(32)) if r >= 1], device=level.hole.device)

    def run(self, nnf: torch.Tensor, passes: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Improve `nnf` against the current estimate; return it with its descriptor distances."""
        self.query = self._descriptors(self.level.image)
        dist = self._distance(nnf[None])[0]
        for _ in range(passes):
            for jump in self.jumps:
                nnf, dist = self._keep_best(nnf, dist, self._propagated(nnf, jump))
            for radii in torch.split(self.radii, 4):
                nnf, dist = self._keep_best(nnf, dist, self._random_candidates(nnf, radii))
        return nnf, dist

    def _descriptors(self, image: torch.Tensor) -> torch.Tensor:
        """Descriptors of the targets' patches in the current estimate (convolution over the targets' rows)."""
        y0, y1 = int(self.ty.min()), int(self.ty.max()) + 1
        rows = _descriptor_rows(_features(image), self.basis, self.level.patch, y0, y1)
        return rows[self.ty - y0, self.tx]

    def _propagated(self, nnf: torch.Tensor, jump: int) -> torch.Tensor:
        """Candidates from the four neighbours `jump` away, shifted back: a coherent continuation of their match."""
        level = self.level
        h, w = level.hole.shape
        lookup = level.at_targets(nnf, -1)
        candidates = []
        for dy, dx in ((jump, 0), (-jump, 0), (0, jump), (0, -jump)):
            ny, nx = self.ty + dy, self.tx + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            theirs = lookup[torch.where(inside, ny * w + nx, 0)]
            candidates.append(self._valid(theirs // w - dy, theirs % w - dx, inside & (theirs >= 0)))
        return torch.stack(candidates)

    def _random_candidates(self, nnf: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
        """PatchMatch random search: one sample in each window of halving radius around the current match."""
        w = self.level.width
        radii = radii[:, None]
        shape = (len(radii), len(nnf))
        oy = (torch.rand(shape, generator=self.generator, device=nnf.device) * (2 * radii + 1)).long() - radii
        ox = (torch.rand(shape, generator=self.generator, device=nnf.device) * (2 * radii + 1)).long() - radii
        return self._valid(nnf // w + oy, nnf % w + ox, torch.ones_like(oy, dtype=torch.bool))

    def _valid(self, sy: torch.Tensor, sx: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        """Flat source indices, -1 where the candidate is off the image or not a valid source patch."""
        h, w = self.level.hole.shape
        ok = ok & (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
        flat = torch.where(ok, sy * w + sx, 0)
        return torch.where(ok & self.level.source_ok[flat], flat, -1)

    def _keep_best(self, nnf: torch.Tensor, dist: torch.Tensor,
                   candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cand_dist = self._distance(candidates)
        best, which = cand_dist.min(0)
        better = best < dist
        chosen = candidates.gather(0, which[None])[0]
        return torch.where(better, chosen, nnf), torch.where(better, best, dist)

    def _distance(self, candidates: torch.Tensor) -> torch.Tensor:
        """Squared descriptor distance of each target to each candidate (K,N) plus the locality prior; inf for
        invalid candidates."""
        w = self.level.width
        out = torch.empty(candidates.shape, device=candidates.device)
        step = max(1, _CHUNK // candidates.shape[0])
        for start in range(0, candidates.shape[1], step):
            part = candidates[:, start:start + step]
            source = part.clamp_min(0)
            ty, tx = self.ty[start:start + step], self.tx[start:start + step]
            far = (source // w - ty).square() + (source % w - tx).square()
            cost = (self.table[source] - self.query[start:start + step]).square().sum(-1) + self.locality * far
            if self.guidance > 0 and self.level.guide is not None:
                cost = cost + self.guide_scale * (self.source_means[source] - self.guide_means[start:start + step]).square().sum(-1)
            out[:, start:start + step] = torch.where(part >= 0, cost, math.inf)
        return out


def _features(image: torch.Tensor) -> torch.Tensor:
    """Colour plus weighted luminance gradients (Darabi et al.'s Image Melding): patches are matched on where
    their edges run too, so a continued edge lines up instead of landing a pixel or two off."""
    lum = F.pad(image.mean(0, keepdim=True)[None], (1, 1, 1, 1), mode="replicate")[0]
    gx = (lum[:, 1:-1, 2:] - lum[:, 1:-1, :-2]) / 2
    gy = (lum[:, 2:, 1:-1] - lum[:, :-2, 1:-1]) / 2
    return torch.cat([image, _GRADIENT_WEIGHT * gx, _GRADIENT_WEIGHT * gy]) if _GRADIENT_WEIGHT > 0 else image


def _offsets(patch: int, width: int, device: torch.device) -> torch.Tensor:
    """Flat index offsets of a patch's pixels from its centre, row by row."""
    r = torch.arange(patch, device=device) - patch // 2
    return (r[:, None] * width + r[None, :]).reshape(-1)


def _vote_offsets(patch: int, width: int, device: torch.device) -> torch.Tensor:
    """The overlapping patches that vote for a pixel, on a checkerboard: half the cost of all p*p of them, and
    still every direction around the pixel."""
    r = torch.arange(patch, device=device) - patch // 2
    dy, dx = r[:, None].expand(patch, patch), r[None, :].expand(patch, patch)
    keep = (dy + dx) % 2 == 0
    return (dy * width + dx)[keep]


def _patches(image: torch.Tensor, centres: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """(N, C*p*p) patch vectors around flat `centres`, in the (C, dy, dx) order of a conv weight."""
    flat = image.reshape(image.shape[0], -1)
    return flat[:, centres[:, None] + offsets[None, :]].permute(1, 0, 2).reshape(len(centres), -1)


def _pca_basis(level: _Level, dims: int, generator: torch.Generator) -> torch.Tensor:
    """(C*p*p, d) principal directions of the level's source patches: distances in d numbers, nearly exact.

    Computed once per fill: patch statistics barely change from one pyramid level to the next.
    """
    offsets = _offsets(level.patch, level.width, level.hole.device)
    sources = level.sources
    n = min(_PCA_SAMPLES, max(512, _SAMPLES_PER_TARGET * len(level.targets)))
    if len(sources) > n:
        sources = sources[torch.randint(len(sources), (n,), generator=generator, device=sources.device)]
    samples = _patches(_features(level.image), sources, offsets)
    if samples.shape[1] <= dims:
        return torch.eye(samples.shape[1], device=samples.device)
    centred = samples - samples.mean(0)
    scatter = centred.T @ centred
    # A small ridge keeps flat or repetitive crops (many equal eigenvalues) solvable.
    scatter += torch.eye(len(scatter), dtype=scatter.dtype, device=scatter.device) * (1e-4 * float(scatter.trace()) / len(scatter) + 1e-8)
    _, vectors = torch.linalg.eigh(scatter)
    return vectors[:, -dims:].contiguous()


def _source_descriptors(level: _Level, basis: torch.Tensor) -> torch.Tensor:
    """(H*W, d) descriptor of the patch centred at every pixel (zero near the border)."""
    h, w = level.hole.shape
    return _descriptor_rows(_features(level.image), basis, level.patch, 0, h).reshape(h * w, -1)


def _descriptor_rows(features: torch.Tensor, basis: torch.Tensor, patch: int, y0: int, y1: int,
                     strip: int = 256) -> torch.Tensor:
    """(y1 - y0, W, d) descriptors of the patches centred on rows y0..y1 (zero within patch // 2 of the border),
    by convolution in strips: far cheaper than gathering every patch's pixels."""
    c, h, w = features.shape
    r = patch // 2
    weight = basis.T.reshape(-1, c, patch, patch)
    table = torch.zeros(y1 - y0, w, weight.shape[0], device=features.device)
    for y in range(max(y0, r), min(y1, h - r), strip):
        end = min(y + strip, y1, h - r)
        rows = features[None, :, y - r:end + r]
        table[y - y0:end - y0, r:w - r] = F.conv2d(rows, weight)[0].permute(1, 2, 0)
    return table


def _vote(level: _Level, nnf: torch.Tensor, dist: torch.Tensor, modes: int = _MODE_STEPS,
          percentile: int = 75) -> torch.Tensor:
    """Each hole pixel becomes the robust mean of the pixels that every overlapping matched patch puts there.

    Weights follow Wexler et al.: similarity exp(-d / 2 sigma^2) times a confidence decaying with the patch
    centre's depth into the hole. A plain weighted mean blurs wherever matches disagree (a stochastic texture),
    and the best patch alone leaves stair-stepped block edges; so the mean is moved by a few mean-shift steps
    to the dominant mode of the votes (Wexler et al.'s mean-shift vote): outlier votes lose their weight, and
    where the votes agree the result is the same pixel either way. Written as a gather per hole pixel (the p*p
    patches covering it): no scatter, so it is deterministic on every device too.
    """
    image = level.image
    c, h, w = image.shape
    finite = dist[torch.isfinite(dist)]
    sigma2 = float(finite.kthvalue(max(1, (len(finite) * percentile) // 100)).values) if len(finite) else 1.0
    weight = torch.exp(-(dist / (2 * max(sigma2, 1e-6))).clamp(max=30.0)) * level.confidence
    source_of, weight_of = level.at_targets(nnf, -1), level.at_targets(weight, 0.0)
    flat = image.reshape(c, -1)
    out = flat.clone()
    offsets = _vote_offsets(level.patch, w, image.device)[:, None]
    for pixels in torch.split(level.hole_pixels, _CHUNK):
        centres = pixels[None] - offsets  # (p*p, n): centres of the patches covering each pixel
        inside = (centres >= 0) & (centres < h * w)
        centres = centres.clamp(0, h * w - 1)
        weights = torch.where(inside, weight_of[centres], 0.0)
        values = flat[:, (source_of[centres] + offsets).clamp(0, h * w - 1)]  # (c, p*p, n)
        mean = (values * weights).sum(1) / weights.sum(0).clamp_min(1e-30)
        if modes:
            mean = values.gather(1, weights.argmax(0)[None, None].expand(c, 1, -1))[:, 0]
        for _ in range(modes):
            near = weights * torch.exp(-(values - mean[:, None]).square().sum(0) / (2 * _MODE_BANDWIDTH**2))
            mean = (values * near).sum(1) / near.sum(0).clamp_min(1e-30)
        out[:, pixels] = mean
    return out.reshape(c, h, w)
