"""One method registry: the engine, the CLI and the app's settings all list the same methods from it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from contextfill.model.errors import InpaintError
from contextfill.model.methods import METHODS, NAMES, method
from contextfill.model.pipeline import inpaint


def test_every_registered_method_fills_and_an_unknown_one_is_named(tiny_model_path) -> None:
    photo = Image.fromarray((np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8))
    hole = np.zeros((40, 60), bool)
    hole[10:20, 20:32] = True
    for name in NAMES:
        out = np.asarray(inpaint(photo, hole, method=name, model=tiny_model_path, device="cpu").image)
        assert np.array_equal(out[~hole], np.asarray(photo)[~hole])
    with pytest.raises(InpaintError, match="unknown method 'magic'; choose one of context-encoder, patch, hybrid"):
        method("magic")


def test_the_cli_and_the_app_read_the_registry() -> None:
    from contextfill.app import settings as S

    assert S.METHODS == NAMES and set(S.METHOD_LABELS) == set(METHODS)
    assert set(S.PATCH_METHODS) == {m.name for m in METHODS.values() if m.uses_patches}
    help_text = subprocess.run([sys.executable, "-m", "contextfill.model.cli", "batch", "--help"], capture_output=True, text=True).stdout
    assert all(name in help_text for name in NAMES)


def test_a_given_seed_is_kept_when_patch_options_are_passed() -> None:
    from contextfill.model.patchmatch import PatchFillOptions

    photo = Image.fromarray((np.random.default_rng(1).random((48, 48, 3)) * 255).astype(np.uint8))
    hole = np.zeros((48, 48), bool)
    hole[16:32, 16:32] = True
    fills = [np.asarray(inpaint(photo, hole, method="patch", patch_options=PatchFillOptions(), seed=s).image) for s in (1, 2, 1)]
    assert np.array_equal(fills[0], fills[2]) and not np.array_equal(fills[0], fills[1])
