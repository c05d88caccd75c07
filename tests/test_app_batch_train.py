"""Tools menu: batch fill of a folder on a worker, and the fine-tuning wizard driving a real training process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from app_fixtures import app_settings, batch_dialog, dialogs, photo_path, window  # noqa: F401
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from contextfill.app import settings as S
from contextfill.app.batch_dialog import BatchDialog
from contextfill.app.train_wizard import TrainWizard
from contextfill.model.cli import build_parser, train_config
from contextfill.model.train import FINE_TUNE_RECIPE

TRAIN_TIMEOUT_MS = 120_000


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _run(qtbot, dialog: BatchDialog) -> None:
    with qtbot.waitSignal(dialog.finished_batch, timeout=60_000):
        assert dialog.start()
        assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()


def test_batch_fills_a_folder_and_leaves_inputs_alone(qtbot, batch_dialog, photo_dir):
    before = _snapshot(photo_dir)
    batch_dialog.input_edit.setText(str(photo_dir))
    assert batch_dialog.output_edit.text() == str(photo_dir.parent / "photos-filled"), "default output is beside the input"
    batch_dialog.method.setCurrentIndex(batch_dialog.method.findData("context-encoder"))
    _run(qtbot, batch_dialog)
    out = photo_dir.parent / "photos-filled"
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(4)]
    assert _snapshot(photo_dir) == before
    assert [batch_dialog.log.item(i).text().split()[0] for i in range(batch_dialog.log.count())] == ["ok"] * 4
    assert "4 filled, 0 skipped, 0 failed" in batch_dialog.status.text()
    assert batch_dialog.progress.value() == 1000 and batch_dialog.open_button.isVisible() and batch_dialog.start_button.isEnabled()

    _run(qtbot, batch_dialog)  # again: every output exists, so every photo is skipped
    assert "0 filled, 4 skipped, 0 failed" in batch_dialog.status.text()
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}.png" for i in range(4)]


def test_batch_lists_a_bad_file_as_fail_and_goes_on(qtbot, batch_dialog, photo_dir, tmp_path):
    (photo_dir / "broken.png").write_bytes(b"not an image")
    batch_dialog.input_edit.setText(str(photo_dir))
    batch_dialog.output_edit.setText(str(tmp_path / "out"))
    batch_dialog.mask_kind.setCurrentIndex(batch_dialog.mask_kind.findData("center"))
    batch_dialog.method.setCurrentIndex(batch_dialog.method.findData("patch"))
    _run(qtbot, batch_dialog)
    lines = [batch_dialog.log.item(i).text() for i in range(batch_dialog.log.count())]
    assert [line for line in lines if line.startswith("FAIL")] == [next(line for line in lines if "broken.png" in line)]
    assert sum(line.startswith("ok") for line in lines) == 4
    assert "4 filled, 0 skipped, 1 failed" in batch_dialog.status.text()
    assert len(list((tmp_path / "out").glob("p*.png"))) == 4


def test_batch_refuses_an_output_inside_the_input(qtbot, batch_dialog, photo_dir):
    before = _snapshot(photo_dir)
    batch_dialog.input_edit.setText(str(photo_dir))
    for output in (photo_dir, photo_dir / "filled"):
        batch_dialog.output_edit.setText(str(output))
        assert not batch_dialog.start()
        assert "Choose another results folder" in batch_dialog.status.text() and "inside it" in batch_dialog.status.text()
        assert batch_dialog.task is None and batch_dialog.start_button.isEnabled()
    assert _snapshot(photo_dir) == before


def test_batch_runs_off_the_gui_thread_and_cancels(qtbot, batch_dialog, photo_dir, tmp_path, monkeypatch):
    import contextfill.model.batch
    from contextfill import model

    threads, release = [], threading.Event()

    def slow(image, mask, *, cancel, **kwargs):
        threads.append(threading.current_thread())
        release.wait(10)
        from contextfill.model.errors import Cancelled

        if cancel():
            raise Cancelled()
        raise AssertionError("cancel was never seen")

    monkeypatch.setattr(model.batch, "inpaint", slow)
    batch_dialog.input_edit.setText(str(photo_dir))
    batch_dialog.output_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(batch_dialog.finished_batch, timeout=20_000):
        assert batch_dialog.start()
        qtbot.waitUntil(lambda: bool(threads), timeout=10_000)
        batch_dialog.cancel_button.click()
        release.set()
    assert threads == [threads[0]] and threads[0] is not threading.main_thread()
    assert batch_dialog.status.text().startswith("Cancelled: 0 filled") and batch_dialog.errors == []
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
    monkeypatch.setattr("contextfill.app.train_wizard.show_error", lambda parent, title, message, details=None: errors.append(message))
    wiz = TrainWizard(app_settings)
    wiz.errors = errors
    qtbot.addWidget(wiz)
    wiz.show()
    yield wiz
    process = wiz.run_page.train.process
    process.kill()
    process.waitForFinished(10_000)


def _start(wizard, photos: Path, run: Path, *engine_args: str) -> None:
    """Start a run from the setup page; `engine_args` (hidden from the user) make it a tiny one."""
    wizard.extra_args = list(engine_args)
    wizard.setup_page.photos_edit.setText(str(photos))
    wizard.setup_page.run_edit.setText(str(run))
    wizard.next()
    assert wizard.currentPage() is wizard.run_page


def _watch(page) -> list[dict]:
    """What the run page shows right after it handled each engine event (connected after the page's own slot)."""
    seen: list[dict] = []

    def look(record: dict) -> None:
        seen.append({"event": record, "bar": page.progress.text(), "max": page.progress.maximum(),
                     "speed": page.speed.text(), "status": page.status.text(), "use": page.use_button.isVisible(),
                     "result": page.result.text()})

    page.train.event.connect(look)
    return seen


def _visible_text(page) -> str:
    return "\n".join([page.progress.text(), page.speed.text(), page.psnr.text(), page.result.text(),
                      page.preview_caption.text(), page.status.text(), page.log.toPlainText()])


def test_wizard_asks_how_long_with_an_estimate_of_each(qtbot, wizard, tmp_path):
    setup = wizard.setup_page
    choices = [(setup.duration.itemText(i), setup.duration.itemData(i)) for i in range(setup.duration.count())]
    assert choices == [("10 minutes", 10), ("30 minutes", 30), ("1 hour", 60), ("Overnight (10 hours)", 600)]
    setup.photos_edit.setText(str(tmp_path / "photos"))
    setup.duration.setCurrentIndex(0)
    assert "281–562 steps" in setup.estimate.text() and "15–30 images/s" in setup.estimate.text()
    assert "gained nothing measurable" in setup.estimate.text()  # only what was measured is promised
    assert "at least 5" in setup.estimate.text()  # how many photos it scores on
    args = setup.train_args("cpu")
    # The engine fits its steps to the minutes; --steps is only their most (a fast machine's 60 images/s).
    assert args[args.index("--minutes") + 1] == "10" and args[args.index("--steps") + 1] == "1125"
    assert args[args.index("--val-every") + 1] == "37"  # about 10 scores at the expected 375 steps
    assert "--init" in args and "--resume" not in args
    config = train_config(build_parser().parse_args(["train", *args]))
    assert {k: getattr(config, k) for k in FINE_TUNE_RECIPE} == FINE_TUNE_RECIPE  # the measured recipe, as the CLI's
    setup.duration.setCurrentIndex(3)
    assert "16,875–33,750 steps" in setup.estimate.text() and "learn them by heart" in setup.estimate.text()
    assert setup.train_args("cpu")[args.index("--minutes") + 1] == "600"
    assert setup.train_args("cpu")[args.index("--val-every") + 1] == "2250"

    run = tmp_path / "old-run"  # a stopped run: resuming trains for the chosen time beyond its saved step
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"")
    (run / "log.jsonl").write_text('{"event": "checkpoint", "step": 100}\n{"event": "step", "step": 101}\n'
                                   '{"event": "checkpoint", "step": 120}\n')
    setup.run_edit.setText(str(run))
    setup.duration.setCurrentIndex(0)
    qtbot.waitUntil(setup.resume.isChecked)  # looked at on a worker once typing pauses
    args = setup.train_args("cpu")
    assert setup.resume.isChecked() and "--resume" in args and "--init" not in args
    assert args[args.index("--steps") + 1] == str(120 + 1125)


