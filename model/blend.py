"""Gradient-domain (Poisson) blending of a fill into the pixels around its hole (Pérez, Gangnet and Blake 2003).

Whatever method made the fill, its colours rarely meet the surroundings exactly: a step of a few levels along
the hole's edge is what the eye finds first. Solving for the image whose gradients inside the hole are the fill's
own, and whose values just outside are the photo's, spreads that step smoothly over the hole while keeping every
edge and texture of the fill. Across the hole's edge the guidance is the fill's own gradient mirrored from inside
(the fill has no values outside to take it from). Pixels outside the hole are never written.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .regions import split_regions

_TOLERANCE = 1e-4  # residual per hole pixel (in 0..1 colour units) at which the solve stops
_MAX_ITERATIONS = 400
_NEIGHBOURS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def poisson_blend(image: torch.Tensor, fill: torch.Tensor, hole: torch.Tensor,
                  guidance: torch.Tensor | None = None) -> torch.Tensor:
    """image, fill: (C,H,W) float in [0,1]; hole: (H,W) bool. Returns `fill` blended seamlessly into `image`
    inside the hole and bit-identical to `image` outside. Each separate hole is solved in its own small crop.

    guidance: (4,C,H,W), for each hole pixel p the difference f(q) - f(p) to keep towards each neighbour q in
    _NEIGHBOURS order, where the caller knows better than the fill's own (the patch fill's voted differences,
    which leave out the seams between its copied pieces); by default the fill's own, mirrored across the edge."""
    out = image.clone()
    h, w = hole.shape
    for region in split_regions(hole.cpu().numpy()):
        y0, x0 = max(0, region.top - 2), max(0, region.left - 2)
        y1, x1 = min(h, region.bottom + 2), min(w, region.right + 2)
        mask = torch.from_numpy(region.mask_in(y0, y1, x0, x1)).to(hole.device)
        crop = (slice(None), slice(y0, y1), slice(x0, x1))
        guide = None if guidance is None else guidance[:, :, y0:y1, x0:x1].float()
        solved = _solve(image[crop].float(), fill[crop].float(), mask, guide)
        out[crop] = torch.where(mask, solved.clamp(0, 1).to(out.dtype), out[crop])
    return out


def _shift(t: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """t moved so that out[y, x] = t[y + dy, x + dx], zero beyond the border."""
    padded = F.pad(t, (1, 1, 1, 1))
    h, w = t.shape[-2:]
    return padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def _solve(image: torch.Tensor, fill: torch.Tensor, mask: torch.Tensor,
           guidance: torch.Tensor | None = None) -> torch.Tensor:
    """Conjugate gradients for the correction c = result - fill on the hole pixels of one crop.

    For a hole pixel p with neighbours q: deg(p) c_p - sum_{q in hole} c_q = sum_{q outside} (image_q - fill_m),
    m the pixel mirrored from q across p when it is in the hole (the fill's own gradient continues), else p.
    With `guidance` G: deg(p) c_p - sum_{q in hole} c_q = sum_q (v_q - fill_p - G_pq), v the fill inside the hole
    and the image outside (the least-squares fit of f_q - f_p to G_pq on every edge of the hole).
    """
    m = mask.to(image.dtype)
    in_image = torch.ones_like(m)
    degree = sum(_shift(in_image, dy, dx) for dy, dx in _NEIGHBOURS)
    rhs = torch.zeros_like(fill)
    for k, (dy, dx) in enumerate(_NEIGHBOURS):
        if guidance is None:
            outside = _shift(in_image, dy, dx) * (1 - _shift(m, dy, dx))  # neighbour q exists and is known
            mirrored_in = _shift(m, -dy, -dx)
            anchor = mirrored_in * _shift(fill, -dy, -dx) + (1 - mirrored_in) * fill
            rhs += outside * (_shift(image, dy, dx) - anchor)
        else:
            q_in = _shift(m, dy, dx)
            value = q_in * _shift(fill, dy, dx) + (1 - q_in) * _shift(image, dy, dx)
            rhs += _shift(in_image, dy, dx) * (value - fill - guidance[k])
    rhs *= m

    def apply(c: torch.Tensor) -> torch.Tensor:
        return m * (degree * c - sum(_shift(c * m, dy, dx) for dy, dx in _NEIGHBOURS))

    c = torch.zeros_like(fill)
    r = rhs.clone()
    p = r.clone()
    rr = (r * r).sum(dim=(1, 2))
    stop = (_TOLERANCE**2) * float(m.sum()) * fill.shape[0]
    for _ in range(_MAX_ITERATIONS):
        if float(rr.sum()) <= stop:
            break
        ap = apply(p)
        alpha = rr / (p * ap).sum(dim=(1, 2)).clamp_min(1e-30)
        c += alpha[:, None, None] * p
        r -= alpha[:, None, None] * ap
        rr_new = (r * r).sum(dim=(1, 2))
        p = r + (rr_new / rr.clamp_min(1e-30))[:, None, None] * p
        rr = rr_new
    return fill + c
