"""The invariants of the one inference pipeline, on small generated images with a tiny model."""

import io

import numpy as np
import pytest
from PIL import Image

from contextfill.model.errors import Cancelled, InpaintError
from contextfill.model.patchmatch import PatchFillOptions
from contextfill.model.pipeline import _parts, inpaint


def box_mask(h, w, top, left, bh, bw):
    m = np.zeros((h, w), bool)
    m[top : top + bh, left : left + bw] = True
    return m


def test_outside_hole_bit_identical_and_hole_filled(photo, tiny_model_path):
    mask = box_mask(64, 96, 20, 30, 16, 20)
    out = inpaint(photo, mask, model=tiny_model_path, device="cpu")
    before, after = np.asarray(photo), np.asarray(out.image)
    assert out.image.size == photo.size and out.image.mode == "RGB"
    assert np.array_equal(before[~mask], after[~mask])
    assert (before[mask] != after[mask]).any(axis=-1).mean() > 0.5
    assert out.device == "CPU" and out.method == "context-encoder" and out.seconds > 0


def test_rgba_keeps_alpha_everywhere(photo, tiny_model_path):
    rgba = photo.convert("RGBA")
    alpha = np.full((64, 96), 200, np.uint8)
    alpha[:, :10] = 0
    rgba.putalpha(Image.fromarray(alpha))
    mask = box_mask(64, 96, 10, 5, 20, 20)
    out = inpaint(rgba, mask, model=tiny_model_path, device="cpu").image
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[..., 3], alpha)
    assert np.array_equal(np.asarray(out)[~mask], np.asarray(rgba)[~mask])


def test_greyscale_stays_greyscale(photo, tiny_model_path):
    grey = photo.convert("L")
    mask = box_mask(64, 96, 30, 30, 10, 10)
    out = inpaint(grey, mask, model=tiny_model_path, device="cpu").image
    assert out.mode == "L" and np.array_equal(np.asarray(out)[~mask], np.asarray(grey)[~mask])


@pytest.mark.parametrize("mode,expected", [("CMYK", "RGB"), ("P", "RGB"), ("I;16", "L"), ("LA", "RGBA")])
def test_other_modes_are_converted_and_said_so(photo, tiny_model_path, mode, expected):
    image = photo.convert("L").convert("I;16") if mode == "I;16" else photo.convert(mode)
    out = inpaint(image, box_mask(64, 96, 5, 5, 8, 8), model=tiny_model_path, device="cpu")
    assert out.image.mode == expected and out.image.size == image.size
    assert any("converted" in note for note in out.notes)


def test_empty_mask_returns_the_image_unchanged(photo, tiny_model_path):
    out = inpaint(photo, np.zeros((64, 96), bool), model=tiny_model_path)
    assert np.array_equal(np.asarray(out.image), np.asarray(photo))


def test_all_hole_mask_is_a_clear_error(photo, tiny_model_path):
    with pytest.raises(InpaintError, match="covers the whole image"):
        inpaint(photo, np.ones((64, 96), bool), model=tiny_model_path)


def test_mask_of_another_size_is_an_error_not_a_resize(photo, tiny_model_path):
    with pytest.raises(InpaintError, match="must have the image's size"):
        inpaint(photo, np.zeros((64, 95), bool), model=tiny_model_path)
    with pytest.raises(InpaintError, match="must have the image's size"):
        inpaint(photo, Image.new("L", (64, 96), 255), model=tiny_model_path)


