import numpy as np
import torch

from contextfill.model.losses import loss_weights, reconstruction_loss, texture_strength_loss
from contextfill.model.masks import blob_mask, center_mask


def test_center_mask_is_the_central_half_square():
    m = center_mask(128, 128)
    assert m.sum() == 64 * 64 and m[32:96, 32:96].all()


def test_blob_is_one_object_sized_shape_inside_the_image():
    m = blob_mask(512, 512, np.random.default_rng(2), 0.06)
    assert 0.03 < m.mean() < 0.09
    assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())


def test_loss_weights_hole_one_band_ten_rest_zero():
    mask = torch.zeros(1, 1, 20, 20)
    mask[..., 8:12, 8:12] = 1
    w = loss_weights(mask, band=2, band_weight=10)
    assert w[0, 0, 9, 9] == 1 and w[0, 0, 7, 9] == 10 and w[0, 0, 6, 9] == 10 and w[0, 0, 5, 9] == 0


def test_reconstruction_loss_ignores_far_context_and_is_normalised():
    target = torch.zeros(1, 3, 20, 20)
    mask = torch.zeros(1, 1, 20, 20)
    mask[..., 8:12, 8:12] = 1
    far_off = target.clone()
    far_off[..., :2, :2] = 5.0
    assert reconstruction_loss(far_off, target, mask) == 0
    assert torch.isclose(reconstruction_loss(target + 1, target, mask), torch.tensor(1.0))


def test_texture_strength_loss_asks_for_strength_not_placement():
    """Texture as strong as the truth's but shifted costs (almost) nothing; the blur (flat mean) costs most."""
    torch.manual_seed(0)
    truth = torch.rand(1, 3, 64, 64) * 2 - 1
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    shifted = torch.roll(truth, shifts=(3, 5), dims=(2, 3))
    flat = torch.full_like(truth, float(truth.mean()))
    assert texture_strength_loss(truth, truth, mask) == 0
    assert texture_strength_loss(shifted, truth, mask) < 0.1 * texture_strength_loss(flat, truth, mask)
    # context a block away from the hole does not count
    far = torch.nn.functional.max_pool2d(mask, 17, 1, 8) == 0
    assert texture_strength_loss(torch.where(far, flat, truth), truth, mask) == 0
