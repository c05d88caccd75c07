"""Behaviour of the patch-based fill: invariants, texture, determinism, callbacks and awkward shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from contextfill.model.errors import Cancelled, InpaintError
from contextfill.model.patchmatch import PatchFillOptions, patch_fill


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The fills are many small tensor ops: one thread keeps this file fast when other jobs share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stripes(h: int = 64, w: int = 64, period: int = 8) -> torch.Tensor:
    """Vertical colour stripes: a texture whose only plausible fill continues the period."""
    x = torch.arange(w, dtype=torch.float32)
    phase = torch.sin(2 * torch.pi * x / period)
    image = torch.stack([0.5 + 0.4 * phase, 0.5 - 0.3 * phase, torch.full_like(phase, 0.3)])
    return image[:, None, :].expand(3, h, w).contiguous()


def noise_texture(h: int = 64, w: int = 64, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(3, h, w, generator=generator)


def box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
    hole = torch.zeros(h, w, dtype=torch.bool)
    hole[y0:y1, x0:x1] = True
    return hole


def assert_invariants(image: torch.Tensor, hole: torch.Tensor, out: torch.Tensor) -> None:
    assert out.shape == image.shape and out.dtype == image.dtype and out.device == image.device
    assert torch.equal(out[:, ~hole], image[:, ~hole])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def gradient_energy(image: torch.Tensor, hole: torch.Tensor) -> float:
    gy = image[:, 1:, :-1] - image[:, :-1, :-1]
    gx = image[:, :-1, 1:] - image[:, :-1, :-1]
    return float((gy.square() + gx.square())[:, hole[:-1, :-1]].sum())


def test_outside_hole_is_bit_identical_and_hole_is_filled() -> None:
    image, hole = noise_texture(), box(64, 64, 20, 40, 24, 44)
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    assert not torch.equal(out[:, hole], image[:, hole])


def test_stripes_are_continued_far_better_than_a_flat_fill() -> None:
    image, hole = stripes(), box(64, 64, 22, 42, 22, 42)
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    error = (out - image).abs()[:, hole].mean()
    flat_error = (image[:, ~hole].mean(1, keepdim=True) - image[:, hole]).abs().mean()
    assert error < 0.2 * flat_error


def test_stochastic_texture_is_filled_with_texture_not_a_flat_smear() -> None:
    """White noise is the hardest case for a fill that averages overlapping patches: any two copies that do not
    line up blur. The fill keeps a third of the noise's gradient energy (a smooth fill keeps none). A vote that
    followed each pixel's own copy kept 0.7-0.9 here but lost the blind comparisons on photos (its seams), so the
    bound is what the kept vote does; PyPatchMatch keeps 1.0 on this image."""
    image, hole = noise_texture(80, 80), box(80, 80, 25, 55, 25, 55)
    out = patch_fill(image, hole)
    ratio = gradient_energy(out, hole) / gradient_energy(image, hole)
    assert 0.2 < ratio < 1.5


def test_same_seed_same_result_other_seed_other_result() -> None:
    image, hole = noise_texture(), box(64, 64, 20, 40, 20, 40)
    first = patch_fill(image, hole, PatchFillOptions(seed=3))
    again = patch_fill(image, hole, PatchFillOptions(seed=3))
    other = patch_fill(image, hole, PatchFillOptions(seed=4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_progress_rises_to_one_and_cancel_stops_between_iterations() -> None:
    image, hole = noise_texture(), box(64, 64, 20, 40, 20, 40)
    seen: list[float] = []
    patch_fill(image, hole, progress=seen.append)
    assert len(seen) > 2 and seen == sorted(seen) and seen[-1] == 1.0 and 0 < seen[0]

    calls: list[float] = []
    with pytest.raises(Cancelled):
        patch_fill(image, hole, progress=calls.append, cancel=lambda: len(calls) >= 2)
    assert len(calls) == 2


def test_progress_advances_steadily_over_every_level() -> None:
    """The GUI's bar must not sit near 0 and then jump: every EM iteration at every level reports a share."""
    image, hole = noise_texture(128, 128), box(128, 128, 30, 100, 30, 100)
    seen: list[float] = []
    patch_fill(image, hole, progress=seen.append)
    steps = np.diff([0.0] + seen)
    assert len(seen) >= 8 and (steps >= 0).all() and steps.max() < 0.4