def test_wizard_trains_to_done_scores_and_uses_the_model(qtbot, wizard, photo_dir, tmp_path, app_settings):  # noqa: F811
    assert not wizard.setup_page.resume.isVisible()
    chosen = []
    wizard.modelChosen.connect(chosen.append)
    page = wizard.run_page
    seen = _watch(page)
    _start(wizard, photo_dir, tmp_path / "run", "--dry-run", "--steps", "2")
    assert page.progress.maximum() == 0 and "Starting" in page.status.text()  # busy from the first second
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    qtbot.waitUntil(lambda: page.isComplete(), timeout=TRAIN_TIMEOUT_MS)
    model = tmp_path / "run" / "model.pt"
    assert wizard.errors == []

    reading = [s for s in seen if s["event"]["event"] == "loading"]
    assert reading[0]["status"] == "Reading 4 photos…"
    assert [s["bar"] for s in reading[1:]] == [f"reading photos: {i} / 4" for i in range(1, 5)]
    stepping = [s for s in seen if s["event"]["event"] == "step"]
    # a timed run (the wizard gives --minutes) too short to measure its speed keeps its most steps
    assert stepping[-1]["bar"] == "step 2 of at most 2" and "images/s" in stepping[-1]["speed"] and "left" in stepping[-1]["speed"]
    score = next(s for s in seen if s["event"]["event"] == "score")
    assert not score["use"]  # nothing is offered before the score is in

    assert page.model_path == str(model) and model.is_file()
    assert page.status.text().startswith("Done.") and str(model) in page.status.text()
    record = score["event"]
    assert page.result.text().startswith("Only 2 steps: expect little change.")
    assert (f"{record['before_psnr']:.2f} dB with the starting model, {record['after_psnr']:.2f} dB with the new one "
            f"({record['gain_db']:+.2f} dB, give or take {record['gain_se_db']:.2f})") in page.result.text()
    qtbot.waitUntil(lambda: "starting model's fill · the new model's fill" in page.preview_caption.text())
    assert page.preview_path == record["preview"] and record["preview"] in page.preview.toolTip()
    assert not page.preview.pixmap().isNull() and "dB" in page.psnr.text()
    vals = [s for s in seen if s["event"]["event"] == "val"]
    assert vals[0]["event"]["step"] == 0 and seen.index(vals[0]) < seen.index(stepping[0])  # a score before step 1
    assert page.speed.text() == "" and page.progress.text() == "done: step 2"
    shown = _visible_text(page)
    assert "--" not in shown and "model.cli" not in shown and "contextfill train" not in shown  # no command line
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    assert page.use_button.isVisible() == record["clear"], "offered only with a clear gain"
    assert chosen == []

    resume = TrainWizard(app_settings)
    qtbot.addWidget(resume)
    resume.setup_page.run_edit.setText(str(tmp_path / "run"))
    qtbot.waitUntil(resume.setup_page.resume.isChecked)
    assert not resume.setup_page.resume.isHidden()
    assert "--resume" in resume.setup_page.train_args("cpu")


