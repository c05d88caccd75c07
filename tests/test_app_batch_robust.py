"""The batch dialog on an awkward folder, and the GUI's model cache after the model file changes."""

from __future__ import annotations

from app_fixtures import app_settings, batch_dialog  # noqa: F401
from PIL import Image
from test_batch_robust import export_tiny_model, png_bomb, truncated_jpeg

from contextfill.app import settings as S
from contextfill.app.batch_dialog import BatchDialog
from contextfill.app.fill import ModelCache


def _run(qtbot, dialog: BatchDialog) -> list[str]:
    with qtbot.waitSignal(dialog.finished_batch, timeout=60_000):
        assert dialog.start()
    return [dialog.log.item(i).text() for i in range(dialog.log.count())]


def test_the_dialog_names_each_bad_file_and_fills_the_rest_in_the_chosen_format(qtbot, batch_dialog, photo_dir, tmp_path):
    png_bomb(photo_dir / "bomb.png")
    truncated_jpeg(photo_dir / "truncated.jpg")
    batch_dialog.input_edit.setText(str(photo_dir))
    batch_dialog.output_edit.setText(str(tmp_path / "out"))
    batch_dialog.method.setCurrentIndex(batch_dialog.method.findData("context-encoder"))
    batch_dialog.output_format.setCurrentIndex(batch_dialog.output_format.findData("jpg"))
    lines = _run(qtbot, batch_dialog)
    assert [line for line in lines if line.startswith("FAIL")] == [
        "FAIL bomb.png: 24000x24000 is 576 MP, over the 179 MP limit; --max-megapixels raises it",
        "FAIL truncated.jpg: the file is cut short (truncated, or still being copied)",
    ]
    assert "4 filled, 0 skipped, 2 failed" in batch_dialog.status.text() and batch_dialog.errors == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"p{i}.jpg" for i in range(4)]
    assert Image.open(tmp_path / "out" / "p0.jpg").format == "JPEG"


def test_the_dialog_stops_once_when_the_model_cannot_load(qtbot, batch_dialog, app_settings, photo_dir, tmp_path):  # noqa: F811
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    app_settings.set(S.MODEL_PATH, str(broken))
    batch_dialog.input_edit.setText(str(photo_dir))
    batch_dialog.method.setCurrentIndex(batch_dialog.method.findData("context-encoder"))
    assert _run(qtbot, batch_dialog) == []
    assert batch_dialog.errors == ["broken.pt is not a ContextFill model or checkpoint (UnpicklingError)"]
    assert batch_dialog.status.text().startswith("The batch stopped: broken.pt")


def test_the_gui_model_cache_loads_a_retrained_model_again(tmp_path):
    path = tmp_path / "model.pt"
    export_tiny_model(path, seed=1)
    models = ModelCache()
    first = models.get(path, "cpu")
    assert models.get(path, "cpu") is first
    export_tiny_model(path, seed=2)
    assert models.get(path, "cpu").record == {"seed": 2}
