"""The README's before/after picture: the bundled sample with the spoon masked, filled by every method.

    python bench/before_after.py [--model resources/models/default.pt] [--out resources/before_after.jpg]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from contextfill.model.checkpoint import DEFAULT_MODEL_PATH, RESOURCES
from contextfill.model.methods import NAMES
from contextfill.model.pipeline import inpaint

SPOON = {"handle": [(402, 64), (424, 70), (392, 242), (370, 240)], "bowl": (322, 236, 410, 330)}


def spoon_mask(size: tuple[int, int], grow: int = 6) -> np.ndarray:
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    draw.polygon(SPOON["handle"], fill=255)
    draw.ellipse(SPOON["bowl"], fill=255)
    grown = canvas.filter(ImageFilter.MaxFilter(2 * grow + 1))
    return np.asarray(grown) > 127


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--out", type=Path, default=RESOURCES / "before_after.jpg")
    args = parser.parse_args()
    photo = Image.open(RESOURCES / "samples" / "coffee.png").convert("RGB")
    hole = spoon_mask(photo.size)
    shown = np.asarray(photo).copy()
    shown[hole] = (0.5 * shown[hole] + 0.5 * np.array([230, 40, 90])).astype(np.uint8)
    panels = [("before (mask in pink)", Image.fromarray(shown))]
    for method in NAMES:
        result = inpaint(photo, hole, method=method, model=args.model)
        panels.append((f"{method}, {result.seconds:.1f} s {result.device}", result.image))
    w, h = photo.size
    sheet = Image.new("RGB", (2 * w, 2 * h + 2 * 24), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=18)
    for i, (label, image) in enumerate(panels):
        x, y = (i % 2) * w, (i // 2) * (h + 24)
        draw.text((x + 6, y + 2), label, fill="black", font=font)
        sheet.paste(image, (x, y + 24))
    sheet.save(args.out, quality=88)
    print(args.out)


if __name__ == "__main__":
    main()