def test_wizard_ends_a_timed_run_with_its_schedule(qtbot, wizard, photo_dir, tmp_path):
    """"The 10-minute run stopped at step 370 of 375": the engine fits its steps to the time, and the page counts
    to the plan it reports, so a timed run ends done, at step M of M."""
    page = wizard.run_page
    seen = _watch(page)
    _start(wizard, photo_dir, tmp_path / "run", "--dry-run", "--minutes", "0.2")  # 30 minutes' most steps, 12 s
    qtbot.waitUntil(lambda: page.isComplete(), timeout=TRAIN_TIMEOUT_MS)
    assert wizard.errors == [] and page.stopped_at is None
    plans = [s for s in seen if s["event"]["event"] == "plan"]
    assert plans and all(s["bar"].endswith(f" / {s['event']['steps']}") for s in plans)
    before_plan = [s for s in seen if s["event"]["event"] == "step" and s["event"]["step"] < plans[0]["event"]["step"]]
    assert all(s["bar"].endswith("of at most 3375") for s in before_plan)  # until the speed is measured
    assert page.final_step == plans[-1]["event"]["steps"] == page.progress.maximum()
    assert page.status.text().startswith("Done.") and page.progress.text() == f"done: step {page.final_step}"
    assert "dB with the starting model" in page.result.text() and page.use_button.isVisible() == page.gained()


