"""Patch-based hole filling: Wexler, Shechtman and Irani's multi-scale EM completion with a vectorised PatchMatch.

Every hole pixel ends up as a weighted average of the real source patches that overlap it, so texture survives
where diffusion and L2-trained networks blur. What viewers keep (blind A/B tests against PyPatchMatch) decided
its shape: the layout of the fill is settled at coarse scales from the photo around the hole, matches are
kept coherent so whole pieces of real texture are copied, and overlapping patches are averaged, so two copied
pieces blend over a patch width where they meet. The last step solves the fill into the photo in the gradient
domain with the differences the copied pieces have (not the steps between them), so a faint seam between two
pieces of one texture, the straight-edged blocks the judges named most, is solved away. Torch only (no compiled code), so the same code runs on
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

from contextfill.model.blend import poisson_blend
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
    """How much work each preset spends. Level L (0 = full resolution) runs min(em_max, 1 + 2L) EM iterations of
    min(pm_max, 1 + L) PatchMatch passes (PyPatchMatch's schedule, capped): coarse levels, where the layout is
    decided and work is cheap, iterate most."""

    em_max: int
    pm_max: int
    dims: int  # PCA dimensions of the patch descriptors used for matching

    def em(self, level: int, first: bool) -> int:
        """EM iterations at `level`; the level where the search starts (`first`: random matches) gets at least
        four, or a small hole solved at full resolution alone would keep half-converged matches."""
        return max(min(self.em_max, 1 + 2 * level), 4 if first else 1)

    def passes(self, level: int, first: bool) -> int:
        return max(min(self.pm_max, 1 + level), 2 if first else 1)


# 48 descriptor dimensions: with 12, busy textures (a crowd) matched on their low frequencies alone, and the
# votes of matches that disagreed in detail averaged into pale, washed-out patches.
_SCHEDULES = {"fast": _Schedule(em_max=7, pm_max=3, dims=48),
              "best": _Schedule(em_max=13, pm_max=7, dims=64)}

# Sample sizes for the PCA basis: at most this, and for a small hole a multiple of its size.
_PCA_SAMPLES = 4096
_SAMPLES_PER_TARGET = 2
_CHUNK = 1 << 16  # targets per distance evaluation, bounds memory on huge holes
_VOTE_CHUNK = 1 << 14  # hole pixels per vote step (each gathers p*p patches)
# Prior against far sources: cost += _LOCALITY * (distance / hole extent)**2. Near sources are the likeliest
# continuation, but on a smooth gradient (a sky) a strong prior prefers a near source a few rows off, whose
# slightly wrong colour shows as bands.
_LOCALITY = 0.05
# A candidate propagated from an adjacent target (the continuation of its copy) competes with its distance times
# this: neighbours copy neighbouring source pixels, so whole pieces of texture are copied and averaging the
# overlapping patches reproduces them exactly instead of blurring unrelated matches together. At 1.0 the blind
# judges named blur and smears first (gradient ratio 0.36 on blobs against PyPatchMatch's 0.69); 0.4 brought it
# to 0.6 and the pairs kept from 26% to 42%; 0.25 was sharper still but carried structures too far.
_COHERENCE = 0.4
_MIN_RING = 32  # px of ring sampling kept around even the smallest hole
_SETUP_PIXELS_PER_TARGET = 8  # level pixels whose descriptor table costs about one target's EM iteration
_MIN_SIDE_PATCHES = 4  # the coarsest level is at least this many patches a side
# Votes: PyPatchMatch's similarity of a match's mean squared difference per element (1 for equal patches, 0.38
# at 0.04, nothing beyond 0.1): nearly every decent match counts alike, so the estimate stays a coherent average.
# At full resolution the weights sharpen to exp(-d / 2 sigma^2), sigma^2 the given percentile of the distances,
# so the texture detail comes from the best matches (gradient ratio 0.67 -> 0.86 on eight of the hardest blobs cases).
_SIMILARITY = (1.0, 0.99, 0.96, 0.83, 0.38, 0.11, 0.02, 0.005, 0.0006, 0.0001, 0.0)
_SIMILARITY_STEP = 0.01
_FINE_PERCENTILE = 25
# Luminance gradients beside colour in the patch distance (Darabi et al.'s Image Melding), weighted so that a
# flat patch no longer matches a textured one nearly as well as its own kind does (the blur the judges saw). At 3.0
# pale smooth pieces were copied into fur (the judges' "blurry blotches" on a cat's forehead and in a black cat's
# fur; gone by eye at 1.5 and 1.0). Blind judges, two per weight, kept the fills over PyPatchMatch's (of 19):
#   weight   blobs     large
#   3.0      10, 10    13, 13
#   1.5      13, 12    11, 12, 13, 12
#   1.0      14, 13    13, 13   (two more judges each, the A/B order drawn again: 14, 13 and 12, 12)
#   0.5      11, 12    10, 12
_GRADIENT_WEIGHT = 1.0
# Seams between copied pieces are solved away in the gradient domain when the step across them (summed over a patch
# width, root of the sum of squares over the colour channels, 0..1 units) is below this; it fades out smoothly
# above. Judged on 2x crops: at 0.15 a sunrise's diagonal seam across the grass stayed; at 0.3 and with the step
# measured per pixel, an orange fin began to spread into its black background.
_SEAM_STEP = 0.25
# Hybrid: weight of the network's patch-mean colour in the patch distance, relative to the patch's own colours, at
# the coarsest level; it halves at every finer level (the network says what goes where, the patches bring texture).
_GUIDE_COARSE = 4.0
_GUIDE_DECAY = 0.5
# Downsampling kernel (binomial, 6 taps, as PyPatchMatch's): a coarse pixel is known when any known pixel lies
# under its kernel, so holes shrink at coarse scales and their layout is extrapolated from the surroundings.
_KERNEL = (1.0, 5.0, 10.0, 10.0, 5.0, 1.0)


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


def patch_fill(image: torch.Tensor, hole: torch.Tensor, options: PatchFillOptions | None = None, *,
               init: torch.Tensor | None = None, exclude: torch.Tensor | None = None, blend: bool = True,
               progress: Callable[[float], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> torch.Tensor:
    """Fill `hole` in `image` from patches of the rest of the image (see the module docstring).

    image: (C,H,W) float32 in [0,1]; hole: (H,W) bool on the same device. Returns (C,H,W) on the same device,
    bit-identical to the input outside the hole. `exclude` (H,W) bool: pixels never copied from (other holes that
    are filled elsewhere). `init` (C,H,W), a context encoder's output (the hybrid method), is the coarsest
    estimate and guides the first search of every level. With `blend` the fill is solved into its surroundings in
    the gradient domain, which also removes the seams between copied pieces (see _seamless_differences).
    progress(fraction) is called between iterations; Cancelled is raised between iterations once cancel() returns
    True.
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
        filled = _complete(work_image, work_hole, work_allowed, work_init, options, blend, part, cancel)
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
              options: PatchFillOptions, blend: bool, progress: Callable[[float], None] | None,
              cancel: Callable[[], bool] | None) -> torch.Tensor:
    """Coarse-to-fine EM on the crop; returns the crop with the hole filled (and blended, with `blend`).

    The coarsest level starts from a smooth guess (pull-push from the surroundings) or, for the hybrid, from the
    network's prediction, which also steers each level's first search. Each finer level starts from the coarser
    result magnified, rebuilt where it can be from the carried matches at full detail, and is then improved by
    EM: search every target's best source patch, average the overlapping patches.
    """
    schedule = _SCHEDULES[options.quality]
    generator = torch.Generator(device=image.device)
    generator.manual_seed(options.seed)
    levels = _pyramid(image, hole, allowed, options.patch_size, shrink=init is None)
    if init is not None:
        guide = init
        for level in levels:
            level.guide = guide
            guide = _halve(guide)
    start = len(levels) - 1
    coarse = levels[start]
    first = coarse.guide if coarse.guide is not None else _pull_push(coarse.image, ~coarse.hole)
    coarse.image = torch.where(coarse.hole, first, coarse.image)
    iterations = [schedule.em(index, index == start) for index in range(len(levels))]
    meter = _Progress(progress, levels, iterations)
    basis = _pca_basis(levels[0], schedule.dims, generator)
    nnf = coarse.sources[torch.randint(len(coarse.sources), coarse.targets.shape, generator=generator,
                                       device=image.device)]
    for index in range(start, -1, -1):
        level = levels[index]
        if index < start:
            h, w = level.hole.shape
            coarser = levels[index + 1]
            magnified = F.interpolate(coarser.image[None], scale_factor=2, mode="bilinear",
                                      align_corners=False)[0, :, :h, :w]
            if level.guide is not None:
                # Hole pixels the coarser level only extrapolated (its hole was smaller) take the network's guess.
                solved = F.interpolate(coarser.hole[None, None].float(), scale_factor=2)[0, 0, :h, :w] > 0
                magnified = torch.where(solved, magnified, level.guide)
            level.image = torch.where(level.hole, magnified, level.image)
            # Rebuild from the carried matches (full-resolution texture) where they exist, instead of letting the
            # search match the magnified blur.
            nnf, carried = _upsample_field(coarser, nnf, level, generator)
            level.image = _vote(level, nnf, torch.where(carried, 0.0, math.inf))
        # Where the plain fill's search starts from random matches, a coherence bonus would let the first row's
        # matches run down whole columns: axis-aligned blocks that every finer level keeps (the straight cut through
        # a coffee cup the judges named). There matches compete on their distance alone. The hybrid's first search
        # there is the network's (no bonus while guided), and the bonus then keeps the layout it chose.
        search = _Search(level, basis, generator, guidance=_GUIDE_COARSE * _GUIDE_DECAY ** (len(levels) - 1 - index),
                         coherence=1.0 if index == start and init is None else _COHERENCE)
        meter.advance(_setup_cost(level))
        for _ in range(iterations[index]):
            if cancel is not None and cancel():
                raise Cancelled()
            nnf, dist = search.run(nnf, schedule.passes(index, index == start))
            # The network places things once per level; the level's later iterations match texture alone, so
            # the matches grow coherent (no shredded fragments) and a wrong guess of the network fades.
            search.guidance = 0.0
            level.image = _vote(level, nnf, dist, _FINE_PERCENTILE if index == 0 else 0)
            meter.advance(len(level.targets))
    fine = levels[0]
    if not blend:
        return fine.image
    return poisson_blend(image, fine.image, fine.hole, _seamless_differences(fine, nnf, dist))


