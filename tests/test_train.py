"""The training launcher in its seconds-long --dry-run mode: outputs, JSON progress, resume, signals, DDP."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from model.checkpoint import load_checkpoint, load_model
from model.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "model.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=240, **kwargs)


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
        [sys.executable, "-m", "model.cli", "train", "--data", str(photo_dir), "--out", str(run), "--dry-run",
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


def test_torchrun_two_processes_on_cpu(photo_dir, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000),
         "-m", "model.cli", "train", "--data", str(photo_dir), "--out", str(run), "--dry-run", "--steps", "3", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    log = [e for e in events(run) if e["event"] != "loading"]
    assert log[0]["event"] == "start" and log[0]["world_size"] == 2
    assert sum(e["event"] == "start" for e in log) == 1  # rank 0 alone writes
    assert load_model(run / "model.pt", "cpu").record["world_size"] == 2
