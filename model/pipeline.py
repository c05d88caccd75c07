"""One inference pipeline for the GUI, batch and eval: any image size, any mask, three methods.

Invariants: every pixel outside the hole is bit-identical to the input; the output has the input's size and
mode (RGB, RGBA with its alpha kept, L; other modes are converted to the nearest and the result says so).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoint import InpaintModel, load_model, model_key
from .devices import describe, resolve_device
from .errors import Cancelled, InpaintError
from .imageio import load_mask, to_working_mode
from .methods import method as method_spec
from .blend import poisson_blend
from .regions import Region, split_regions

Progress = Callable[[float], None]
Cancel = Callable[[], bool]
MIN_WINDOW = 32  # px: tiny holes still get enough context around them
BATCH = 16


@dataclass
class FillResult:
    image: Image.Image
    method: str
    seconds: float
    device: str
    notes: list[str] = field(default_factory=list)


@lru_cache(maxsize=4)
def _cached_model(key: tuple[str, int, int, int], device: str) -> InpaintModel:
    return load_model(key[0], device)


def get_model(model: InpaintModel | str | Path | None, device: str | torch.device = "auto") -> InpaintModel:
    """A loaded model: the one given, or the file given / the default model, loaded once per device."""
    if isinstance(model, InpaintModel):
        return model
    return _cached_model(model_key(model), str(resolve_device(device)))


def _mask_array(mask, size: tuple[int, int]) -> np.ndarray:
    if isinstance(mask, np.ndarray):
        if mask.shape != (size[1], size[0]):
            raise InpaintError(
                f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {size[0]}x{size[1]}; "
                "the mask must have the image's size"
            )
        return mask.astype(bool)
    return load_mask(mask, size)


def _window(region: Region, h: int, w: int) -> tuple[int, int, int]:
    """Square context window (top, left, side) about twice the hole, shifted inside the image where it fits."""
    side = max(2 * region.side, MIN_WINDOW)
    cy, cx = (region.top + region.bottom) // 2, (region.left + region.right) // 2

    def place(centre: int, extent: int) -> int:
        start = centre - side // 2
        if side <= extent:
            start = min(max(start, 0), extent - side)
        return start

    return place(cy, h), place(cx, w), side


def _crop_padded(t: torch.Tensor, top: int, left: int, side: int) -> torch.Tensor:
    """t[..., top:top+side, left:left+side], reflect-padded (replicate when too small to reflect) outside t."""
    h, w = t.shape[-2:]
    pads = (max(0, -left), max(0, left + side - w), max(0, -top), max(0, top + side - h))
    inner = t[..., max(0, top) : min(h, top + side), max(0, left) : min(w, left + side)]
    if not any(pads):
        return inner
    small = pads[0] >= inner.shape[-1] or pads[1] >= inner.shape[-1] or pads[2] >= inner.shape[-2] or pads[3] >= inner.shape[-2]
    return F.pad(inner.unsqueeze(0), pads, mode="replicate" if small else "reflect").squeeze(0)


def _seam_correction(pred: torch.Tensor, truth: torch.Tensor, hole: torch.Tensor, px: int) -> torch.Tensor:
    """Feather the seam inside the hole: the colour offset between the prediction and the real context on a
    thin ring outside the hole is spread into the hole and fades out over about `px` pixels, so the fill meets
    its surroundings without a visible step while pixels outside the hole stay untouched."""
    ring = (F.max_pool2d(hole, 5, 1, 2) - hole).clamp(0, 1)
    offset = (truth - pred) * ring
    k = 2 * px + 1
    spread = F.avg_pool2d(offset, k, 1, px, count_include_pad=False) / F.avg_pool2d(ring, k, 1, px, count_include_pad=False).clamp_min(1e-4)
    # distance-like fade: how much of the neighbourhood is context
    fade = F.avg_pool2d(1 - hole, k, 1, px, count_include_pad=False).mul(2).clamp(0, 1)
    return pred + spread * fade * hole


def context_encoder_fill(
    image: torch.Tensor, hole: torch.Tensor, model: InpaintModel, progress: Progress | None = None, cancel: Cancel | None = None
) -> torch.Tensor:
    """(3,H,W) in [0,1] and (H,W) bool -> (3,H,W) with the hole predicted (outside the hole unspecified)."""
    h, w = hole.shape
    size = model.config.image_size
    regions = split_regions(hole.cpu().numpy())
    whole = ((h - max(h, w)) // 2, (w - max(h, w)) // 2, max(h, w))
    # A region too large for a window of its own takes a downscaled pass over the whole (square-padded) image;
    # only that region: every other hole keeps its own sharp window.
    windows = [whole if _window(r, h, w)[2] > max(h, w) else _window(r, h, w) for r in regions]
    hole_f = hole.float()[None]
    crops, masks = [], []
    for top, left, side in windows:
        crops.append(F.interpolate(_crop_padded(image, top, left, side)[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False))
        m = F.interpolate(_crop_padded(hole_f, top, left, side)[None], size=(size, size), mode="area")
        masks.append((m > 0.01).float())
    crops_t, masks_t = torch.cat(crops), torch.cat(masks)
    preds = []
    for i in range(0, len(crops_t), BATCH):
        if cancel and cancel():
            raise Cancelled()
        pred = model.predict(crops_t[i : i + BATCH], masks_t[i : i + BATCH]).to(image.device)
        preds.append(_seam_correction(pred, crops_t[i : i + BATCH].to(image.device), masks_t[i : i + BATCH].to(image.device), max(2, size // 32)))
        if progress:
            progress(min(len(crops_t), i + BATCH) / len(crops_t))
    preds_t = torch.cat(preds)
    out = image.clone()
    for region, (top, left, side), pred in zip(regions, windows, preds_t):
        full = F.interpolate(pred[None], size=(side, side), mode="bicubic", align_corners=False)[0].clamp(0, 1)
        ys, xs = np.nonzero(region.cells)
        ys_t = torch.from_numpy(ys + region.top).to(image.device)
        xs_t = torch.from_numpy(xs + region.left).to(image.device)
        out[:, ys_t, xs_t] = full[:, ys_t - top, xs_t - left]
    return out


def _scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    return (lambda f: progress(start + (end - start) * f)) if progress else None


def _parts(hole: np.ndarray, options) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """Crops (y0, y1, x0, x1) to fill one by one, each with the hole pixels it is responsible for.

    A fill reads only near its hole (the context encoder's windows, the patch fill's ring), so separate holes are
    filled in separate crops with room for both: 200 dust spots on a 24 MP photo then never make a full-size
    float copy of the photo. Sampling from the whole image or a painted area needs all of it: one part.
    """
    h, w = hole.shape
    whole = [((0, h, 0, w), hole)]
    if options.sampling != "ring":
        return whole
    parts, largest = [], 0
    for region in split_regions(hole):
        margin = max(region.side, options.ring_width + options.patch_size) + MIN_WINDOW
        y0, y1 = max(0, region.top - margin), min(h, region.bottom + margin)
        x0, x1 = max(0, region.left - margin), min(w, region.right + margin)
        parts.append(((y0, y1, x0, x1), region.mask_in(y0, y1, x0, x1)))
        largest = max(largest, (y1 - y0) * (x1 - x0))
    return parts if largest < h * w / 2 else whole  # one at a time: memory follows the largest crop


def _fill(rgb: torch.Tensor, hole: torch.Tensor, others: torch.Tensor, method: str, model, device, options,
          blend: bool, progress: Progress | None, cancel: Cancel | None) -> torch.Tensor:
    """(3,H,W) in [0,1] with the hole filled by `method`, blended into its surroundings when asked; `others`
    are holes filled in another part, which the patch fill never copies from."""
    spec = method_spec(method)
    share = 0.2 if spec.uses_patches else 1.0  # of the progress bar, for the network's pass
    filled = context_encoder_fill(rgb, hole, get_model(model, device), _scaled(progress, 0, share), cancel) if spec.needs_model else None
    if spec.uses_patches:
        from .patchmatch import patch_fill

        # The patch fill blends itself: its solve also removes the seams between the pieces it copied.
        return patch_fill(rgb, hole, options, init=filled, exclude=others, blend=blend,
                          progress=_scaled(progress, 1 - share if filled is not None else 0, 1), cancel=cancel)
    return poisson_blend(rgb, filled, hole) if blend else filled


def inpaint(
    image: Image.Image,
    mask,
    *,
    method: str = "context-encoder",
    model: InpaintModel | str | Path | None = None,
    device: str | torch.device = "auto",
    patch_options=None,
    seed: int = 0,
    blend: bool = True,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> FillResult:
    """Fill the hole (mask: bool HxW array or mask image, True/bright = hole) of a PIL image; `blend` melts the
    fill into the pixels around the hole in the gradient domain (colours then follow the hole's surroundings)."""
    spec = method_spec(method)
    start = time.perf_counter()
    working, note = to_working_mode(image)
    notes = [note] if note else []
    hole = _mask_array(mask, image.size)
    if not hole.any():
        return FillResult(working.copy(), method, time.perf_counter() - start, "none", notes + ["empty mask: nothing to fill"])
    if hole.all():
        raise InpaintError("the mask covers the whole image; leave some of the photo around the hole to fill from")

    dev = get_model(model, device).device if spec.needs_model else resolve_device(device)
    from .patchmatch import PatchFillOptions

    options = replace(patch_options, seed=seed) if patch_options else PatchFillOptions(seed=seed)
    result = working.copy()  # written only inside the hole, one crop at a time: no full-size array
    parts = _parts(hole, options)
    total, done = sum(int(cells.sum()) for _, cells in parts), 0
    for (y0, y1, x0, x1), cells in parts:
        if cancel and cancel():
            raise Cancelled()
        source = working.crop((x0, y0, x1, y1))
        target = np.array(source)
        rgb_u8 = target if source.mode == "RGB" else np.array(source.convert("RGB"))
        rgb = torch.from_numpy(rgb_u8).permute(2, 0, 1).float().div(255).to(dev)  # .float() copies
        hole_t = torch.from_numpy(cells).to(dev)
        others = torch.from_numpy(hole[y0:y1, x0:x1] & ~cells).to(dev)  # holes of other parts: never sources
        share = int(cells.sum())
        part_progress = _scaled(progress, done / total, (done + share) / total)
        filled = _fill(rgb, hole_t, others, method, model, device, options, blend, part_progress, cancel)
        crop = (filled.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).cpu().numpy()
        if working.mode == "L":
            crop = np.asarray(Image.fromarray(crop, "RGB").convert("L"))
        if working.mode == "RGBA":
            target[..., :3][cells] = crop[cells]  # alpha kept as it was
        else:
            target[cells] = crop[cells]
        # Only this part's hole is written: a crop that overlaps a hole filled by an earlier part must not paste
        # that hole's original pixels back.
        result.paste(Image.fromarray(target, working.mode), (x0, y0), Image.fromarray(cells))
        done += share
    result.info.update({k: v for k, v in image.info.items() if k in ("icc_profile", "exif", "dpi")})
    if progress:
        progress(1.0)
    return FillResult(result, method, time.perf_counter() - start, describe(dev), notes)
