"""Shared test set-up: Qt runs offscreen, and small generated photos and a tiny model stand in for real ones,
so a fresh clone passes without ../shared or trained weights."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from contextfill.model.checkpoint import export_inference  # noqa: E402
from contextfill.model.networks import GeneratorConfig, build_generator  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` run where a CUDA GPU is (the GPU job), and are skipped elsewhere."""
    if not torch.cuda.is_available():
        for item in items:
            if item.get_closest_marker("cuda"):
                item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))


def make_photo(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A small photo-like image: smooth colour gradients plus stripes and noise, so fills have texture to match."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 0.5 + 0.4 * np.sin(x / 7 + seed)
    g = 0.5 + 0.4 * np.cos(y / 5)
    b = (x + y) / (width + height)
    arr = np.stack([r, g, b], axis=2) + rng.normal(0, 0.03, (height, width, 3))
    return Image.fromarray((np.clip(arr, 0, 1) * 255).astype(np.uint8), "RGB")


@pytest.fixture
def photo() -> Image.Image:
    return make_photo()


@pytest.fixture
def photo_dir(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        make_photo(80 + 8 * i, 72, seed=i).save(folder / f"p{i}.png")
    return folder


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """A tiny random-weight inference model at 32x32 (seconds to run, shape-correct, format-correct)."""
    torch.manual_seed(0)
    cfg = GeneratorConfig(image_size=32, widths=[8, 16, 16, 16], decoder_widths=[16, 16, 8])
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    export_inference(build_generator(cfg).eval(), cfg, {"note": "test model"}, path)
    return path
