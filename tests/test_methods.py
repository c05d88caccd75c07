"""One method registry: the engine, the CLI and the app list the methods, and learn what each needs, from it."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from app_fixtures import app_settings  # noqa: F401  (isolated settings for the widgets below)
from PIL import Image

from contextfill.model.errors import InpaintError
from contextfill.model.methods import METHODS, NAMES, Method, method
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


def test_a_method_is_added_in_the_registry_alone(qtbot, app_settings, monkeypatch) -> None:
    """A method registered in model/methods.py appears in the Fill panel (label and hint), the batch dialog and the
    CLI, and what it needs comes from its entry: no other table lists the methods."""
    from contextfill.app.batch_dialog import BatchDialog
    from contextfill.app.fill import ModelCache, needs_model, uses_patches
    from contextfill.app.fill_panel import FillPanel

    monkeypatch.setitem(METHODS, "smudge", Method("smudge", "Smudge", needs_model=False, uses_patches=True,
                                                 hint="Smears the edge inwards"))
    panel = FillPanel(app_settings)
    qtbot.addWidget(panel)
    assert [check.text() for check in panel.checks.values()] == [m.label for m in METHODS.values()]
    assert panel.checks["smudge"].toolTip() == "Smears the edge inwards"
    assert all(panel.checks[m.name].toolTip() == m.hint and m.hint for m in METHODS.values())
    dialog = BatchDialog(app_settings, ModelCache())
    qtbot.addWidget(dialog)
    assert [dialog.method.itemData(i) for i in range(dialog.method.count())] == list(METHODS)
    assert uses_patches("smudge") and not needs_model("smudge") and not uses_patches("context-encoder")
    help_text = subprocess.run([sys.executable, "-m", "contextfill.model.cli", "batch", "--help"], capture_output=True,
                               text=True).stdout
    assert all(name in help_text for name in NAMES)


def test_a_given_seed_is_kept_when_patch_options_are_passed() -> None:
    from contextfill.model.patchmatch import PatchFillOptions

    photo = Image.fromarray((np.random.default_rng(1).random((48, 48, 3)) * 255).astype(np.uint8))
    hole = np.zeros((48, 48), bool)
    hole[16:32, 16:32] = True
    fills = [np.asarray(inpaint(photo, hole, method="patch", patch_options=PatchFillOptions(), seed=s).image) for s in (1, 2, 1)]
    assert np.array_equal(fills[0], fills[2]) and not np.array_equal(fills[0], fills[1])