def _seamless_differences(level: _Level, nnf: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """(4, C, H, W) guidance for blend.poisson_blend: for each hole pixel p and neighbour q = p + d (blend's order)
    the difference f(q) - f(p) to keep. It is the difference that the matched source patches have there, voted like
    the colours: where two copied pieces meet, each piece's own gradient, not the step between them, so solving
    for these differences removes the seam (Darabi et al.'s gradient-domain voting). A step larger than
    _SEAM_STEP is kept as it is: there two pieces of different colour meet (an orange fin against a black
    background), and spreading that step over the hole would be a smear.
    """
    image, hole = level.image, level.hole
    c, h, w = image.shape
    padded = F.pad(image[None], (0, 1, 0, 1), mode="replicate")[0]
    own = torch.cat([padded[:, :h, 1:] - image, padded[:, 1:, :w] - image])  # forward differences along x, y
    # Every edge that touches the hole: the hole's pixels and those just above, left or above-left of it (the
    # last only widen the seam measure below).
    rim = hole | F.pad(hole, (0, 1, 0, 1))[1:, 1:] | F.pad(hole, (0, 0, 0, 1))[1:, :] | F.pad(hole, (0, 1))[:, 1:]
    voted = _vote(level, nnf, dist, _FINE_PERCENTILE, own, rim.reshape(-1).nonzero().squeeze(1))
    # The step across a seam, summed along each direction over a patch width: the vote spreads a seam over about
    # that many pixels, each of them a small step even where the two pieces differ strongly. The fade is steep (the
    # fourth power), so a strong edge leaks nothing: in the dark, a few per cent of one shows as a glow.
    change = (voted - own).reshape(2, c, h, w)
    p = level.patch
    step = torch.stack([F.avg_pool2d(change[0][None], (1, p), 1, (0, p // 2))[0],
                        F.avg_pool2d(change[1][None], (p, 1), 1, (p // 2, 0))[0]]) * p
    change = change * torch.exp(-(step.square().sum(1, keepdim=True) / _SEAM_STEP ** 2).square())
    fx, fy = own[:c] + change[0], own[c:] + change[1]
    back = lambda d, dy, dx: -F.pad(d, (dx, 0, dy, 0))[:, :h, :w]  # noqa: E731  f(p - e) - f(p) = -d(p - e)
    return torch.stack([fx, back(fx, 0, 1), fy, back(fy, 1, 0)])


class _Progress:
    """Reports the fraction of the estimated work done, in units of one target's search and vote, so the bar moves
    steadily: each level's descriptor table and every EM iteration at every level count."""

    def __init__(self, progress: Callable[[float], None] | None, levels: list[_Level], iterations: list[int]) -> None:
        self.progress, self.done = progress, 0.0
        self.total = sum(_setup_cost(level) + n * len(level.targets) for level, n in zip(levels, iterations))

    def advance(self, units: float) -> None:
        self.done += units
        _report(self.progress, self.done / self.total)


def _setup_cost(level: _Level) -> float:
    """Per-level fixed work (descriptor table over the whole level) in target-iteration units (measured, rough)."""
    return level.hole.numel() / _SETUP_PIXELS_PER_TARGET


def _pyramid(image: torch.Tensor, hole: torch.Tensor, allowed: torch.Tensor, patch: int,
             shrink: bool = True) -> list[_Level]:
    """Levels from fine to coarse, down to the last one that still has a hole, or a few patches a side. With
    `shrink` the hole shrinks at coarse levels (its layout is extrapolated from the surroundings); without it (the
    hybrid, whose network gives the layout) it keeps its extent at every level.

    The patch shrinks (odd, down to 1) when the crop is too small or has no whole source patch for it.
    """
    for size in range(min(patch, _largest_odd(min(hole.shape))), 0, -2):
        level = _Level(image, hole, allowed, size)
        if len(level.sources):
            break
    else:
        raise InpaintError("no source pixels outside the hole in the sampling area")
    levels = [level]
    while min(levels[-1].hole.shape) >= _MIN_SIDE_PATCHES * levels[-1].patch:
        coarser = _downsample(levels[-1], shrink)
        if not bool(coarser.hole.any()) or len(coarser.sources) == 0:
            break
        levels.append(coarser)
    return levels


def _largest_odd(n: int) -> int:
    return n if n % 2 else n - 1


def _halve(image: torch.Tensor) -> torch.Tensor:
    """(C,H,W) -> (C,ceil(H/2),ceil(W/2)) box average, the size _downsample gives."""
    padded = F.pad(image[None], (0, image.shape[2] % 2, 0, image.shape[1] % 2), mode="replicate")
    return F.avg_pool2d(padded, 2)[0]


def _downsample(level: _Level, shrink: bool = True) -> _Level:
    """Halve a level with the binomial kernel over known pixels only; a coarse pixel is a hole only when no known
    pixel lies under its kernel (so the hole shrinks, and its surroundings reach in), or without `shrink` when any
    of its four pixels is. A coarse pixel is a possible source only when all four of its pixels were."""
    c, h, w = level.image.shape
    pad = (0, w % 2, 0, h % 2)
    known = F.pad((~level.hole).float()[None, None], pad)
    image = F.pad(level.image[None], pad)
    taps = torch.tensor(_KERNEL, device=image.device)
    kernel = (taps[:, None] * taps[None, :] / taps.sum() ** 2)[None, None]
    num = F.conv2d((image * known).transpose(0, 1), kernel, stride=2, padding=2).transpose(0, 1)[0]
    den = F.conv2d(known, kernel, stride=2, padding=2)[0, 0]
    hole = den <= 1e-6
    if not shrink:
        hole = F.max_pool2d(F.pad(level.hole.float()[None, None], pad), 2)[0, 0] > 0
    allowed = -F.max_pool2d(-level.allowed.float()[None, None], 2, ceil_mode=True)[0, 0] > 0
    return _Level(torch.where(hole, torch.zeros_like(num), num / den.clamp_min(1e-8)), hole, allowed, level.patch)


def _pull_push(image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """A smooth guess for the unknown pixels from the known ones around them, at every scale (Gortler et al.'s
    pull-push): each unknown pixel takes the colour of the nearest known surroundings, the layout without texture."""
    if bool(known.all()) or min(known.shape) < 2:
        mean = (image * known).sum((1, 2), keepdim=True) / known.sum().clamp_min(1)
        return torch.where(known, image, mean.expand_as(image))
    k = known.float()[None]
    num = F.avg_pool2d((image * k)[None], 2, ceil_mode=True)[0]
    den = F.avg_pool2d(k[None], 2, ceil_mode=True)[0]
    coarse = _pull_push(num / den.clamp_min(1e-8), den[0] > 0)
    up = F.interpolate(coarse[None], size=known.shape, mode="bilinear", align_corners=False)[0]
    return torch.where(known, image, up)


def _upsample_field(coarse: _Level, nnf: torch.Tensor, fine: _Level,
                    generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Carry matches to the finer level: source (y,x) -> (2y + dy, 2x + dx) for each child offset (dy,dx).
    Returns the field and which targets carried a match (the others, new at this level, start at random)."""
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
    return torch.where(ok, flat, random), ok


class _Search:
    """Vectorised PatchMatch on one level: propagation sweeps a row (or column) of targets at a time, in scan order,
    and random search improves every target at once.

    Patches are compared through PCA descriptors (a few dozen numbers instead of C*p*p), computed once per level
    for all sources by convolution, and per EM iteration for the targets only.
    """

    def __init__(self, level: _Level, basis: torch.Tensor, generator: torch.Generator, guidance: float = 0.0,
                 coherence: float = _COHERENCE) -> None:
        self.level, self.generator, self.guidance, self.coherence = level, generator, guidance, coherence
        h, w = level.hole.shape
        p = level.patch
        self.ty, self.tx = level.targets // w, level.targets % w
        self.basis = basis
        self.box = int(self.ty.min()), int(self.ty.max()) + 1, int(self.tx.min()), int(self.tx.max()) + 1
        reach = max(1, max(self.box[1] - self.box[0], self.box[3] - self.box[2]) // 2)
        # The locality prior rides in the descriptors as two scaled coordinates, so one squared distance holds both.
        self.position_scale = math.sqrt(_LOCALITY) / (2 * reach)
        self.sentinel = h * w  # the table's last row: inf, the cost of any invalid candidate
        self.plain_table = self._source_table(_source_descriptors(level, self.basis))
        self.guided_table = self.plain_table
        if level.guide is not None and guidance > 0:
            # The network says what goes where through each patch's mean colour only: matching its (blurred)
            # texture too would pull in flat patches and blur the fill. Its term rides in the descriptors too.
            box = lambda im: F.avg_pool2d(im[None], p, 1, p // 2, count_include_pad=False)[0].reshape(im.shape[0], -1).T  # noqa: E731
            scale = math.sqrt(guidance * p * p)
            source_means = F.pad(scale * box(level.image), (0, 0, 0, 1))
            self.guided_table = torch.cat([self.plain_table, source_means], 1)
            self.guide_means = scale * box(level.guide)[level.targets]
        self.radii = torch.tensor([r for r in (max(h, w) >> k for k in range(32)) if r >= 1], device=level.hole.device)
        self.sweeps = [self._sweep_plan(vertical, forward) for forward in (True, False) for vertical in (True, False)]

    def run(self, nnf: torch.Tensor, passes: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Improve `nnf` against the current estimate; return it with its descriptor distances."""
        self.query = self._descriptors(self.level.image)
        dist = self._distance(nnf[None])[0]
        # The coherence bonus is for the continuation of an adjacent target's copy, and not while the network's guide
        # steers the search (it would carry the surroundings over the guide). A match that continues a neighbour's
        # keeps its bonus against new candidates.
        bonus = 1.0 if self.guidance else self.coherence
        dist = dist * torch.where(self._coherent(nnf), bonus, 1.0)
        for index in range(passes):
            # Down and right on even passes, up and left on odd ones, as PatchMatch scans.
            for plan in self.sweeps[2 * (index % 2):2 * (index % 2) + 2]:
                nnf, dist = self._sweep(nnf, dist, plan, bonus)
            for radii in torch.split(self.radii, 4):
                nnf, dist = self._keep_best(nnf, dist, self._random_candidates(nnf, radii))
        return nnf, dist

    def _sweep_plan(self, vertical: bool, forward: bool) -> _SweepPlan:
        """Targets in sweep order, row by row (or column by column), each row with the positions of the targets one
        step behind its targets (len(targets), a slot past the end, where there is none)."""
        h, w = self.level.hole.shape
        step = 1 if forward else -1
        key = self.ty if vertical else self.tx
        order = torch.argsort(key * step, stable=True)
        ends = torch.unique_consecutive(key[order], return_counts=True)[1].cumsum(0).tolist()
        position = torch.empty_like(order)
        position[order] = torch.arange(len(order), device=order.device)
        ty, tx = self.ty[order], self.tx[order]
        ny, nx = (ty - step, tx) if vertical else (ty, tx - step)
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        index_of = self.level.at_targets(torch.arange(len(order), device=order.device), -1)
        behind = torch.where(inside, index_of[torch.where(inside, ny * w + nx, 0)], -1)
        behind = torch.where(behind >= 0, position[behind.clamp_min(0)], len(order))
        rows = list(zip([0] + ends[:-1], ends))
        on_cpu = order.device.type == "cpu"
        return _SweepPlan(order, rows, [behind[a:b] for a, b in rows], [behind[a:b].numpy() for a, b in rows if on_cpu],
                          step * w if vertical else step)

    def _sweep(self, nnf: torch.Tensor, dist: torch.Tensor, plan: _SweepPlan,
               bonus: float) -> tuple[torch.Tensor, torch.Tensor]:
        """PatchMatch's propagation in scan order, a whole row (or column) at a time: each target tries the match of
        the target behind it, shifted along. A good match so travels across the hole in one sweep, and two copies
        meet where their matches are equally good, not on the straight line where growth fronts of a few pixels per
        pass would meet (the straight-edged blocks the judges named). Works on the targets in sweep order, so each
        row is a slice, and keeps each row to a handful of tensor operations (the loop is the fill's inner loop):
        invalid candidates need no test, they land on non-source rows of the table (inf) or are clamped there."""
        order = plan.order
        # One slot past the targets, for those with nothing behind: its match shifted along is the sentinel.
        nnf_s = torch.cat([nnf[order], nnf.new_tensor([self.sentinel - plan.shift])])
        dist_s, query_s, table, behind = dist[order], self.query[order], self.table, plan.behind
        xp = torch
        if nnf.device.type == "cpu":
            # The same loop on NumPy views of the same memory: a NumPy call costs a microsecond, a torch call several,
            # and this loop is thousands of small calls.
            xp, table, query_s, behind = np, table.numpy(), query_s.numpy(), plan.behind_numpy
        nnf_x, dist_x = (nnf_s.numpy(), dist_s.numpy()) if xp is np else (nnf_s, dist_s)
        for (start, end), back in zip(plan.rows, behind):
            candidates = nnf_x[back] + plan.shift
            if self.level.patch == 1:  # a larger patch keeps every source, shifted one step, inside the table
                candidates = candidates.clip(0, self.sentinel)
            difference = (table.take(candidates, 0) if xp is np else table.index_select(0, candidates)) - query_s[start:end]
            cost = (difference * difference).sum(-1)
            if bonus != 1.0:
                cost *= bonus
            better = cost < dist_x[start:end]
            nnf_x[start:end] = xp.where(better, candidates, nnf_x[start:end])
            xp.minimum(cost, dist_x[start:end], out=dist_x[start:end])
        nnf, dist = torch.empty_like(nnf), torch.empty_like(dist)  # `order` holds every target once
        nnf[order], dist[order] = nnf_s[:-1], dist_s
        return nnf, dist

    def _descriptors(self, image: torch.Tensor) -> torch.Tensor:
        """The targets' rows of the table for the current estimate: their patches' descriptors (convolution over the
        targets' rows), their scaled positions and, while guided, the network's patch means."""
        y0, y1, x0, x1 = self.box
        r = self.level.patch // 2
        rows = _descriptor_rows(_features(image)[:, :, x0 - r:x1 + r], self.basis, self.level.patch, y0, y1)
        parts = [rows[self.ty - y0, self.tx - x0 + r], torch.stack([self.ty, self.tx], 1).float() * self.position_scale]
        if self._guided():
            parts.append(self.guide_means)
        return torch.cat(parts, 1)

    def _coherent(self, nnf: torch.Tensor) -> torch.Tensor:
        """Targets whose match continues an adjacent target's match (the same source, shifted alike)."""
        level = self.level
        h, w = level.hole.shape
        lookup = level.at_targets(nnf, -1)
        candidates = []
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            ny, nx = self.ty + dy, self.tx + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            theirs = lookup[torch.where(inside, ny * w + nx, 0)]
            candidates.append(self._valid(theirs // w - dy, theirs % w - dx, inside & (theirs >= 0)))
        return (torch.stack(candidates) == nnf[None]).any(0) & (nnf >= 0)

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

    def _keep_best(self, nnf: torch.Tensor, dist: torch.Tensor, candidates: torch.Tensor,
                   scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Each target keeps the best of its match and the candidates, whose distances are scaled by `scale` (the
        coherence bonus). The scaled distance is kept, so a match grown by propagation from the hole's edge stays
        preferred in later passes (comparing true distances instead left the fills blurrier: gradient ratio 0.56
        against 0.86 on the hardest blobs cases)."""
        cand_dist = self._distance(candidates) * scale
        best, which = cand_dist.min(0)
        better = best < dist
        chosen = candidates.gather(0, which[None])[0]
        return torch.where(better, chosen, nnf), torch.where(better, best, dist)

    def _distance(self, candidates: torch.Tensor) -> torch.Tensor:
        """Squared distance of each target's descriptor (with the locality prior and, while guided, the network's
        term) to each of its candidates (K,N; -1 marks an invalid one, inf here); in chunks that bound the memory."""
        candidates = torch.where(candidates >= 0, candidates, self.sentinel)
        out = torch.empty(candidates.shape, device=candidates.device)
        step = max(1, _CHUNK // candidates.shape[0])
        for start in range(0, candidates.shape[1], step):
            end = start + step
            chunk = candidates[:, start:end]
            rows = self.table.index_select(0, chunk.reshape(-1)).reshape(*chunk.shape, -1)
            out[:, start:end] = (rows - self.query[start:end]).square_().sum(-1)
        return out

    def _guided(self) -> bool:
        return self.guidance > 0 and self.level.guide is not None

    @property
    def table(self) -> torch.Tensor:
        return self.guided_table if self._guided() else self.plain_table

    def _source_table(self, descriptors: torch.Tensor) -> torch.Tensor:
        """(H*W + 1, d + 2) every pixel's descriptor and scaled position; inf where no valid source patch is centred,
        and in the sentinel row past the end."""
        h, w = self.level.hole.shape
        ys, xs = torch.meshgrid(torch.arange(h, device=descriptors.device), torch.arange(w, device=descriptors.device),
                                indexing="ij")
        positions = torch.stack([ys.reshape(-1), xs.reshape(-1)], 1).float() * self.position_scale
        table = torch.cat([descriptors, positions], 1)
        table[~self.level.source_ok] = math.inf
        return F.pad(table, (0, 0, 0, 1), value=math.inf)


@dataclass(frozen=True)
class _SweepPlan:
    """One propagation sweep's order over a level's targets (see _Search._sweep)."""

    order: torch.Tensor  # target indices in sweep order
    rows: list[tuple[int, int]]  # each row's (or column's) slice of `order`
    behind: list[torch.Tensor]  # per row, the positions in `order` of the targets one step behind (len(order): none)
    behind_numpy: list[np.ndarray]  # the same as NumPy views, for the sweep on the CPU (empty elsewhere)
    shift: int  # flat-index step from the match behind to the candidate (+-1 or +-width)


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


def _similarity(mse: torch.Tensor) -> torch.Tensor:
    """PyPatchMatch's distance-to-similarity table, linearly interpolated.

    Beyond the table (mean squared difference past 0.1, or an invalid match: inf) the weight is 1e-7, not 0: where
    only such matches cover a pixel, their plain mean replaces the estimate. That is the case for a finer level's
    new hole pixels, which carry no match from the coarser level (random sources, averaged), before its first
    search. Weighing them 0 keeps the magnified estimate there instead, and was judged worse (with the gradient weight
    at 3.0: large 12 and 11 of 19 kept against 13 and 13; blobs, nearly the same fills, 9 and 9 against 10 and 10):
    the search then matched flat patches to that blur, and a hazy blotch spread over a lake.
    """
    table = torch.tensor(_SIMILARITY, device=mse.device)
    t = (mse / _SIMILARITY_STEP).nan_to_num(posinf=len(_SIMILARITY)).clamp(0, len(_SIMILARITY) - 1.001)
    j = t.floor().long()
    return table[j] + (t - j) * (table[j + 1] - table[j])


def _vote(level: _Level, nnf: torch.Tensor, dist: torch.Tensor, percentile: int = 0,
          values: torch.Tensor | None = None, pixels: torch.Tensor | None = None) -> torch.Tensor:
    """Each hole pixel becomes the weighted mean of the pixels that every overlapping matched patch puts there.

    Where neighbouring targets copy neighbouring source pixels (coherent matches) the mean is that copy exactly;
    where two copied pieces meet, they blend over a patch width instead of meeting at a straight seam. Weights
    follow the match's similarity (see _SIMILARITY), or with `percentile` exp(-d / 2 sigma^2). A pixel with no
    weight at all keeps its estimate (see _similarity for matches beyond the table). Written as a gather per hole
    pixel (the p*p patches covering it): no scatter, so it is deterministic on every device too. `values` (C',H,W)
    votes other per-pixel values than the level's image with the same matches and weights, at `pixels` (flat
    indices) instead of the hole's.
    """
    image = level.image if values is None else values
    c, h, w = image.shape
    if percentile:
        finite = dist[torch.isfinite(dist)]
        sigma2 = float(finite.kthvalue(max(1, (len(finite) * percentile) // 100)).values) if len(finite) else 1.0
        weight = torch.exp(-(dist / (2 * max(sigma2, 1e-6))).clamp(max=30.0))
    else:
        weight = _similarity(dist / (level.image.shape[0] + 2) / level.patch ** 2)
    source_of, weight_of = level.at_targets(nnf, -1), level.at_targets(weight, 0.0)
    flat = image.reshape(c, -1)
    out = flat.clone()
    offsets = _offsets(level.patch, w, image.device)[:, None]
    for pixels in torch.split(level.hole_pixels if pixels is None else pixels, _VOTE_CHUNK):
        centres = pixels[None] - offsets  # (p*p, n): centres of the patches covering each pixel
        inside = (centres >= 0) & (centres < h * w)
        centres = centres.clamp(0, h * w - 1)
        sources = source_of[centres]
        weights = torch.where(inside & (sources >= 0), weight_of[centres], 0.0)
        values = flat.index_select(1, (sources + offsets).clamp(0, h * w - 1).reshape(-1)).reshape(c, *sources.shape)
        total = weights.sum(0)
        mean = (values * weights).sum(1) / total.clamp_min(1e-30)
        out[:, pixels] = torch.where(total > 1e-12, mean, flat[:, pixels])
    return out.reshape(c, h, w)
