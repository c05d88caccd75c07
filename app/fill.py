"""Glue between the GUI and the engine: fill options from settings, the loaded model, and task functions.

Nothing here touches widgets; every function returned here runs on a worker thread. The model is loaded
once per (file, device) and reused by later fills, under a lock so two workers never load it twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from contextfill.app import settings as S
from contextfill.app.paths import default_model_path
from contextfill.app.qtimage import pil_to_qimage, reduced
from contextfill.model.methods import method as spec


@dataclass(frozen=True)
class FillOptions:
    model_path: str = ""
    device: str = "auto"
    patch_size: int = 7
    sampling: str = "ring"
    ring_width: int = 96
    quality: str = "fast"
    seed: int = 0
    blend: bool = True
    region: np.ndarray | None = field(default=None, compare=False, repr=False)  # bool HxW for sampling "region"

    @classmethod
    def from_settings(cls, settings: S.Settings) -> FillOptions:
        return cls(
            model_path=settings.get(S.MODEL_PATH),
            device=settings.get(S.DEVICE),
            patch_size=settings.get(S.PATCH_SIZE),
            sampling=settings.get(S.SAMPLING),
            ring_width=settings.get(S.RING_WIDTH),
            quality=settings.get(S.QUALITY),
            seed=settings.get(S.SEED),
            blend=bool(settings.get(S.BLEND)),
        )

    def sampling_from(self, region: np.ndarray | None) -> FillOptions:
        """Copy only from the painted sampling area; none (an empty one) keeps the default sampling."""
        return self if region is None else replace(self, sampling="region", region=region)

    def resolved_model_path(self) -> Path:
        return Path(self.model_path) if self.model_path else default_model_path()

    def patch_options(self):
        from contextfill.model.patchmatch import PatchFillOptions

        return PatchFillOptions(
            patch_size=self.patch_size, sampling=self.sampling, ring_width=self.ring_width,
            region=self.region, quality=self.quality, seed=self.seed,
        )


class ModelCache:
    """Holds the one loaded context-encoder model; loading happens on whichever worker asks first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._model = None

    def get(self, path: Path, device: str):
        from contextfill.model.checkpoint import load_model, model_key

        key = (model_key(path), device)  # a model retrained into the same file is loaded again
        with self._lock:
            if self._key != key:
                self._model = None
                self._model = load_model(path, device=device)
                self._key = key
            return self._model


def needs_model(method: str) -> bool:
    return spec(method).needs_model


def uses_patches(method: str) -> bool:
    """Takes patch options (seed, sampling area, patch size): from the method's entry in model/methods.py."""
    return spec(method).uses_patches


def fill_task(method: str, image: Image.Image, mask: np.ndarray, options: FillOptions, models: ModelCache):
    """A task function (progress, cancel) -> (FillResult, QImage of it, its reduced copies) filling `mask`
    with one method.

    The QImages are made on the worker too, so the GUI thread only has to turn them into pixmaps.
    """

    def run(progress, cancel):
        from contextfill.model.pipeline import inpaint

        model = models.get(options.resolved_model_path(), options.device) if needs_model(method) else None
        result = inpaint(
            image, mask, method=method, model=model, device=options.device,
            patch_options=options.patch_options() if uses_patches(method) else None,
            seed=options.seed, blend=options.blend, progress=progress, cancel=cancel,
        )
        preview = pil_to_qimage(result.image)
        return result, preview, reduced(result.image)

    return run


def load_model_task(options: FillOptions, models: ModelCache):
    """A task function that loads (or finds already loaded) the model the settings name."""

    def run(progress, cancel):
        return models.get(options.resolved_model_path(), options.device)

    return run
