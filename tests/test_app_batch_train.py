"""Tools menu: batch fill of a folder on a worker, and the fine-tuning wizard driving a real training process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from app_fixtures import app_settings, dialogs, photo_path, window  # noqa: F401
from PySide6.QtWidgets import QWizard

from app import settings as S
from app.batch_dialog import BatchDialog
from app.fill import ModelCache
from app.train_wizard import TrainWizard

TRAIN_TIMEOUT_MS = 120_000


@pytest.fixture
def batch(qtbot, app_settings, tiny_model_path, monkeypatch):  # noqa: F811
    app_settings.set(S.MODEL_PATH, str(tiny_model_path))
    app_settings.set(S.DEVICE, "cpu")
    errors: list[str] = []
    monkeypatch.setattr("app.batch_dialog.show_error", lambda parent, title, message, details=None: errors.append(message))
    dialog = BatchDialog(app_settings, ModelCache())
    dialog.errors = errors
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    dialog.cancel()
    dialog.runner.wait(10_000)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _run(qtbot, dialog: BatchDialog) -> None:
    with qtbot.waitSignal(dialog.finished_batch, timeout=60_000):
        assert dialog.start()
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()


def test_batch_fills_a_folder_and_leaves_inputs_alone(qtbot, batch, photo_dir):
    before = _snapshot(photo_dir)
    batch.input_edit.setText(str(photo_dir))
    assert batch.output_edit.text() == str(photo_dir.parent / "photos-filled"), "default output is beside the input"
    batch.method.setCurrentIndex(batch.method.findData("context-encoder"))
    _run(qtbot, batch)
    out = photo_dir.parent / "photos-filled"
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(4)]
    assert _snapshot(photo_dir) == before
    assert [batch.log.item(i).text().split()[0] for i in range(batch.log.count())] == ["ok"] * 4
    assert "4 filled, 0 skipped, 0 failed" in batch.status.text()
    assert batch.progress.value() == 1000 and batch.open_button.isVisible() and batch.start_button.isEnabled()

    _run(qtbot, batch)  # again: every output exists, so every photo is skipped
    assert "0 filled, 4 skipped, 0 failed" in batch.status.text()
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(4)]


def test_batch_lists_a_bad_file_as_fail_and_goes_on(qtbot, batch, photo_dir, tmp_path):
    (photo_dir / "broken.png").write_bytes(b"not an image")
    batch.input_edit.setText(str(photo_dir))
    batch.output_edit.setText(str(tmp_path / "out"))
    batch.mask_kind.setCurrentIndex(batch.mask_kind.findData("center"))
    batch.method.setCurrentIndex(batch.method.findData("patch"))
    _run(qtbot, batch)
    lines = [batch.log.item(i).text() for i in range(batch.log.count())]
    assert [line for line in lines if line.startswith("FAIL")] == [next(line for line in lines if "broken.png" in line)]
    assert sum(line.startswith("ok") for line in lines) == 4
    assert "4 filled, 0 skipped, 1 failed" in batch.status.text()
    assert len(list((tmp_path / "out").glob("p*.png"))) == 4


def test_batch_refuses_an_output_inside_the_input(qtbot, batch, photo_dir):
    before = _snapshot(photo_dir)
    batch.input_edit.setText(str(photo_dir))
    for output in (photo_dir, photo_dir / "filled"):
        batch.output_edit.setText(str(output))
        assert not batch.start()
        assert "Choose another results folder" in batch.status.text() and "inside it" in batch.status.text()
        assert batch.task is None and batch.start_button.isEnabled()
    assert _snapshot(photo_dir) == before


def test_batch_runs_off_the_gui_thread_and_cancels(qtbot, batch, photo_dir, tmp_path, monkeypatch):
    import model.batch

    threads, release = [], threading.Event()

    def slow(image, mask, *, cancel, **kwargs):
        threads.append(threading.current_thread())
        release.wait(10)
        from model.errors import Cancelled

        if cancel():
            raise Cancelled()
        raise AssertionError("cancel was never seen")

    monkeypatch.setattr(model.batch, "inpaint", slow)
    batch.input_edit.setText(str(photo_dir))
    batch.output_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(batch.finished_batch, timeout=20_000):
        assert batch.start()
        qtbot.waitUntil(lambda: bool(threads), timeout=10_000)
        batch.cancel_button.click()
        release.set()
    assert threads == [threads[0]] and threads[0] is not threading.main_thread()
    assert batch.status.text().startswith("Cancelled: 0 filled") and batch.errors == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_tools_menu_opens_both(qtbot, window):  # noqa: F811
    titles = [a.text() for a in window.menuBar().actions()[2].menu().actions()]
    assert "&Batch fill folder…" in titles and "Fine-&tune on my photos…" in titles
    dialog = window.open_batch_dialog()
    assert dialog.isVisible()
    dialog.reject()
    wizard = window.open_train_wizard()
    assert wizard.isVisible()
    wizard.reject()


@pytest.fixture
def wizard(qtbot, app_settings, tiny_model_path, monkeypatch):  # noqa: F811
    app_settings.set(S.MODEL_PATH, str(tiny_model_path))
    app_settings.set(S.DEVICE, "cpu")
    errors: list[str] = []
    monkeypatch.setattr("app.train_wizard.show_error", lambda parent, title, message, details=None: errors.append(message))
    wiz = TrainWizard(app_settings)
    wiz.errors = errors
    qtbot.addWidget(wiz)
    wiz.show()
    yield wiz
    process = wiz.run_page.train.process
    process.kill()
    process.waitForFinished(10_000)


def _start(wizard, photos: Path, run: Path, steps: int) -> None:
    wizard.setup_page.photos_edit.setText(str(photos))
    wizard.setup_page.run_edit.setText(str(run))
    wizard.setup_page.steps.setValue(steps)
    wizard.next()
    assert wizard.currentPage() is wizard.run_page


def test_wizard_trains_to_done_and_uses_the_model(qtbot, wizard, photo_dir, tmp_path, app_settings):  # noqa: F811
    assert not wizard.setup_page.resume.isVisible()
    wizard.extra_args = ["--dry-run"]
    chosen = []
    wizard.modelChosen.connect(chosen.append)
    _start(wizard, photo_dir, tmp_path / "run", 2)
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    qtbot.waitUntil(lambda: wizard.run_page.isComplete(), timeout=TRAIN_TIMEOUT_MS)
    page = wizard.run_page
    model = tmp_path / "run" / "model.pt"
    assert wizard.errors == []
    assert page.model_path == str(model) and model.is_file()
    assert page.status.text().startswith("Done.") and str(model) in page.status.text()
    assert page.progress.value() == page.progress.maximum() == 2
    assert "images/s" in page.speed.text() and "dB" in page.psnr.text() and not page.preview.pixmap().isNull()
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    page.use_button.click()
    assert chosen == [str(model)] and app_settings.get(S.MODEL_PATH) == str(model)

    resume = TrainWizard(app_settings)
    qtbot.addWidget(resume)
    resume.setup_page.run_edit.setText(str(tmp_path / "run"))
    assert resume.setup_page.resume.isChecked() and not resume.setup_page.resume.isHidden()
    assert "--resume" in resume.setup_page.train_args("cpu")


def test_wizard_cancel_stops_with_a_checkpoint(qtbot, wizard, photo_dir, tmp_path):
    _start(wizard, photo_dir, tmp_path / "run", 1_000_000)  # a real (tiny-model) run that cannot finish
    page = wizard.run_page
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=TRAIN_TIMEOUT_MS)
    wizard.reject()  # Cancel: stops the run, keeps the wizard open to show the outcome
    assert wizard.isVisible() and "Stopping" in page.status.text()
    qtbot.waitUntil(lambda: page.isComplete(), timeout=TRAIN_TIMEOUT_MS)
    assert wizard.errors == []
    assert page.stopped_at is not None and page.stopped_at < 1_000_000
    assert page.status.text().startswith(f"Stopped at step {page.stopped_at}")
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and page.use_button.isVisible()
    wizard.reject()
    assert not wizard.isVisible()


def test_wizard_shows_the_error_of_a_failed_run(qtbot, wizard, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_text("not a photo")
    wizard.extra_args = ["--dry-run"]
    _start(wizard, junk, tmp_path / "run", 2)
    qtbot.waitUntil(lambda: wizard.run_page.isComplete(), timeout=TRAIN_TIMEOUT_MS)
    assert len(wizard.errors) == 1 and "no usable photos to train on" in wizard.errors[0]
    assert "exit code 2" in wizard.run_page.status.text()
    assert not wizard.run_page.use_button.isVisible()
