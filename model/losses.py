"""The paper's joint loss: normalised masked L2 with a heavier context band, plus a small adversarial term."""

from __future__ import annotations

import torch
import torch.nn.functional as F

BAND_PX = 4
BAND_WEIGHT = 10.0


def loss_weights(mask: torch.Tensor, band: int = BAND_PX, band_weight: float = BAND_WEIGHT) -> torch.Tensor:
    """1 inside the hole, `band_weight` on a `band`-pixel ring of context around it, 0 elsewhere.

    The band makes the prediction agree with the context it will be stitched to (the paper weights it 10x).
    """
    grown = F.max_pool2d(mask, 2 * band + 1, stride=1, padding=band)
    return mask + band_weight * (grown - mask)


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = loss_weights(mask)
    return ((pred - target) ** 2 * w).sum() / (w.sum() * pred.shape[1]).clamp_min(1.0)


def _local_sharpness(x: torch.Tensor, cell: int) -> torch.Tensor:
    """RMS image gradient over each `cell`x`cell` block, (B, 1, H/cell, W/cell)."""
    gx = F.pad((x[..., :, 1:] - x[..., :, :-1]) ** 2, (0, 1, 0, 0))
    gy = F.pad((x[..., 1:, :] - x[..., :-1, :]) ** 2, (0, 0, 0, 1))
    return F.avg_pool2d((gx + gy).mean(1, keepdim=True), cell).add(1e-6).sqrt()


def texture_strength_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, cell: int = 8) -> torch.Tensor:
    """L1 between the fill's and the truth's local gradient strength, over blocks that hold hole.

    It asks for texture as strong as the truth's in each block without saying where each edge lies, so it
    does not fight L2 the way a per-pixel gradient loss would; L2 alone rewards the blur."""
    w = F.avg_pool2d(mask, cell)
    diff = (_local_sharpness(pred, cell) - _local_sharpness(target, cell)).abs()
    return (diff * w).sum() / w.sum().clamp_min(1e-6)


def adversarial_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss: real -> 1, fake -> 0."""
    return F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(
        d_fake, torch.zeros_like(d_fake)
    )


def generator_adversarial(d_fake: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def _hole_weights(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The share of each critic patch that lies in the hole, (B, h, w)."""
    return F.adaptive_avg_pool2d(mask, size).squeeze(1)


def local_adversarial_losses(d_real: torch.Tensor, d_fake: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PatchGAN critic loss: every real patch -> 1, fake patches -> 0 in proportion to how much hole they hold
    (a patch of untouched context is real, and calling it fake would teach the critic nothing)."""
    w = _hole_weights(mask, d_fake.shape[-2:])
    real = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    fake = F.binary_cross_entropy_with_logits(d_fake, 1 - w, reduction="none")
    return real + (fake * w).sum() / w.sum().clamp_min(1e-6)


def local_generator_adversarial(d_fake: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = _hole_weights(mask, d_fake.shape[-2:])
    loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake), reduction="none")
    return (loss * w).sum() / w.sum().clamp_min(1e-6)


def feature_matching(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """Mean L1 between the critic's features of the fill and of the truth, summed over layers: it rewards the
    right texture statistics where plain L2 rewards the mean (the blur)."""
    return sum(F.l1_loss(f, r.detach()) for f, r in zip(fake, real))
