"""Photographed cut-outs (RGBA) pasted onto the training photos.

photos-train shows landscapes; the photos people edit show people, animals and things. A pasted cut-out brings
an object's texture and a real outline (its alpha) into the training photos, so crops fall inside objects and
across their edges, and holes cut into them teach the network to complete things, not only scenery.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InpaintError

PER_PHOTO = 6  # cut-outs on each composite: at 10-40% of the short side, they cover about a fifth of it
SIZE_RANGE = (0.10, 0.40)  # a cut-out's long side, as a fraction of the photo's short side


def paste_objects(photos: list[torch.Tensor], cutouts: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
    """A composite of each (3, H, W) uint8 photo with PER_PHOTO of the (4, h, w) cut-outs pasted at random
    places, sizes and flips, fixed by `seed`; the photos themselves are left as they are."""
    if not cutouts:
        raise InpaintError("no readable cut-outs to paste")
    rng = np.random.default_rng([seed, 4242])
    composites = []
    for photo in photos:
        canvas = photo.clone()
        h, w = photo.shape[1:]
        for _ in range(PER_PHOTO):
            cut = cutouts[int(rng.integers(len(cutouts)))]
            scale = rng.uniform(*SIZE_RANGE) * min(h, w) / max(cut.shape[1:])
            ch, cw = max(1, round(cut.shape[1] * scale)), max(1, round(cut.shape[2] * scale))
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            sized = F.interpolate(cut[None].float(), size=(ch, cw), mode="bilinear", antialias=True, align_corners=False)[0]
            if rng.random() < 0.5:
                sized = sized.flip(-1)
            alpha = sized[3:].clamp(0, 255) / 255
            under = canvas[:, top : top + ch, left : left + cw].float()
            canvas[:, top : top + ch, left : left + cw] = (under * (1 - alpha) + sized[:3] * alpha).round().clamp(0, 255).byte()
        composites.append(canvas)
    return composites
