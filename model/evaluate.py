"""The paper's evaluation: mean L1 %, mean L2 %, PSNR on the hole, plus how much texture survives.

Three protocols, seeded so every method sees the same holes: `center` (short side resized to 128, centre crop,
central 64x64 hole: the paper's), `blobs` (512x512, object-sized irregular holes of 4-10%) and `large`
(1024x1024, holes of 8-15%, 300-450 px across: far larger than the network's 128 px input).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from .data import find_photos
from .errors import InpaintError
from .imageio import atomic_write, load_image, to_rgb
from .masks import blob_mask, center_mask
from .peers import PEER_METHODS, peer_fill
from .methods import NAMES
from .pipeline import inpaint

PROTOCOLS = {"center": 128, "blobs": 512, "large": 1024}
_HOLE_FRACTIONS = {"blobs": (0.04, 0.10), "large": (0.08, 0.15)}


def hole_metrics(pred: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    """pred/truth uint8 (H,W,3); hole bool (H,W). L1/L2 in percent of the [0,1] range, as the paper reports.

    grad_ratio is the hole's gradient energy relative to the truth: 1.0 is as sharp as the original, blurry
    fills (diffusion, L2-trained nets) fall well below it."""
    p, t = pred.astype(np.float64) / 255, truth.astype(np.float64) / 255
    diff = (p - t)[hole]
    mse = float((diff**2).mean())

    def energy(a: np.ndarray) -> float:
        inside_x, inside_y = hole[:, 1:] & hole[:, :-1], hole[1:, :] & hole[:-1, :]
        return float((np.diff(a, axis=1) ** 2)[inside_x].sum() + (np.diff(a, axis=0) ** 2)[inside_y].sum())

    truth_energy = energy(t)
    return {
        "l1": 100 * float(np.abs(diff).mean()),
        "l2": 100 * mse,
        "psnr": 10 * float(np.log10(1 / max(mse, 1e-10))),
        "grad_ratio": energy(p) / truth_energy if truth_energy > 0 else float("nan"),
    }


def protocol_sample(image: Image.Image, protocol: str, index: int, seed: int = 0) -> tuple[Image.Image, np.ndarray]:
    """The square test image and its hole for one photo under a protocol."""
    size = PROTOCOLS[protocol]
    square = ImageOps.fit(to_rgb(image), (size, size), Image.Resampling.LANCZOS)
    if protocol == "center":
        return square, center_mask(size, size)
    rng = np.random.default_rng([seed, index])
    return square, blob_mask(size, size, rng, rng.uniform(*_HOLE_FRACTIONS[protocol]))


def fill_with(method: str, image: Image.Image, hole: np.ndarray, model=None, device: str = "auto", seed: int = 0) -> Image.Image:
    if method in PEER_METHODS:
        return peer_fill(image, hole, method)
    return inpaint(image, hole, method=method, model=model, device=device, seed=seed).image


@dataclass
class EvalRow:
    method: str
    l1: float
    l2: float
    psnr: float
    grad_ratio: float
    seconds: float
    images: int


def evaluate(
    folder: str | Path, protocol: str, methods: list[str], model=None, device: str = "auto", seed: int = 0,
    limit: int | None = None, log: Callable[[str], None] = print,
) -> list[EvalRow]:
    if protocol not in PROTOCOLS:
        raise InpaintError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    unknown = [m for m in methods if m not in NAMES + PEER_METHODS]
    if unknown:
        raise InpaintError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(NAMES + PEER_METHODS)}")
    samples = []
    for path in find_photos(folder):
        try:
            samples.append(protocol_sample(load_image(path), protocol, len(samples), seed))
        except InpaintError as exc:
            log(f"warning: skipping {exc}")
        if limit and len(samples) >= limit:
            break
    if not samples:
        raise InpaintError(f"{folder}: no readable photos")
    rows = []
    for method in methods:
        scores, seconds = [], 0.0
        for image, hole in samples:
            start = time.perf_counter()
            try:
                out = fill_with(method, image, hole, model, device, seed)
            except ImportError:
                log(f"skipping {method}: not installed (pip install -e '.[bench]')")
                break
            seconds += time.perf_counter() - start
            scores.append(hole_metrics(np.asarray(out.convert("RGB")), np.asarray(image), hole))
        if scores:
            mean = {k: float(np.nanmean([s[k] for s in scores])) for k in scores[0]}
            rows.append(EvalRow(method, **mean, seconds=seconds / len(scores), images=len(scores)))
    return rows


def format_table(rows: list[EvalRow], protocol: str) -> str:
    lines = [
        f"protocol {protocol}: {rows[0].images if rows else 0} images",
        f"{'method':<16}{'L1 %':>8}{'L2 %':>8}{'PSNR dB':>9}{'grad':>7}{'s/img':>8}",
    ]
    lines += [f"{r.method:<16}{r.l1:8.2f}{r.l2:8.2f}{r.psnr:9.2f}{r.grad_ratio:7.2f}{r.seconds:8.3f}" for r in rows]
    return "\n".join(lines)


def write_json(rows: list[EvalRow], protocol: str, path: str | Path) -> None:
    payload = {"protocol": protocol, "rows": [asdict(r) for r in rows]}
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2)))