def test_wizard_cancel_stops_with_a_checkpoint(qtbot, wizard, photo_dir, tmp_path):
    _start(wizard, photo_dir, tmp_path / "run", "--steps", "1000000")  # a real (tiny-model) run that cannot finish
    page = wizard.run_page
    qtbot.waitUntil(lambda: page.progress.format() == "step %v / %m" and page.progress.value() > 0, timeout=TRAIN_TIMEOUT_MS)
    qtbot.waitUntil(lambda: "left" in page.speed.text(), timeout=TRAIN_TIMEOUT_MS)
    wizard.reject()  # Cancel: stops the run, keeps the wizard open to show the outcome
    assert wizard.isVisible() and "Stopping" in page.status.text()
    assert page.speed.text() == "" and "step" not in page.progress.text()  # no stale "step x / y" or time left
    qtbot.waitUntil(lambda: page.isComplete(), timeout=TRAIN_TIMEOUT_MS)
    assert wizard.errors == []
    assert page.stopped_at is not None and page.stopped_at < 1_000_000
    assert page.status.text().startswith(f"Stopped at step {page.stopped_at}")
    assert page.speed.text() == "" and page.progress.text() == f"stopped at step {page.stopped_at}"
    assert page.result.text().startswith(f"Only {page.stopped_at} steps: expect little change.")
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and page.use_button.isVisible() == page.gained()
    wizard.reject()
    assert not wizard.isVisible()


def test_wizard_shows_the_error_of_a_failed_run(qtbot, wizard, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_text("not a photo")
    _start(wizard, junk, tmp_path / "run", "--dry-run", "--steps", "2")
    qtbot.waitUntil(lambda: wizard.run_page.isComplete(), timeout=TRAIN_TIMEOUT_MS)
    assert len(wizard.errors) == 1 and "no usable photos to train on" in wizard.errors[0]
    assert "exit code 2" in wizard.run_page.status.text()
    assert not wizard.run_page.use_button.isVisible()


def test_quit_asks_then_stops_the_batch_and_training_with_a_checkpoint(qtbot, window, dialogs, photo_dir,  # noqa: F811
                                                                        tmp_path, monkeypatch):
    """Quitting while a batch fills and training runs asks first; Stop cancels the batch and sends training SIGTERM,
    and the window stays, saying so, until the checkpoint is written; then it closes by itself."""
    import contextfill.model.batch
    from contextfill import model
    from contextfill.model.errors import Cancelled

    filling = threading.Event()

    def until_cancelled(image, mask, *, cancel, **kwargs):
        filling.set()
        while not cancel():
            threading.Event().wait(0.01)
        raise Cancelled()

    monkeypatch.setattr(model.batch, "inpaint", until_cancelled)
    errors: list[str] = []
    for where in ("batch_dialog", "train_wizard"):
        monkeypatch.setattr(f"contextfill.app.{where}.show_error", lambda parent, title, message, details=None:
                            errors.append(message))
    batch = window.open_batch_dialog()
    batch.mask_kind.setCurrentIndex(batch.mask_kind.findData("center"))
    batch.input_edit.setText(str(photo_dir))
    batch.output_edit.setText(str(tmp_path / "out"))
    assert batch.start()
    wizard = window.open_train_wizard()
    _start(wizard, photo_dir, tmp_path / "run", "--steps", "1000000")  # a real (tiny-model) run that cannot finish
    page = wizard.run_page
    qtbot.waitUntil(lambda: page.progress.format() == "step %v / %m" and page.progress.value() > 0,
                    timeout=TRAIN_TIMEOUT_MS)
    qtbot.waitUntil(filling.is_set, timeout=10_000)

    dialogs.stop_work = False  # Cancel: nothing stops, the window stays
    window.close()
    assert dialogs.stop_work_asked == [["a batch fill", "training"]]
    assert window.isVisible() and batch.task is not None and page.train.is_running()

    dialogs.stop_work = True
    window.close()
    assert window.isVisible() and "Stopping a batch fill and training" in window.statusBar().currentMessage()
    assert "Stopping" in page.status.text() and page.train.stopping
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TRAIN_TIMEOUT_MS)
    assert len(dialogs.stop_work_asked) == 2 and errors == []
    assert batch.task is None and batch.status.text().startswith("Cancelled: 0 filled")
    assert page.stopped_at is not None and (tmp_path / "run" / "checkpoint.pt").is_file()


def test_wizard_gives_photo_folders_of_the_same_name_their_own_runs(qtbot, wizard, tmp_path):
    setup = wizard.setup_page
    setup.photos_edit.setText(str(tmp_path / "Camera" / "DCIM"))
    camera = Path(setup.run_edit.text())
    setup.photos_edit.setText(str(tmp_path / "Phone" / "DCIM"))
    phone = Path(setup.run_edit.text())
    assert camera != phone and camera.name.startswith("DCIM") and phone.name.startswith("DCIM")
    setup.photos_edit.setText(str(tmp_path / "Camera" / "DCIM"))
    assert Path(setup.run_edit.text()) == camera  # the same photos find their run again, to resume it