def test_mask_size_is_compared_after_exif_orientation(photo, tiny_model_path):
    """A portrait mask saved with an EXIF rotation matches the landscape photo once orientation is applied."""
    mask_img = Image.new("L", (64, 96), 0)  # portrait on disk
    mask_img.paste(255, (10, 10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display -> 96x64
    buf = io.BytesIO()
    mask_img.save(buf, format="JPEG", exif=exif.tobytes(), quality=100)
    buf.seek(0)
    out = inpaint(photo, Image.open(buf), model=tiny_model_path, device="cpu")
    assert out.image.size == photo.size


def test_mask_image_brighter_than_mid_grey_is_hole(photo, tiny_model_path):
    mask_img = Image.new("L", photo.size, 100)
    mask_img.paste(200, (40, 20, 50, 30))
    out = np.asarray(inpaint(photo, mask_img, model=tiny_model_path, device="cpu").image)
    hole = np.asarray(mask_img) > 127
    assert np.array_equal(out[~hole], np.asarray(photo)[~hole]) and (out[hole] != np.asarray(photo)[hole]).any()


def test_many_regions_tiny_holes_border_holes_and_huge_hole(photo, tiny_model_path):
    mask = np.zeros((64, 96), bool)
    mask[0, 0] = mask[63, 95] = True  # single pixels in corners
    mask[30:34, 90:96] = True  # touching the border
    mask[10:14, 40:44] = True
    out = inpaint(photo, mask, model=tiny_model_path, device="cpu").image
    assert np.array_equal(np.asarray(out)[~mask], np.asarray(photo)[~mask])
    huge = box_mask(64, 96, 2, 2, 60, 90)  # too large for any window: whole-image pass
    out = inpaint(photo, huge, model=tiny_model_path, device="cpu").image
    assert np.array_equal(np.asarray(out)[~huge], np.asarray(photo)[~huge])


def test_image_smaller_than_the_model(tiny_model_path):
    tiny = Image.new("RGB", (5, 3), (10, 200, 30))
    mask = np.zeros((3, 5), bool)
    mask[1, 2] = True
    out = inpaint(tiny, mask, model=tiny_model_path, device="cpu").image
    assert out.size == (5, 3) and np.array_equal(np.asarray(out)[~mask], np.asarray(tiny)[~mask])


def test_progress_and_cancel(photo, tiny_model_path):
    seen = []
    inpaint(photo, box_mask(64, 96, 5, 5, 8, 8), model=tiny_model_path, progress=seen.append)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        inpaint(photo, box_mask(64, 96, 5, 5, 8, 8), model=tiny_model_path, cancel=lambda: True)


def test_unknown_method_and_bad_model_file_are_clear_errors(photo, tmp_path):
    with pytest.raises(InpaintError, match="unknown method"):
        inpaint(photo, box_mask(64, 96, 5, 5, 8, 8), method="magic")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(InpaintError, match="not a ContextFill model"):
        inpaint(photo, box_mask(64, 96, 5, 5, 8, 8), model=bad)


def test_cmyk_conversion_preserves_context_pixels_in_converted_space(photo, tiny_model_path):
    cmyk = photo.convert("CMYK")
    mask = box_mask(64, 96, 5, 5, 8, 8)
    out = np.asarray(inpaint(cmyk, mask, model=tiny_model_path, device="cpu").image)
    assert np.array_equal(out[~mask], np.asarray(cmyk.convert("RGB"))[~mask])


def test_only_the_oversized_region_takes_the_whole_image_pass(photo, tiny_model_path):
    """A small spot keeps its own sharp window even when another hole is too big for one."""
    spot = box_mask(64, 96, 52, 80, 6, 6)
    huge = box_mask(64, 96, 2, 2, 44, 60)
    alone = np.asarray(inpaint(photo, spot, model=tiny_model_path, device="cpu", blend=False).image)
    both = np.asarray(inpaint(photo, spot | huge, model=tiny_model_path, device="cpu", blend=False).image)
    assert np.array_equal(both[spot], alone[spot])


@pytest.mark.parametrize("method", ["context-encoder", "patch", "hybrid"])
def test_separate_holes_filled_crop_by_crop_leave_the_input_untouched(tiny_model_path, method):
    rng = np.random.default_rng(3)
    pixels = (rng.random((600, 800, 3)) * 60 + np.linspace(40, 180, 800)[None, :, None]).astype(np.uint8)
    photo = Image.fromarray(pixels)
    mask = box_mask(600, 800, 20, 20, 8, 8) | box_mask(600, 800, 550, 750, 10, 6)  # far apart: two crops
    assert len(_parts(mask, PatchFillOptions())) == 2
    out = inpaint(photo, mask, method=method, model=tiny_model_path, device="cpu").image
    assert np.array_equal(np.asarray(photo), pixels)  # the caller's image is never written
    after = np.asarray(out)
    assert np.array_equal(after[~mask], pixels[~mask])
    for hole in (box_mask(600, 800, 20, 20, 8, 8), box_mask(600, 800, 550, 750, 10, 6)):
        assert (after[hole] != pixels[hole]).any(axis=-1).mean() > 0.5


MAGENTA = (255, 0, 255)  # a colour the test photo never has: a hole pixel still magenta was never filled


@pytest.mark.parametrize("method", ["context-encoder", "patch", "hybrid"])
def test_every_hole_pixel_is_filled_when_crops_overlap(tiny_model_path, method):
    """Holes 24 px apart (each inside the other's crop), far apart, in a corner and touching the border: each
    part writes its own hole only, so no part pastes another's unfilled pixels back."""
    rng = np.random.default_rng(5)
    pixels = (rng.random((480, 640, 3)) * 60 + np.linspace(40, 180, 640)[None, :, None]).astype(np.uint8)
    holes = [box_mask(480, 640, 100, 100, 30, 30), box_mask(480, 640, 100, 154, 30, 20),  # 24 px apart
             box_mask(480, 640, 300, 400, 40, 60), box_mask(480, 640, 0, 0, 12, 12),  # far; a corner
             box_mask(480, 640, 200, 628, 20, 12), box_mask(480, 640, 470, 300, 10, 25)]  # on the borders
    mask = np.any(holes, axis=0)
    parts = _parts(mask, PatchFillOptions())
    assert len(parts) == len(holes)
    assert any(mask[y0:y1, x0:x1].sum() > cells.sum() for (y0, y1, x0, x1), cells in parts)  # crops overlap
    painted = pixels.copy()
    painted[mask] = MAGENTA
    out = np.asarray(inpaint(Image.fromarray(painted), mask, method=method, model=tiny_model_path,
                             device="cpu").image)
    assert np.array_equal(out[~mask], painted[~mask])
    for hole in holes:
        untouched = (out[hole] == MAGENTA).all(axis=-1)
        assert not untouched.any(), f"{method}: {untouched.sum()} of {hole.sum()} hole pixels never filled"
