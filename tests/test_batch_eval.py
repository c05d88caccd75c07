"""`contextfill batch` and `contextfill eval` as a person runs them."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contextfill.model.batch import parse_shard, run_batch
from contextfill.model.errors import InpaintError

ROOT = Path(__file__).resolve().parent.parent


def cli(*args):
    return subprocess.run([sys.executable, "-m", "contextfill.model.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_batch_fills_a_folder_reports_bad_files_and_goes_on(photo_dir, tmp_path, tiny_model_path):
    (photo_dir / "broken.jpg").write_bytes(b"garbage")
    before = {p.name: p.read_bytes() for p in photo_dir.iterdir()}
    out = tmp_path / "out"
    res = cli("batch", str(photo_dir), str(out), "--mask", "center", "--model", str(tiny_model_path), "--device", "cpu")
    assert res.returncode == 1  # one failure -> non-zero, after doing the rest
    assert "FAIL broken.jpg" in res.stdout and "4 filled, 0 skipped, 1 failed" in res.stdout and "Traceback" not in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert {p.name: p.read_bytes() for p in photo_dir.iterdir()} == before  # inputs untouched
    src, dst = np.asarray(Image.open(photo_dir / "p0.png")), np.asarray(Image.open(out / "p0.png"))
    hole = np.zeros(src.shape[:2], bool)
    side = round(min(src.shape[:2]) / 2)
    top, left = (src.shape[0] - side) // 2, (src.shape[1] - side) // 2
    hole[top : top + side, left : left + side] = True
    assert np.array_equal(src[~hole], dst[~hole]) and not np.array_equal(src[hole], dst[hole])


def test_batch_never_writes_into_the_input_folder(photo_dir, tiny_model_path):
    res = cli("batch", str(photo_dir), str(photo_dir / "sub"), "--mask", "center", "--model", str(tiny_model_path))
    assert res.returncode == 2 and "must not be the input folder" in res.stderr
    res = cli("batch", str(photo_dir), str(photo_dir), "--mask", "center", "--model", str(tiny_model_path))
    assert res.returncode == 2


def test_existing_outputs_are_kept_or_skipped(photo_dir, tmp_path, tiny_model_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "p0.png").write_bytes(b"my earlier result")
    summary = run_batch(photo_dir, out, "center", model=tiny_model_path, device="cpu", report=lambda m: None)
    assert (out / "p0.png").read_bytes() == b"my earlier result" and (out / "p0-2.png").is_file()
    assert len(summary.done) == 4
    summary = run_batch(photo_dir, out, "center", model=tiny_model_path, skip_existing=True, report=lambda m: None)
    assert len(summary.skipped) == 4 and not summary.done


def test_masks_by_stem_single_mask_and_missing_mask(photo_dir, tmp_path, tiny_model_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    for p in sorted(photo_dir.iterdir())[:3]:
        size = Image.open(p).size
        m = Image.new("L", size, 0)
        m.paste(255, (5, 5, 15, 15))
        m.save(masks / f"{p.stem}.png")
    summary = run_batch(photo_dir, tmp_path / "o1", masks, model=tiny_model_path, report=lambda m: None)
    assert len(summary.done) == 3 and summary.failed and "no mask named p3" in summary.failed[0][1]
    # one mask for all: only images of its size can use it; the others are reported, not resized
    summary = run_batch(photo_dir, tmp_path / "o2", masks / "p0.png", model=tiny_model_path, report=lambda m: None)
    assert len(summary.done) == 1 and all("must have the image's size" in msg for _, msg in summary.failed)


def test_shards_split_the_folder(photo_dir, tmp_path, tiny_model_path, monkeypatch):
    names = []
    for k in range(2):
        s = run_batch(photo_dir, tmp_path / f"s{k}", "center", model=tiny_model_path, shard=(k, 2), report=lambda m: None)
        names.append({p.name for p in s.done})
    assert names[0].isdisjoint(names[1]) and len(names[0] | names[1]) == 4
    assert parse_shard("1/4") == (1, 4)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert parse_shard(None) == (1, 3)
    with pytest.raises(InpaintError, match="K/N"):
        parse_shard("half")


def test_eval_prints_the_papers_table(photo_dir, tiny_model_path, tmp_path):
    res = cli("eval", str(photo_dir), "--mask", "center", "--methods", "context-encoder", "--model", str(tiny_model_path),
              "--json", str(tmp_path / "t.json"))
    assert res.returncode == 0, res.stderr
    assert "L1 %" in res.stdout and "PSNR dB" in res.stdout and "context-encoder" in res.stdout
    assert '"psnr"' in (tmp_path / "t.json").read_text()
    res = cli("eval", str(photo_dir), "--methods", "oracle")
    assert res.returncode == 2 and "unknown method" in res.stderr


@pytest.mark.parametrize(("protocol", "side", "low", "high"), [("blobs", 512, 0.02, 0.12), ("large", 1024, 0.05, 0.17)])
def test_protocols_give_seeded_holes_of_their_size(protocol, side, low, high):
    from contextfill.model.evaluate import protocol_sample

    photo = Image.new("RGB", (1500, 1000), "gray")
    square, hole = protocol_sample(photo, protocol, index=3)
    again = protocol_sample(photo, protocol, index=3)[1]
    assert square.size == (side, side) and hole.shape == (side, side)
    assert low < hole.mean() < high and np.array_equal(hole, again)
