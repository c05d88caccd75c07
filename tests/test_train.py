"""The training launcher in its seconds-long --dry-run mode: outputs, JSON progress, resume, signals, DDP."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from contextfill.model.checkpoint import export_from_checkpoint, load_checkpoint, load_model
from contextfill.model.data import split_photos
from contextfill.model.train import TrainConfig, _cosine, make_config, train

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "contextfill.model.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=240, **kwargs)


def events(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_dry_run_writes_checkpoint_previews_and_a_loadable_model(photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_bytes(b"not an image")
    run = tmp_path / "run"
    res = cli("train", "--data", str(photo_dir), "--out", str(run), "--dry-run", "--steps", "4", "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["event"] for e in lines]
    assert kinds[0] == "loading"  # progress from the first second, while photos decode
    warnings = [e for e in lines if e["event"] == "warning"]
    assert len(warnings) == 1 and "broken.jpg" in warnings[0]["message"]  # unreadable file: one warning, skipped
    assert "start" in kinds and kinds[-1] == "done"
    steps = [e for e in lines if e["event"] == "step"]
    assert steps[-1]["step"] == 4 and {"loss_rec", "loss_adv", "loss_d", "images_per_s", "eta_s"} <= set(steps[-1])
    vals = [e for e in lines if e["event"] == "val"]
    assert vals and all(Path(v["preview"]).is_file() for v in vals) and "val_psnr" in vals[-1]
    assert any(e["event"] == "checkpoint" for e in lines)
    model = load_model(run / "model.pt", "cpu")
    assert model.record["steps"] == 4 and model.record["history"]
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 4


def test_people_get_a_progress_line_and_bad_data_a_clear_message(photo_dir, tmp_path):
    res = cli("train", "--data", str(photo_dir), "--out", str(tmp_path / "r"), "--dry-run", "--steps", "2")
    assert res.returncode == 0 and "step 2/2" in res.stdout and "img/s" in res.stdout
    res = cli("train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r2"), "--dry-run")
    assert res.returncode == 2 and "no such folder" in res.stderr and "Traceback" not in res.stderr


def test_resume_continues_exactly_where_a_stopped_run_left_off(photo_dir, tmp_path):
    base = dict(data=str(photo_dir), dry_run=True, steps=6, val_fraction=0.0, adv_weight=0.001)
    train(TrainConfig(out=str(tmp_path / "straight"), **base))
    stopped_at = []

    def stop_after_three():
        stopped_at.append(1)
        return len(stopped_at) >= 3

    train(TrainConfig(out=str(tmp_path / "split"), **base), stop_requested=stop_after_three)
    assert load_checkpoint(tmp_path / "split" / "checkpoint.pt")["step"] == 3
    train(TrainConfig(out=str(tmp_path / "split"), resume=True, **base))
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert b["step"] == 6
    for key, value in a["generator"].items():
        assert torch.allclose(value.float(), b["generator"][key].float(), atol=1e-5), key


def test_sigterm_checkpoints_and_stops(photo_dir, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "contextfill.model.cli", "train", "--data", str(photo_dir), "--out", str(run), "--dry-run",
         "--steps", "20", "--json", "--checkpoint-every", "1000"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    for line in proc.stdout:
        if json.loads(line)["event"] == "step":
            proc.send_signal(signal.SIGTERM)
            break
    rest = [json.loads(line) for line in proc.stdout]
    assert proc.wait(timeout=120) == 0
    stopped = [e for e in rest if e["event"] == "stopped"]
    assert stopped and stopped[0]["step"] < 20
    assert load_checkpoint(run / "checkpoint.pt")["step"] == stopped[0]["step"]


def test_fine_tune_from_a_model(photo_dir, tmp_path, tiny_model_path):
    res = cli("train", "--data", str(photo_dir), "--out", str(tmp_path / "ft"), "--init", str(tiny_model_path), "--dry-run", "--steps", "2")
    assert res.returncode == 0, res.stderr
    model = load_model(tmp_path / "ft" / "model.pt", "cpu")
    assert model.config.image_size == 32 and model.record["init"] == str(tiny_model_path)
    config = load_checkpoint(tmp_path / "ft" / "checkpoint.pt")["config"]
    assert (config["lr"], config["freeze_norm"], config["adv_weight"]) == (1e-4, True, 0.0)  # the wizard's recipe


@pytest.mark.parametrize("given, expected", [
    ([], (5e-4, False, 0.001)),  # from scratch: the training defaults
    (["--init", "m.pt"], (1e-4, True, 0.0)),  # fine-tuning: the recipe
    (["--init", "m.pt", "--lr", "3e-4", "--no-freeze-norm"], (3e-4, False, 0.0)),  # what the user says wins
    (["--init", "m.pt", "--adv-weight", "0.001", "--freeze-norm"], (1e-4, True, 0.001)),
])
def test_fine_tuning_takes_the_recipe_for_what_the_command_line_leaves_out(given, expected):
    from contextfill.model.cli import build_parser, train_config

    config = train_config(build_parser().parse_args(["train", "--data", "d", "--out", "o", *given]))
    assert (config.lr, config.freeze_norm, config.adv_weight) == expected


def test_torchrun_two_processes_on_cpu(photo_dir, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000),
         "-m", "contextfill.model.cli", "train", "--data", str(photo_dir), "--out", str(run), "--dry-run", "--steps", "3", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    log = [e for e in events(run) if e["event"] != "loading"]
    assert log[0]["event"] == "start" and log[0]["world_size"] == 2
    assert sum(e["event"] == "start" for e in log) == 1  # rank 0 alone writes
    assert load_model(run / "model.pt", "cpu").record["world_size"] == 2


def test_a_schedule_that_ends_where_it_is_anchored_is_at_its_floor():
    """A timed run that finds no time for more steps plans to end at the step it is on; that step's learning rate is
    the floor (the schedule has ended), not the rate it was anchored at."""
    assert _cosine(5, 5, 4e-4, 5, 5e-4) == pytest.approx(0.05 * 5e-4)
    assert _cosine(5, 0, 5e-4, 10, 5e-4) == pytest.approx(0.05 * 5e-4 + 0.95 * 5e-4 * 0.5)  # half way: the cosine's middle


def test_minutes_fits_the_schedule_into_the_time_and_still_exports(photo_dir, tmp_path):
    """A timed run ends its learning-rate schedule when its time is up, instead of the clock cutting it short:
    it re-plans its steps once it has measured its speed, and --steps stays the most it takes."""
    run = tmp_path / "run"
    res = cli("train", "--data", str(photo_dir), "--out", str(run), "--dry-run", "--steps", "100000", "--minutes", "0.2", "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    start = next(e for e in lines if e["event"] == "start")
    assert start["steps"] == 100000 and start["minutes"] == 0.2  # a dry run bounded by the clock keeps its steps
    plans = [e for e in lines if e["event"] == "plan"]
    # A slow stretch (a loaded machine) may leave no time for more steps: that plan ends the run at its step.
    assert plans and all(e["step"] <= e["steps"] < 100000 for e in plans)
    assert "stopped" not in {e["event"] for e in lines}  # the schedule ended; the clock did not cut it
    steps = [e for e in lines if e["event"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, plans[-1]["steps"] + 1))
    assert all(e["steps"] == plans[-1]["steps"] for e in steps if e["step"] > plans[-1]["step"])  # the wizard's "of M"
    lrs = [start["lr"]] + [e["lr"] for e in steps]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # re-anchored where it was: it bends, never jumps up
    assert lrs[-1] == pytest.approx(0.05 * 5e-4)  # and decays to its floor by the last step
    assert lines[-1]["event"] == "done" and lines[-1]["step"] == plans[-1]["steps"]
    assert load_model(run / "model.pt", "cpu").record["steps"] == plans[-1]["steps"]
    assert load_checkpoint(run / "checkpoint.pt")["steps"] == plans[-1]["steps"]  # a resume continues this schedule

    capped = tmp_path / "capped"  # more time than steps: --steps is the most a timed run takes
    res = cli("train", "--data", str(photo_dir), "--out", str(capped), "--dry-run", "--steps", "8", "--minutes", "1", "--json")
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.returncode == 0 and lines[-1]["event"] == "done" and lines[-1]["step"] == 8
    assert all(e["steps"] == 8 for e in lines if e["event"] in ("step", "plan"))


def test_one_unreadable_photo_in_a_three_file_folder_still_trains(tmp_path):
    from conftest import make_photo

    folder = tmp_path / "three"
    folder.mkdir()
    make_photo(96, 72, seed=1).save(folder / "a.jpg")
    make_photo(88, 72, seed=2).save(folder / "b.jpg")
    (folder / "c.jpg").write_bytes(b"")  # sorts last: a split made before reading held exactly this one out
    run = tmp_path / "run"
    res = cli("train", "--data", str(folder), "--out", str(run), "--dry-run", "--steps", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert "no usable photos" not in res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["done"] for e in lines if e["event"] == "loading" and "done" in e] == [1, 2, 3]
    assert ["c.jpg" in e["message"] for e in lines if e["event"] == "warning"] == [True]
    start = next(e for e in lines if e["event"] == "start")
    assert (start["train_photos"], start["val_photos"]) == (1, 1)  # the two readable photos are split
    assert (run / "model.pt").is_file()


def test_resume_with_new_steps_keeps_the_learning_rate_continuous(photo_dir, tmp_path):
    base = dict(data=str(photo_dir), out=str(tmp_path / "run"), dry_run=True, val_fraction=0.0, json=True)
    calls = []

    def stop_after_four():
        calls.append(1)
        return len(calls) >= 4

    train(TrainConfig(steps=10, **base), stop_requested=stop_after_four)
    before = events(tmp_path / "run")
    last = [e for e in before if e["event"] == "step"][-1]
    assert last["step"] == 4 and any(e["event"] == "stopped" for e in before)

    train(TrainConfig(steps=16, lr=1e-3, resume=True, **base))
    after = events(tmp_path / "run")[len(before):]
    warnings = [e["message"] for e in after if e["event"] == "warning"]
    assert any("--lr" in m and "ignored" in m for m in warnings)  # the run keeps its own learning rate
    assert any("--steps 16" in m for m in warnings)
    start = next(e for e in after if e["event"] == "start")
    assert start["step"] == 4 and start["steps"] == 16
    assert abs(start["lr"] - last["lr"]) < 1e-9  # no jump: step 5 runs at the rate the stopped run would have used
    steps = [e for e in after if e["event"] == "step"]
    lrs = [start["lr"]] + [e["lr"] for e in steps]
    assert steps[-1]["step"] == 16 and all(a > b for a, b in zip(lrs, lrs[1:]))  # then decays over the new span
    assert abs(lrs[-1] - 0.05 * 5e-4) < 1e-9  # down to the floor of the saved base rate (not 1e-3)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 16


def test_best_checkpoint_is_kept_beside_the_last(photo_dir, tmp_path):
    run = tmp_path / "run"
    res = cli("train", "--data", str(photo_dir), "--out", str(run), "--dry-run", "--steps", "8", "--val-fraction", "0.5", "--json")
    assert res.returncode == 0, res.stderr
    assert {"best.pt", "checkpoint.pt", "model.pt"} <= {p.name for p in run.iterdir()}
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    vals = [e for e in lines if e["event"] == "val"]
    best_events = [e for e in lines if e["event"] == "best"]
    assert [v["step"] for v in vals] == [2, 4, 6, 8]
    assert best_events and [e["val_psnr"] for e in best_events] == sorted({e["val_psnr"] for e in best_events})
    top = max(vals, key=lambda v: v["val_psnr"])
    best = load_model(run / "best.pt", "cpu")
    assert best.record["val_psnr"] == top["val_psnr"] and best.record["steps"] in {v["step"] for v in vals if v["val_psnr"] == top["val_psnr"]}
    assert best_events[-1]["model"] == str(run / "best.pt") and load_model(run / "model.pt", "cpu").record["steps"] == 8


def test_fine_tune_scores_the_starting_and_the_new_model(photo_dir, tmp_path, tiny_model_path):
    run = tmp_path / "ft"
    res = cli("train", "--data", str(photo_dir), "--out", str(run), "--init", str(tiny_model_path), "--dry-run",
              "--steps", "4", "--val-fraction", "0.25", "--json")
    assert res.returncode == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["event"] for e in lines]
    assert kinds.count("score") == 1 and kinds.index("score") < kinds.index("done")  # scored before the model is offered
    score = lines[kinds.index("score")]
    vals = [e for e in lines if e["event"] == "val"]
    assert vals[0]["step"] == 0 and kinds.index("val") < kinds.index("step")  # the starting model, before step 1
    assert score["before_psnr"] == vals[0]["val_psnr"]  # ... which is the score's "before"
    assert score["after_psnr"] == vals[-1]["val_psnr"]  # the same fixed held-out crops and masks as validation
    assert score["gain_db"] == pytest.approx(score["after_psnr"] - score["before_psnr"], abs=2e-3)
    assert score["gain_se_db"] > 0  # the per-crop differences' standard error, the gain's noise
    assert score["clear"] == (score["gain_db"] > 2 * score["gain_se_db"] and score["gain_db"] > 0.01)
    assert score["step"] == 4 and score["val_photos"] == 1 and score["crops"] == 4
    with Image.open(score["preview"]) as preview:
        assert preview.size == (4 * 32, 4 * 32)  # holed | starting model | new model | truth, one row per crop

    still = tmp_path / "still"  # no step taken: both models are the same, and so are their scores
    res = cli("train", "--data", str(photo_dir), "--out", str(still), "--init", str(tiny_model_path), "--dry-run",
              "--steps", "0", "--val-fraction", "0.25", "--json")
    assert res.returncode == 0, res.stderr
    score = next(json.loads(line) for line in res.stdout.splitlines() if json.loads(line)["event"] == "score")
    assert score["before_psnr"] == score["after_psnr"] and score["gain_db"] == 0
    assert score["gain_se_db"] == 0 and score["clear"] is False


def test_a_resumed_fine_tune_scores_against_its_starting_model(photo_dir, tmp_path, tiny_model_path):
    base = dict(data=str(photo_dir), out=str(tmp_path / "ft"), init=str(tiny_model_path), dry_run=True, steps=6,
                val_fraction=0.25, json=True)
    calls = []
    train(make_config(**base), stop_requested=lambda: calls.append(1) or len(calls) >= 3)
    first = events(tmp_path / "ft")
    train(make_config(**base, resume=True))
    resumed = events(tmp_path / "ft")[len(first):]
    assert [e["step"] for e in resumed if e["event"] == "val"][0] > 0  # the start is not scored again as "now"
    score = next(e for e in resumed if e["event"] == "score")
    assert score["step"] == 6 and score["before_psnr"] == next(e for e in first if e["event"] == "val")["val_psnr"]


@pytest.mark.parametrize("photos, held_out", [(2, 1), (4, 1), (10, 3), (12, 4), (20, 5), (60, 6), (100, 10)])
def test_enough_whole_photos_are_held_out_to_score_on(photos, held_out):
    """A tenth of 20 photos is 2, and a score on 2 photos says more about which 2 than about the model: at least 5
    are held out where a third of the folder allows, so most photos still train."""
    paths = [Path(f"p{i:03d}.jpg") for i in range(photos)]
    train_paths, val_paths = split_photos(paths, 0.1, seed=0)
    assert len(val_paths) == held_out and sorted(train_paths + val_paths) == paths and not set(train_paths) & set(val_paths)
    assert split_photos(paths, 0.0, seed=0) == (paths, [])


def test_a_preview_shows_a_few_crops_at_the_models_size(tmp_path):
    """One row per crop, (hole | fill | truth) across, 128 px each: a strip of 48 crops could only be seen shrunk."""
    from contextfill.model.train import PREVIEW_CROPS, _save_preview

    images, masks = torch.rand(48, 3, 128, 128), torch.zeros(48, 1, 128, 128)
    _save_preview(tmp_path / "p.png", images, masks, [images], [0.5, 0.5, 0.5])
    with Image.open(tmp_path / "p.png") as preview:
        assert preview.size == (3 * 128, PREVIEW_CROPS * 128) and PREVIEW_CROPS <= 4


def test_training_from_scratch_has_no_score(photo_dir, tmp_path):
    train(TrainConfig(data=str(photo_dir), out=str(tmp_path / "run"), dry_run=True, steps=2, json=True))
    assert "score" not in {e["event"] for e in events(tmp_path / "run")} and not (tmp_path / "run" / "score.png").exists()


def test_warmup_ramps_the_learning_rate_up_then_decays(photo_dir, tmp_path):
    """A fine-tune starts Adam without moments; the ramp keeps its first, poorly scaled steps small."""
    train(TrainConfig(data=str(photo_dir), out=str(tmp_path / "run"), dry_run=True, steps=12, warmup=4, lr=1e-3,
                      val_fraction=0.0, json=True))
    log = events(tmp_path / "run")
    start = next(e for e in log if e["event"] == "start")
    lrs = [start["lr"]] + [e["lr"] for e in log if e["event"] == "step"]
    assert abs(lrs[0] - 1e-3 / 4) < 1e-12
    assert lrs[0] < lrs[1] < lrs[2] < lrs[3]  # steps 0-3 ramp up
    assert all(a > b for a, b in zip(lrs[3:], lrs[4:]))  # then the cosine decay as before


def test_ema_ships_the_moving_average_and_resumes_with_it(photo_dir, tmp_path):
    base = dict(data=str(photo_dir), out=str(tmp_path / "run"), dry_run=True, val_fraction=0.0, ema=0.5, lr=1e-2)
    calls = []
    train(TrainConfig(steps=6, **base), stop_requested=lambda: calls.append(1) or len(calls) >= 3)
    stopped = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert stopped["step"] == 3 and stopped["config"]["ema"] == 0.5
    key = next(k for k, v in stopped["generator"].items() if v.is_floating_point() and v.dim() == 4)
    assert not torch.equal(stopped["ema"][key], stopped["generator"][key])  # the average lags the weights

    train(TrainConfig(steps=6, resume=True, **base))
    final = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    shipped = load_checkpoint(tmp_path / "run" / "model.pt")["generator"]
    assert final["step"] == 6
    assert torch.equal(shipped[key], final["ema"][key].half())  # the model file is the average, not the last step
    assert not torch.equal(shipped[key], final["generator"][key].half())
    exported = export_from_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "exported.pt")
    assert torch.equal(load_checkpoint(exported)["generator"][key], shipped[key])  # export ships the average too


def test_the_local_critic_learns_on_the_same_schedule_as_the_global_one(photo_dir, tmp_path):
    train(TrainConfig(data=str(photo_dir), out=str(tmp_path / "run"), dry_run=True, steps=6, val_fraction=0.0,
                      local_adv_weight=0.01, lr=1e-3))
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    global_lr = state["opt_d"]["param_groups"][0]["lr"]
    local_lr = state["opt_dl"]["param_groups"][0]["lr"]
    assert global_lr < 1e-4  # decayed from lr / 10 at step 0
    assert local_lr == pytest.approx(global_lr)


def test_torchrun_on_the_cpu_of_a_machine_with_cuda_uses_gloo(photo_dir, tmp_path, monkeypatch):
    backends = []

    def record(backend, *args, **kwargs):
        backends.append(backend)
        raise RuntimeError("stop before any rendezvous")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.distributed, "init_process_group", record)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="stop before"):
        train(TrainConfig(data=str(photo_dir), out=str(tmp_path / "run"), dry_run=True, device="cpu"))
    assert backends == ["gloo"]  # NCCL moves only CUDA tensors: the backend follows the device used


def test_resume_refuses_other_photos_than_the_run_was_trained_on(photo_dir, tmp_path):
    from conftest import make_photo

    other = tmp_path / "Phone" / "DCIM"
    other.mkdir(parents=True)
    for i in range(3):
        make_photo(80, 72, seed=10 + i).save(other / f"q{i}.png")
    run = tmp_path / "run"
    assert cli("train", "--data", str(photo_dir), "--out", str(run), "--dry-run", "--steps", "2").returncode == 0
    res = cli("train", "--data", str(other), "--out", str(run), "--dry-run", "--steps", "4", "--resume")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert str(photo_dir) in res.stderr and str(other) in res.stderr and "new run folder" in res.stderr
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2  # nothing was trained on the wrong photos


@pytest.mark.cuda
def test_a_dry_run_trains_on_cuda(photo_dir, tmp_path):
    model = train(TrainConfig(data=str(photo_dir), out=str(tmp_path / "run"), dry_run=True, steps=4, device="cuda"))
    record = load_model(model, "cpu").record
    assert record["steps"] == 4 and record["device"].startswith("CUDA")


def test_a_gains_noise_is_judged_photo_by_photo_too():
    """Crops of one photo are alike: 24 crops of two photos that each moved one way say little, however steady each
    photo's crops are; as independent crops their error would be tiny and the gain look clear."""
    from contextfill.model.train import _gain, gain_is_clear

    truth = torch.full((24, 3, 8, 8), 0.5)
    masks = torch.ones(24, 1, 8, 8)
    before = truth + 0.1
    after = truth + torch.cat([torch.full((12, 3, 8, 8), 0.05), torch.full((12, 3, 8, 8), 0.11)])  # better, worse
    after[:12] += torch.linspace(0, 0.001, 12).view(12, 1, 1, 1)  # the crops of one photo not quite equal
    photos = np.repeat([0, 1], 12)
    gain, se = _gain(before, after, truth, masks, photos)
    crop_gain, crop_se = _gain(before, after, truth, masks, np.arange(24))  # each crop its own photo
    assert gain == pytest.approx(crop_gain) and gain > 0.01
    assert gain_is_clear(crop_gain, crop_se) and not gain_is_clear(gain, se)
