"""The gradient-domain boundary blend: seams go, texture stays, the outside is never touched."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from contextfill.model.blend import poisson_blend
from contextfill.model.pipeline import inpaint


def textured(h: int = 80, w: int = 80, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (0.45 + 0.1 * torch.rand(3, h, w, generator=generator)).clamp(0, 1)


def test_a_colour_step_at_the_edge_is_spread_away_and_the_outside_is_bit_identical() -> None:
    image = textured()
    hole = torch.zeros(80, 80, dtype=torch.bool)
    hole[20:60, 25:55] = True
    fill = image.clone()
    fill[:, hole] += 0.25  # the right texture at the wrong brightness: a visible seam
    out = poisson_blend(image, fill, hole)
    assert torch.equal(out[:, ~hole], image[:, ~hole])
    assert float((out - image)[:, hole].abs().mean()) < 0.02  # the offset is gone...
    detail = lambda t: t[:, 21:59, 26:54] - t[:, 20:58, 26:54]  # noqa: E731
    assert torch.allclose(detail(out), detail(image), atol=0.02)  # ...and the texture is the fill's own


def test_separate_holes_blend_independently() -> None:
    image = textured(60, 200)
    hole = torch.zeros(60, 200, dtype=torch.bool)
    hole[20:30, 20:30] = hole[20:30, 150:160] = True
    fill = image.clone()
    fill[:, 20:30, 20:30] += 0.3
    out = poisson_blend(image, fill, hole)
    assert float((out - image)[:, 20:30, 150:160].abs().mean()) < 0.03  # a fill that fits stays nearly as it was
    assert float((out - image)[:, 20:30, 20:30].abs().mean()) < 0.03  # the other one loses its step


def test_every_method_is_seamless_and_blend_off_keeps_the_raw_fill(tiny_model_path) -> None:
    rng = np.random.default_rng(0)
    photo = Image.fromarray((110 + 30 * rng.random((64, 96, 3))).astype(np.uint8))
    mask = np.zeros((64, 96), bool)
    mask[20:44, 30:60] = True
    ring = np.zeros_like(mask)
    ring[19:45, 29:61] = True
    ring &= ~mask
    for method in ("context-encoder", "patch", "hybrid"):
        out = np.asarray(inpaint(photo, mask, method=method, model=tiny_model_path, device="cpu").image).astype(float)
        assert np.array_equal(out[~mask], np.asarray(photo)[~mask])
        inner = mask & ~np.pad(mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:], 1)
        assert abs(out[inner].mean() - out[ring].mean()) < 8, method  # no step at the edge, even from a random net
    raw = inpaint(photo, mask, method="context-encoder", model=tiny_model_path, device="cpu", blend=False).image
    blended = inpaint(photo, mask, method="context-encoder", model=tiny_model_path, device="cpu").image
    assert not np.array_equal(np.asarray(raw), np.asarray(blended))