def test_use_this_model_only_with_a_gain_under_its_photos_name_and_the_previous_one_click_away(
        qtbot, wizard, tmp_path, app_settings, tiny_model_path, monkeypatch):
    from datetime import date

    from contextfill.app.train_wizard import run_name, runs_dir

    photos, run = tmp_path / "holiday", tmp_path / "run"
    photos.mkdir()
    run.mkdir()
    (run / "model.pt").write_bytes(b"weights")
    page = wizard.run_page
    monkeypatch.setattr(page.train, "start", lambda args: None)  # the engine's events are sent below
    monkeypatch.setattr(page.train, "is_running", lambda: False)
    wizard.setup_page.photos_edit.setText(str(photos))
    assert wizard.setup_page.run_edit.text() == str(runs_dir() / run_name(str(photos)))  # one run per photo folder
    assert "ContextFill/ContextFill" not in wizard.setup_page.run_edit.text()
    _start(wizard, photos, run)
    chosen = []
    wizard.modelChosen.connect(chosen.append)

    def finish(gain: float, se: float, clear: bool) -> None:  # `clear`: the engine's gain_is_clear(gain, se)
        score = {"event": "score", "step": 400, "before_psnr": 20.0, "after_psnr": 20.0 + gain, "gain_db": gain,
                 "gain_se_db": se, "clear": clear, "val_photos": 5, "crops": 48, "preview": str(tmp_path / "none.png")}
        page.train.event.emit(score)
        page.train.event.emit({"event": "done", "step": 400, "model": str(run / "model.pt")})
        page.train.ended.emit(0, False)

    finish(0.004, 0.001, False)  # shown as +0.00 dB: nothing to gain
    assert not page.use_button.isVisible() and "not better" not in page.result.text() and "+0.00 dB" in page.result.text()
    finish(-0.1, 0.03, False)
    assert not page.use_button.isVisible() and "not better" in page.result.text()
    finish(0.25, 0.15, False)  # "It scored on 2 held-out photos": a gain within its noise is not offered
    assert not page.use_button.isVisible() and "+0.25 dB, give or take 0.15" in page.result.text()
    assert "could be chance on 5 photos" in page.result.text() and "safer choice" in page.result.text()
    finish(0.25, 0.05, True)
    assert page.use_button.isVisible() and "On 5 photos kept out of training (48 crops" in page.result.text()
    assert "chance" not in page.result.text() and "safer" not in page.result.text() and "best.pt" not in page.result.text()
    # "Best so far at step 185: 19.34 dB" in the log, 19.28 dB offered: the page says why the final model is offered.
    page.train.event.emit({"event": "best", "step": 250, "val_psnr": 20.4, "model": str(run / "best.pt")})
    finish(0.25, 0.05, True)
    assert "The best validation, 20.40 dB at step 250, is kept as best.pt; the final model is the one offered" in page.result.text()
    page.train.event.emit({"event": "best", "step": 400, "val_psnr": 20.25, "model": str(run / "best.pt")})
    finish(0.25, 0.05, True)  # the final step is the best: nothing to explain
    assert "best.pt" not in page.result.text() and page.use_button.isVisible()
    page.use_button.click()
    kept = run / f"holiday-{date.today().isoformat()}.pt"
    qtbot.waitUntil(lambda: chosen == [str(kept)])
    assert kept.read_bytes() == b"weights" and app_settings.get(S.MODEL_PATH) == str(kept)
    assert page.back_button.isVisible() and page.back_button.text() == f"Use {tiny_model_path.name} again"
    page.back_button.click()
    assert chosen[-1] == str(tiny_model_path) and app_settings.get(S.MODEL_PATH) == str(tiny_model_path)
    assert page.use_button.isEnabled() and not page.back_button.isVisible()


