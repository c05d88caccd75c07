"""Training batches made on the device: the same crops, flips and holes, in distribution, as the one-at-a-time
sampler they replaced (torchvision's resized_crop per crop, PIL-drawn masks), now from whole-batch tensor ops."""

import numpy as np
import pytest
import torch
from conftest import make_photo
from torchvision.transforms.v2 import functional as TF

from contextfill.model.batches import REDRAWS, DeviceCrops, hole_masks

CPU = torch.device("cpu")
# The PIL sampler's hole coverage at 128 px (mean, std over 600 masks each, seed 123), measured before it was
# replaced: random blocks 0.1805 / 0.0443, random regions 0.2798 / 0.0364, mixed 0.2341 / 0.0507.
OLD_COVERAGE = {"random-block": (0.1805, 0.0443), "random-region": (0.2798, 0.0364), "mixed": (0.2341, 0.0507)}


def photo_tensor(width: int, height: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.asarray(make_photo(width, height, seed)).copy()).permute(2, 0, 1).contiguous()


def test_a_crop_is_its_window_scaled_and_flipped_as_torchvision_would():
    photo = photo_tensor(700, 500)
    crops = DeviceCrops([photo], 64, CPU, max_zoom_out=8)
    windows = [(64, 10, 20, False), (100, 300, 50, True), (150, 7, 400, False), (250, 200, 300, True), (490, 3, 5, True)]
    side, top, left, flip = (np.array(v) for v in zip(*windows))
    got = crops.cut(np.zeros(len(side), np.int64), side, top, left, flip)
    for crop, (s, t, le, f) in zip(got, windows):
        want = TF.resized_crop(photo, t, le, s, s, [64, 64], antialias=True).float() / 255
        want = TF.horizontal_flip(want) if f else want
        error = (crop - want).abs().mean()
        assert error < 0.035, (s, t, le, f)  # a box filter where torchvision's is a tent: within 9 levels of 255
        assert error < 0.5 * (crop - TF.horizontal_flip(want)).abs().mean()  # and the flip is the one asked for


def test_windows_are_drawn_as_the_old_sampler_drew_them():
    photos = [photo_tensor(400, 300, 1), photo_tensor(300, 600, 2)]
    crops = DeviceCrops(photos, 64, CPU, max_zoom_out=4)
    draws = crops.draw(4000, np.random.default_rng(0))
    photo, side, top, left = (draws[k][0] for k in ("photo", "side", "top", "left"))
    h, w = crops.heights[photo, 0], crops.widths[photo, 0]
    assert abs(photo.mean() - 0.5) < 0.03 and abs(draws["flip"].mean() - 0.5) < 0.02
    low, high = 64, np.minimum(np.minimum(h, w), 256)
    assert side.min() >= low and (side <= high).all() and (top + side <= h).all() and (left + side <= w).all()
    spread = np.log(side / low) / np.log(high / low)  # log-uniform sides: uniform in [0, 1]
    assert np.allclose(np.quantile(spread, [0.25, 0.5, 0.75]), [0.25, 0.5, 0.75], atol=0.03)
    for start, room in ((top, h - side), (left, w - side)):  # positions uniform over the room left
        assert abs((start / np.maximum(room, 1)).mean() - 0.5) < 0.03


def test_flat_crops_are_redrawn_and_the_liveliest_kept():
    flat = torch.full((3, 300, 300), 128, dtype=torch.uint8)
    crops = DeviceCrops([flat, photo_tensor(300, 300)], 32, CPU)
    batch = crops.batch(400, np.random.default_rng(1))
    still_flat = (batch.std(dim=(1, 2, 3)) < 0.04).float().mean().item()
    assert abs(still_flat - 0.5**REDRAWS) < 0.04  # flat only when all four draws fell on the grey photo


def test_each_crop_names_the_photo_it_was_cut_from_redrawn_or_not():
    """A held-out score's noise is judged photo by photo, so each crop must name its own photo, also when a flat
    crop was redrawn from another."""
    flat = torch.full((3, 300, 300), 128, dtype=torch.uint8)
    crops, photos = DeviceCrops([flat, photo_tensor(300, 300)], 32, CPU).batch_from_photos(400, np.random.default_rng(1))
    is_flat = (crops.std(dim=(1, 2, 3)) < 0.04).numpy()
    assert set(np.unique(photos)) == {0, 1} and np.array_equal(photos == 0, is_flat)
    again = DeviceCrops([flat, photo_tensor(300, 300)], 32, CPU).batch(400, np.random.default_rng(1))
    assert torch.equal(crops, again)  # the same crops as batch() draws


@pytest.mark.parametrize("strategy", list(OLD_COVERAGE))
def test_holes_cover_as_much_as_the_old_masks_did(strategy):
    masks = hole_masks(strategy, 600, 128, np.random.default_rng(123), CPU)
    assert masks.shape == (600, 1, 128, 128) and set(masks.unique().tolist()) <= {0.0, 1.0}
    cover = masks.mean(dim=(1, 2, 3))
    mean, std = OLD_COVERAGE[strategy]
    assert abs(cover.mean().item() - mean) < 0.01 and abs(cover.std().item() - std) < 0.01
    if strategy == "random-block":
        assert cover.max() <= 0.25
    rows = masks[:, 0].sum(dim=2)
    centre_row = (rows * torch.arange(128)).sum(dim=1) / rows.sum(dim=1)
    assert abs(centre_row.mean().item() - 63.5) < 2  # holes anywhere, not drifting to a side


def test_centre_holes_and_seeded_draws():
    centre = hole_masks("center", 3, 64, np.random.default_rng(0), CPU)
    assert (centre[:, 0, 16:48, 16:48] == 1).all() and centre.sum() == 3 * 32 * 32
    a, b = (hole_masks("mixed", 8, 64, np.random.default_rng(7), CPU) for _ in range(2))
    assert torch.equal(a, b) and a.any()
    with pytest.raises(ValueError, match="unknown mask strategy"):
        hole_masks("stars", 1, 8, np.random.default_rng(0), CPU)


@pytest.mark.cuda
def test_batches_on_cuda_are_the_cpu_batches():
    photos = [photo_tensor(400, 300, 1), photo_tensor(300, 600, 2)]
    gpu = torch.device("cuda")
    crops = [DeviceCrops(photos, 64, dev).batch(16, np.random.default_rng(3)).cpu() for dev in (CPU, gpu)]
    assert (crops[0] - crops[1]).abs().max() < 1e-5
    for strategy in ("random-block", "random-region", "mixed"):
        masks = [hole_masks(strategy, 16, 128, np.random.default_rng(4), dev).cpu() for dev in (CPU, gpu)]
        assert (masks[0] != masks[1]).float().mean() < 0.002  # edge pixels may round the other way
