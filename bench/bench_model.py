"""Context-encoder speed on this machine: training images/s (generator + discriminator step, data included)
for both up-convolution choices, and inference milliseconds per 128x128 crop.

    python bench/bench_model.py [--model resources/models/default.pt] [--out bench/out/bench_model.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from contextfill.model.checkpoint import DEFAULT_MODEL_PATH, load_model
from contextfill.model.batches import DeviceCrops, hole_masks
from contextfill.model.losses import adversarial_losses, generator_adversarial, reconstruction_loss
from contextfill.model.networks import Discriminator, GeneratorConfig, build_generator, count_parameters, generator_input

ROOT = Path(__file__).resolve().parent.parent


def training_rate(upconv: str, batch: int, steps: int) -> dict:
    """Images/s of the real training step on synthetic in-memory photos (the loop decodes photos once)."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(upconv=upconv, decoder_widths=[128, 64, 32])
    G, D = build_generator(cfg), Discriminator(cfg.image_size)
    opt_g = torch.optim.Adam(G.parameters(), 5e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 5e-5, betas=(0.5, 0.999))
    photos = [torch.randint(0, 256, (3, 768, 1024), dtype=torch.uint8) for _ in range(4)]
    sampler = DeviceCrops(photos, cfg.image_size, torch.device("cpu"))
    data_s = step_s = 0.0
    for step in range(steps + 2):
        t0 = time.perf_counter()
        rng = np.random.default_rng(step)
        images = sampler.batch(batch, rng)
        masks = hole_masks("mixed", batch, cfg.image_size, rng, torch.device("cpu"))
        t1 = time.perf_counter()
        target = images * 2 - 1
        pred = G(generator_input(images, masks, cfg.fill))
        composite = pred * masks + target * (1 - masks)
        d_out = D(torch.cat([target, composite.detach()]))
        opt_d.zero_grad()
        adversarial_losses(d_out[:batch], d_out[batch:]).backward()
        opt_d.step()
        loss = 0.999 * reconstruction_loss(pred, target, masks) + 0.001 * generator_adversarial(D(composite))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if step >= 2:  # warm-up steps excluded
            data_s += t1 - t0
            step_s += time.perf_counter() - t0
    return {"upconv": upconv, "parameters": count_parameters(G), "images_per_s": steps * batch / step_s,
            "data_share": data_s / step_s}


def inference_ms(model_path: Path, batch: int, repeats: int) -> float:
    model = load_model(model_path, "auto")
    size = model.config.image_size
    images, masks = torch.rand(batch, 3, size, size), torch.zeros(batch, 1, size, size)
    masks[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1
    model.predict(images, masks)
    start = time.perf_counter()
    for _ in range(repeats):
        model.predict(images, masks)
    return 1000 * (time.perf_counter() - start) / (repeats * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out/bench_model.json")
    args = parser.parse_args()
    rows = [training_rate(up, 32, args.steps) for up in ("upsample", "transposed")]
    infer = {f"batch_{b}": inference_ms(args.model, b, 20) for b in (1, 16)}
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'decoder':<12}{'params':>10}{'train img/s':>13}{'data share':>12}")
    for r in rows:
        print(f"{r['upconv']:<12}{r['parameters']:>10}{r['images_per_s']:>13.1f}{r['data_share']:>11.0%}")
    print("inference ms per 128 crop: " + ", ".join(f"{k.replace('_', ' ')}: {v:.2f}" for k, v in infer.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"training": rows, "inference_ms_per_crop": infer, "threads": torch.get_num_threads()}, indent=2))


if __name__ == "__main__":
    main()