def test_the_wizard_leaves_the_window_usable_and_reads_only_the_end_of_a_long_log(qtbot, window, tmp_path):
    from PySide6.QtWidgets import QApplication

    from contextfill.app.train_wizard import DURATIONS, saved_step

    wizard = window.open_train_wizard()
    assert wizard.isVisible() and not wizard.isModal() and QApplication.activeModalWidget() is None
    assert window.fill_panel.fill_button.isEnabled() and window.isEnabled()
    assert dict((m, text) for m, _, text in DURATIONS)[30].startswith("Three times the steps of a 10-minute run.")
    wizard.reject()

    run = tmp_path / "long"
    run.mkdir()
    with open(run / "log.jsonl", "w") as log:
        for step in range(1, 30_001):
            log.write(f'{{"event": "step", "step": {step}, "loss_rec": 0.0123456789}}\n')
            if step == 12_300:
                log.write('{"event": "checkpoint", "step": 12300}\n')  # far from the end: many blocks back
    assert (run / "log.jsonl").stat().st_size > 1_000_000
    assert saved_step(str(run)) == 12_300
    assert saved_step(str(tmp_path / "nothing")) == 0


def test_batch_fills_a_folder_with_the_mask_painted_in_the_window(qtbot, window, tmp_path):  # noqa: F811
    """As a new user met it: the batch dialog had no "use the mask I painted"."""
    import numpy as np
    from PIL import Image

    from app_fixtures import drag
    from contextfill.app.tools import Tool

    photos = tmp_path / "series"
    photos.mkdir()
    for i in range(2):
        Image.open(window.document.path).rotate(90 * i).resize(window.document.image.size).save(photos / f"shot{i}.png")
    Image.new("RGB", (50, 40), "gray").save(photos / "other-size.png")
    dialog = window.open_batch_dialog()
    dialog.mask_kind.setCurrentIndex(dialog.mask_kind.findData("painted"))
    dialog.input_edit.setText(str(photos))
    assert not dialog.start() and "Paint the hole in the main window first" in dialog.status.text()
    window.set_tool(Tool.RECT)
    drag(qtbot, window.canvas, [(60, 40), (100, 80)])
    hole = window.layer.array()
    dialog.method.setCurrentIndex(dialog.method.findData("patch"))
    with qtbot.waitSignal(dialog.finished_batch, timeout=60_000):
        assert dialog.start()
    lines = [dialog.log.item(i).text() for i in range(dialog.log.count())]
    assert [line.split()[0] for line in lines] == ["FAIL", "ok", "ok"]
    assert "the mask must have the image's size" in lines[0]
    for i in range(2):
        before, after = (np.asarray(Image.open(folder / f"shot{i}.png")) for folder in (photos, tmp_path / "series-filled"))
        assert np.array_equal(before[~hole], after[~hole]) and not np.array_equal(before[hole], after[hole])


def test_previews_show_each_crop_at_100_percent_and_open_in_their_own_window(qtbot, wizard, tmp_path, monkeypatch):
    """"The previews were drawn about 25 px wide": a preview of 128 px crops is shown at 100%, its rows scrolling
    in the page, and a click opens it in a window of its own; the page keeps the planned "step N / M"."""
    from PIL import Image

    page = wizard.run_page
    monkeypatch.setattr(page.train, "start", lambda args: None)  # the engine's events are sent below
    _start(wizard, tmp_path, tmp_path / "run")
    preview = tmp_path / "preview-000040.png"
    Image.new("RGB", (3 * 128, 4 * 128), "gray").save(preview)  # the engine's: 4 crops, hole | fill | original
    page.train.event.emit({"event": "start", "step": 0, "steps": 1125, "minutes": 10, "train_photos": 15,
                           "val_photos": 5, "device": "CPU"})
    assert page.progress.text() == "step 0 of at most 1125"
    page.train.event.emit({"event": "plan", "step": 5, "steps": 360})
    page.train.event.emit({"event": "val", "step": 40, "val_psnr": 24.5, "preview": str(preview)})
    assert page.progress.maximum() == 360 and page.progress.format() == "step %v / %m"
    assert "on 5 photos kept aside: 24.50 dB for step 40" in page.psnr.text()
    qtbot.waitUntil(lambda: not page.preview.pixmap().isNull())
    assert (page.preview.pixmap().width(), page.preview.pixmap().height()) == (384, 512)  # 1:1: 128 px a crop
    assert page.preview_area.widget() is page.preview and page.preview_area.height() >= 200
    assert page.preview_area.viewport().width() >= 384  # the wizard is wide enough for three columns at 100%
    qtbot.mouseClick(page.preview, Qt.MouseButton.LeftButton)
    window = page.preview_window
    assert window.isVisible() and window.isWindow() and window.image.pixmap().size() == page.preview.pixmap().size()
    assert "100%" in window.windowTitle()