def test_empty_hole_returns_the_image() -> None:
    image = noise_texture(16, 16)
    out = patch_fill(image, torch.zeros(16, 16, dtype=torch.bool))
    assert torch.equal(out, image)


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (5, 5), (6, 4)])
def test_images_smaller_than_a_patch(size: tuple[int, int]) -> None:
    h, w = size
    image = noise_texture(h, w)
    hole = torch.zeros(h, w, dtype=torch.bool)
    hole[h // 2, w // 2] = True
    if h * w == 1:
        with pytest.raises(InpaintError):
            patch_fill(image, hole)
        return
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    known = image[:, ~hole]
    filled = out[:, h // 2, w // 2]
    assert (filled >= known.min(1).values - 1e-6).all() and (filled <= known.max(1).values + 1e-6).all()


@pytest.mark.parametrize("where", ["left", "corner", "bottom-row", "full-column"])
def test_holes_touching_the_border(where: str) -> None:
    image = stripes(48, 48)
    hole = {"left": box(48, 48, 10, 30, 0, 12), "corner": box(48, 48, 36, 48, 36, 48),
            "bottom-row": box(48, 48, 47, 48, 0, 48), "full-column": box(48, 48, 0, 48, 20, 24)}[where]
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    assert (out - image).abs()[:, hole].mean() < 0.1


def test_one_pixel_hole() -> None:
    image, hole = stripes(), box(64, 64, 30, 31, 33, 34)
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    assert torch.allclose(out[:, 30, 33], image[:, 30, 33], atol=0.05)


def test_region_sampling_copies_only_from_the_region() -> None:
    image = torch.zeros(3, 48, 48)
    image[0, :, :24] = 0.9  # red left half
    image[2, :, 24:] = 0.9  # blue right half
    image += 0.05 * noise_texture(48, 48)
    hole = box(48, 48, 16, 32, 16, 32)
    region = np.zeros((48, 48), dtype=bool)
    region[:, 30:] = True
    out = patch_fill(image, hole, PatchFillOptions(sampling="region", region=region))
    assert_invariants(image, hole, out)
    filled = out[:, hole]
    assert (filled[2] > 0.85).all() and (filled[0] < 0.1).all()


@pytest.mark.parametrize("options", [PatchFillOptions(sampling="image"), PatchFillOptions(quality="best"),
                                     PatchFillOptions(patch_size=5, ring_width=8), PatchFillOptions(patch_size=1)])
def test_option_variants_keep_the_invariants(options: PatchFillOptions) -> None:
    image, hole = noise_texture(), box(64, 64, 20, 40, 24, 44)
    assert_invariants(image, hole, patch_fill(image, hole, options))


def test_hybrid_init_keeps_invariants_and_follows_the_init() -> None:
    image = torch.zeros(3, 64, 64)
    image[:, :32] = 0.8  # bright top, dark bottom: a horizontal edge through the hole
    image += 0.1 * noise_texture()
    hole = box(64, 64, 16, 48, 16, 48)
    out = patch_fill(image, hole, init=image.clone(), progress=lambda f: None)
    assert_invariants(image, hole, out)
    assert out[:, 16:28, 20:44].mean() > 0.7 and out[:, 36:48, 20:44].mean() < 0.3
    assert torch.equal(out, patch_fill(image, hole, init=image.clone()))


def test_single_channel_images() -> None:
    image, hole = noise_texture()[:1], box(64, 64, 20, 40, 24, 44)
    assert_invariants(image, hole, patch_fill(image, hole))


@pytest.mark.parametrize("bad", ["all-hole", "shape", "even-patch", "sampling", "empty-region", "init-shape"])
def test_bad_input_is_a_clear_error(bad: str) -> None:
    image, hole = noise_texture(16, 16), box(16, 16, 4, 8, 4, 8)
    options, init = PatchFillOptions(), None
    if bad == "all-hole":
        hole = torch.ones(16, 16, dtype=torch.bool)
    elif bad == "shape":
        hole = hole[:8]
    elif bad == "even-patch":
        options = PatchFillOptions(patch_size=6)
    elif bad == "sampling":
        options = PatchFillOptions(sampling="everywhere")
    elif bad == "empty-region":
        options = PatchFillOptions(sampling="region", region=hole.numpy().copy())
    else:
        init = torch.zeros(3, 8, 8)
    with pytest.raises(InpaintError):
        patch_fill(image, hole, options, init=init)


@pytest.mark.cuda
def test_runs_on_cuda_deterministically() -> None:
    image, hole = noise_texture().cuda(), box(64, 64, 20, 40, 24, 44).cuda()
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    assert torch.equal(out, patch_fill(image, hole))


def ramp(h: int = 96, w: int = 96) -> torch.Tensor:
    """A smooth sky-like colour ramp from top to bottom: any pasted block or stair-step shows as a jump."""
    y = torch.linspace(0, 1, h)[:, None].expand(h, w)
    return torch.stack([0.2 + 0.6 * y, 0.3 + 0.4 * y, 0.9 - 0.5 * y]).clamp(0, 1)


def test_smooth_ramp_is_filled_without_steps_or_blocks() -> None:
    """Votes average every overlapping patch (robustly): the fill has no jump far above the ramp's own."""
    image, hole = ramp(), box(96, 96, 30, 66, 30, 66)
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    inside = hole[1:, :] & hole[:-1, :]
    jumps = (out[:, 1:, :] - out[:, :-1, :]).abs().amax(0)[inside]
    own = (image[:, 1:, :] - image[:, :-1, :]).abs().amax()
    assert float(jumps.max()) < 2.5 * float(own)  # the earlier winner-take-all votes left 5x steps here


def test_hybrid_guide_says_what_goes_where() -> None:
    """Red texture on the left, blue on the right, a hole across the boundary: both continue around it, and the
    plain fill splits the hole between them. A guide (the network's prediction) asking for red, or for blue,
    decides which of the two fills the hole; it chooses among the textures around the hole and paints no colour
    of its own (the network's guess showing through was the judges' 'colour blotch')."""
    generator = torch.Generator().manual_seed(3)
    h, w = 96, 128
    grain = 0.08 * torch.rand(1, h, w, generator=generator)
    image = torch.empty(3, h, w)
    image[:, :, :64] = torch.tensor([0.8, 0.15, 0.1])[:, None, None]
    image[:, :, 64:] = torch.tensor([0.1, 0.2, 0.8])[:, None, None]
    image = (image + grain).clamp(0, 1)
    hole = box(h, w, 28, 68, 44, 84)

    def red_share(out: torch.Tensor) -> float:
        return float(((out[0] > out[2]) & hole).sum() / hole.sum())

    shares = {}
    for name, colour in (("red", [0.8, 0.15, 0.1]), ("blue", [0.1, 0.2, 0.8])):
        guide = image.clone()
        guide[:, hole] = torch.tensor(colour)[:, None]
        out = patch_fill(image, hole, init=guide)
        assert_invariants(image, hole, out)
        shares[name] = red_share(out)
    plain = red_share(patch_fill(image, hole))
    # Around the guide's choice the split moves by a tenth with the grain alone (seeds 1, 2, 3 and 5, gradient
    # weight 3.0 or 1.0: 0.75-0.92 red when asked for red, 0.10-0.30 when asked for blue); without a guide it is
    # half and half.
    assert shares["red"] > 0.7 and shares["blue"] < 0.3
    assert 0.3 < plain < 0.7  # no guide: each side continues its own texture


def test_separate_holes_are_filled_in_small_crops(monkeypatch) -> None:
    """The cost follows the holes: two spots far apart in a big image are two small crops, not one spanning both."""
    import contextfill.model.patchmatch as pm

    crops = []
    real = pm._complete

    def spy(image, hole, *args, **kwargs):
        crops.append(tuple(hole.shape))
        return real(image, hole, *args, **kwargs)

    monkeypatch.setattr(pm, "_complete", spy)
    image = noise_texture(600, 800)
    hole = box(600, 800, 40, 50, 40, 52) | box(600, 800, 540, 552, 700, 710)
    out = patch_fill(image, hole)
    assert_invariants(image, hole, out)
    assert len(crops) == 2 and all(ch * cw < 0.05 * 600 * 800 for ch, cw in crops)


@pytest.mark.parametrize("step", [0.04, 0.6])
def test_a_seam_between_copied_pieces_is_solved_away_and_an_edge_between_colours_stays(step: float) -> None:
    """The left half of the hole copies the photo below it, the right half a region `step` brighter: a faint step
    (two pieces of one texture at slightly different brightness) must vanish into the surroundings; a strong one
    (a fin against a black background) is an edge and must stay as sharp as it was copied."""
    from contextfill.model.blend import poisson_blend
    from contextfill.model.patchmatch import _Level, _seamless_differences, _vote

    generator = torch.Generator().manual_seed(3)
    image = 0.2 + 0.1 * torch.rand(3, 80, 100, generator=generator)
    image[:, 53:77, 60:97] += step
    hole = box(80, 100, 30, 47, 22, 58)
    level = _Level(image.clone(), hole, torch.ones_like(hole), 7)
    ty, tx = level.targets // 100, level.targets % 100
    nnf = (ty + 27) * 100 + torch.where(tx < 40, tx, tx + 20)  # coherent copies: below, or from the bright region
    assert bool(level.source_ok[nnf].all())
    dist = torch.zeros(len(nnf))
    level.image = _vote(level, nnf, dist, 25)
    out = poisson_blend(image, level.image, hole, _seamless_differences(level, nnf, dist))
    assert torch.equal(out[:, ~hole], image[:, ~hole])
    seam = float((out[:, 31:46, 44:50] - out[:, 31:46, 30:36]).mean())  # across the band the vote blends it over
    if step < 0.1:
        assert abs(seam) < step / 3  # solved away...
        assert float((out - image)[:, hole].mean()) < step / 3  # ...and no brighter half is left either
    else:
        assert seam > 0.8 * step  # the edge keeps nearly all of its contrast
