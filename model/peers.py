"""The peers we measure against (extra "bench"): OpenCV's Telea and Navier-Stokes, and PyPatchMatch. Only the
benchmarks and `contextfill eval` call them; the app never does. No torch here, so a benchmark can measure a
peer's memory on its own."""

from __future__ import annotations

import numpy as np
from PIL import Image

PEER_METHODS = ("telea", "ns", "pypatchmatch")


def peer_fill(image: Image.Image, hole: np.ndarray, method: str) -> Image.Image:
    """Fill `hole` (bool HxW) of an RGB image with a peer; ImportError when its package is not installed."""
    rgb, mask = np.asarray(image.convert("RGB")), hole.astype(np.uint8) * 255
    if method == "pypatchmatch":
        from patchmatch import patch_match  # InvokeAI's C++ PatchMatch fill, radius 3 as in its examples

        return Image.fromarray(patch_match.inpaint(rgb, mask, patch_size=3))
    import cv2

    return Image.fromarray(cv2.inpaint(rgb, mask, 5, cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS))
