"""`contextfill batch` on awkward folders: one bad file never costs the rest, no write clobbers another, a result
keeps its photo's format and metadata, and a model retrained into the same file is picked up."""

import io
import os
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_photo
from PIL import Image, ImageCms

from contextfill.model.batch import output_name, run_batch
from contextfill.model.checkpoint import export_inference
from contextfill.model.errors import InpaintError
from contextfill.model.imageio import atomic_write, load_image
from contextfill.model.networks import GeneratorConfig, build_generator
from contextfill.model.pipeline import get_model

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "contextfill.model.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def png_bomb(path: Path, side: int = 24000) -> Path:
    """A valid 1-bit PNG of side x side that is a few KB on disk, written without ever holding its pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row, packer = bytes(1 + (side + 7) // 8), zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def png16(path: Path, levels: np.ndarray) -> Path:
    """A 16-bit-per-channel PNG (greyscale for (H, W), RGB for (H, W, 3)), which Pillow reads but cannot write."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    levels = np.asarray(levels, ">u2")
    h, w = levels.shape[:2]
    rows = b"".join(b"\0" + levels[y].tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 0 if levels.ndim == 2 else 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
                     + chunk(b"IEND", b""))
    return path


def truncated_jpeg(path: Path) -> Path:
    buf = io.BytesIO()
    make_photo(120, 90, seed=9).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def test_a_bomb_and_broken_files_are_named_and_every_good_photo_is_filled(photo_dir, tmp_path, tiny_model_path):
    png_bomb(photo_dir / "bomb.png")
    truncated_jpeg(photo_dir / "truncated.jpg")
    (photo_dir / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    res = cli("batch", str(photo_dir), str(out), "--mask", "center", "--model", str(tiny_model_path), "--device", "cpu")
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert "FAIL bomb.png: 24000x24000 is 576 MP, over the 179 MP limit; --max-megapixels raises it" in lines
    assert "FAIL empty.png: the file is empty" in lines
    assert "FAIL truncated.jpg: the file is cut short (truncated, or still being copied)" in lines
    assert "4 filled, 0 skipped, 3 failed" in lines
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    assert "Traceback" not in res.stdout + res.stderr and res.stderr == ""


def test_unreadable_files_say_why_in_words(tmp_path, monkeypatch):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not a photo")
    (tmp_path / "folder.png").mkdir()
    truncated_jpeg(tmp_path / "cut.jpg")
    png_bomb(tmp_path / "bomb.png", side=3000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2_000_000)  # a 4 MP limit
    expected = {
        "empty.png": "empty.png: the file is empty",
        "notes.png": "notes.png: not an image, or in a format ContextFill cannot read",
        "folder.png": "folder.png: this is a folder, not an image",
        "cut.jpg": "cut.jpg: the file is cut short (truncated, or still being copied)",
        "bomb.png": "bomb.png: 3000x3000 is 9 MP, over the 4 MP limit; --max-megapixels raises it",
        "missing.png": f"{tmp_path / 'missing.png'}: file not found",
    }
    for name, message in expected.items():
        with pytest.raises(InpaintError) as caught:
            load_image(tmp_path / name)
        assert str(caught.value) == message


def test_whole_run_errors_stop_before_the_first_file_with_one_line(photo_dir, tmp_path, tiny_model_path):
    broken_model = tmp_path / "broken.pt"
    broken_model.write_bytes(b"not a model")
    res = cli("batch", str(photo_dir), str(tmp_path / "o1"), "--mask", "center", "--model", str(broken_model),
              "--method", "context-encoder")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == "contextfill: error: broken.pt is not a ContextFill model or checkpoint (UnpicklingError)\n"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    res = cli("batch", str(photo_dir), str(blocker / "out"), "--mask", "center", "--model", str(tiny_model_path))
    assert res.returncode == 2 and res.stdout == "" and len(res.stderr.splitlines()) == 1
    assert res.stderr.startswith(f"contextfill: error: cannot write to the output folder {blocker / 'out'}: ")
    if not torch.cuda.is_available():
        res = cli("batch", str(photo_dir), str(tmp_path / "o3"), "--mask", "center", "--device", "cuda",
                  "--method", "patch")
        assert res.returncode == 2 and res.stdout == ""
        assert res.stderr == "contextfill: error: CUDA was requested but no CUDA GPU is available\n"


def test_an_unforeseen_exception_fails_one_file_only(photo_dir, tmp_path, tiny_model_path, monkeypatch):
    import contextfill.model.batch
    from contextfill import model

    real = model.batch.inpaint

    def flaky(image, mask, **kwargs):
        if image.size[0] == 88:  # p1
            raise KeyError("surprise")
        return real(image, mask, **kwargs)

    monkeypatch.setattr(model.batch, "inpaint", flaky)
    lines: list[str] = []
    summary = run_batch(photo_dir, tmp_path / "out", "center", model=tiny_model_path, device="cpu", report=lines.append)
    assert len(summary.done) == 3 and summary.failed == [(photo_dir / "p1.png", "unexpected KeyError: 'surprise'")]
    assert "FAIL p1.png: unexpected KeyError: 'surprise'" in lines


def test_two_batches_on_one_folder_at_once_lose_nothing(tmp_path, tiny_model_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        make_photo(64, 48, seed=i).save(photos / f"p{i}.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "contextfill.model.cli", "batch", str(photos), str(out), "--mask", "center", "--model",
               str(tiny_model_path), "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"p{i}.png" for i in range(8)] + [f"p{i}-2.png" for i in range(8)]), "no temp file left"
    for name in names:
        with Image.open(out / name) as im:
            im.load()


def test_writers_racing_for_one_name_each_get_their_own_file(tmp_path):
    start = threading.Barrier(8)
    written: list[Path] = []

    def write(i: int) -> None:
        start.wait()
        written.append(atomic_write(tmp_path / "a.png", lambda tmp: Path(tmp).write_text(str(i)), replace=False))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(written)) == 8 and sorted(p.read_text() for p in written) == [str(i) for i in range(8)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.png"] + [f"a-{n}.png" for n in range(2, 9)])


def test_without_hard_links_a_name_is_claimed_then_filled(tmp_path, monkeypatch):
    (tmp_path / "a.png").write_text("earlier")

    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert atomic_write(tmp_path / "a.png", lambda tmp: Path(tmp).write_text("new"), replace=False).name == "a-2.png"
    assert (tmp_path / "a.png").read_text() == "earlier" and (tmp_path / "a-2.png").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-2.png", "a.png"]


def test_a_publish_cut_short_leaves_no_empty_claim_and_an_empty_output_counts_as_missing(photo_dir, tmp_path,
                                                                                         monkeypatch):
    """Without hard links a name is claimed empty, then filled: a failure between the two removes the claim, and an
    empty file that a killed run left behind is no result: --skip-existing fills it, under its own name."""
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    def killed(src, dst):
        raise OSError(5, "Input/output error")

    with monkeypatch.context() as patch:
        patch.setattr(os, "link", no_links)
        patch.setattr(os, "replace", killed)
        with pytest.raises(OSError):
            atomic_write(tmp_path / "a.png", lambda tmp: Path(tmp).write_text("new"), replace=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"], "no empty a.png, no temporary file"

    out = tmp_path / "out"
    out.mkdir()
    (out / "p0.png").write_bytes(b"")
    lines: list[str] = []
    summary = run_batch(photo_dir, out, "center", method="patch", skip_existing=True, report=lines.append)
    assert len(summary.done) == 4 and summary.skipped == [] and not any(line.startswith("skip") for line in lines)
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png", "p3.png"]
    with Image.open(out / "p0.png") as filled:
        assert filled.size == Image.open(photo_dir / "p0.png").size


def test_16_bit_masks_threshold_on_their_values_and_16_bit_photos_say_so(tmp_path):
    """A faint 1000/65535 grey is no hole (Pillow's convert("L") clamps it to white); 16-bit greyscale trains and
    scores at its own brightness, not near white; 16-bit colour is read as 8 bits, and the batch line says so."""
    from contextfill.model.data import load_photos
    from contextfill.model.evaluate import protocol_sample
    from contextfill.model.imageio import load_mask

    levels = np.full((64, 96), 1000, np.uint16)
    levels[20:40, 30:60] = 60000
    hole = load_mask(png16(tmp_path / "mask16.png", levels), (96, 64))
    expected = np.zeros((64, 96), bool)
    expected[20:40, 30:60] = True
    assert np.array_equal(hole, expected)

    grey = png16(tmp_path / "grey16.png", np.full((64, 96), 30000, np.uint16))  # 30000/65535 of white: 117 in 8 bits
    trained = load_photos([grey], max_short_side=64)[grey]
    assert trained.shape == (3, 64, 96) and abs(float(trained.float().mean()) - 117) < 2
    square, _ = protocol_sample(load_image(grey), "center", 0)
    assert abs(float(np.asarray(square, float).mean()) - 117) < 2

    photos = tmp_path / "photos"
    photos.mkdir()
    png16(photos / "deep.png", np.asarray(make_photo(96, 64), np.uint16) * 257)
    lines: list[str] = []
    summary = run_batch(photos, tmp_path / "out", "center", method="patch", report=lines.append)
    assert len(summary.done) == 1
    assert lines[0].startswith("ok   deep.png") and "reduced 16-bit colour to 8 bits per channel" in lines[0]


def test_rgba_to_jpeg_says_the_transparency_is_dropped(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rgba = make_photo(96, 64).convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 128))
    rgba.save(photos / "cutout.png")
    lines: list[str] = []
    run_batch(photos, tmp_path / "jpg", "center", method="patch", fmt="jpg", report=lines.append)
    assert lines[0].startswith("ok   cutout.png") and "JPEG keeps no transparency" in lines[0]
    lines.clear()
    run_batch(photos, tmp_path / "png", "center", method="patch", report=lines.append)
    assert "transparency" not in lines[0]


def test_new_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic_write(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("x"))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    return exif


def test_jpeg_in_gives_jpeg_out_with_exif_and_icc_and_stems_say_where_they_came_from(tmp_path, tiny_model_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    make_photo(120, 80, seed=1).save(photos / "photo.jpg", quality=98, exif=_exif(6), icc_profile=srgb)
    make_photo(96, 64, seed=2).save(photos / "photo.png")
    cmyk_profile = bytes(16) + b"CMYK" + bytes(108)  # a header naming CMYK: it describes none of the RGB output
    make_photo(64, 64, seed=3).convert("CMYK").save(photos / "cmyk.jpg", icc_profile=cmyk_profile)

    kept = run_batch(photos, tmp_path / "kept", "center", model=tiny_model_path, device="cpu", report=lambda m: None)
    assert sorted(p.name for p in kept.done) == ["cmyk.jpg", "photo.jpg", "photo.png"]
    with Image.open(tmp_path / "kept" / "photo.jpg") as out, Image.open(photos / "photo.jpg") as src:
        assert out.format == "JPEG" and out.size == (80, 120), "orientation applied to the pixels"
        assert out.getexif().get(0x010F) == "TestCam" and out.getexif().get(0x0112, 1) == 1
        assert out.info["icc_profile"] == srgb
        source = np.asarray(src.transpose(Image.Transpose.ROTATE_270), dtype=float)
        error = np.abs(np.asarray(out, dtype=float) - source)[:10].mean()
        assert error < 3, "high quality outside the hole (Pillow's default quality, 75, is off by 4.2 here)"
    with Image.open(tmp_path / "kept" / "photo.png") as out:
        assert out.format == "PNG"
    with Image.open(tmp_path / "kept" / "cmyk.jpg") as out:
        assert out.mode == "RGB" and "icc_profile" not in out.info

    png = run_batch(photos, tmp_path / "png", "center", model=tiny_model_path, device="cpu", fmt="png",
                    report=lambda m: None)
    assert sorted(p.name for p in png.done) == ["cmyk.png", "photo-jpg.png", "photo.png"]
    with Image.open(tmp_path / "png" / "photo-jpg.png") as out:
        assert out.format == "PNG" and out.getexif().get(0x010F) == "TestCam"


@pytest.mark.parametrize("name, fmt, shared, expected", [
    ("photo.JPG", None, True, "photo.JPG"),
    ("photo.tif", None, True, "photo.tif"),
    ("scan.bmp", None, False, "scan.png"),
    ("photo.tif", "png", True, "photo-tif.png"),
    ("photo.webp", "png", True, "photo-webp.png"),
    ("photo.png", "png", True, "photo.png"),
    ("photo.jpeg", "jpg", False, "photo.jpeg"),
    ("photo.png", "jpg", False, "photo.jpg"),
])
def test_output_names(name, fmt, shared, expected):
    assert output_name(Path(name), fmt, shared) == expected


def export_tiny_model(path: Path, seed: int) -> None:
    """A tiny model whose record names its seed, written over path as training does."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(image_size=32, widths=[8, 16, 16, 16], decoder_widths=[16, 16, 8])
    export_inference(build_generator(cfg).eval(), cfg, {"seed": seed}, path)


def test_a_model_retrained_into_the_same_file_is_loaded_again(tmp_path):
    path = tmp_path / "model.pt"
    export_tiny_model(path, seed=1)
    first = get_model(path, "cpu")
    assert get_model(str(path), "cpu") is first, "an unchanged file is not loaded twice"
    export_tiny_model(path, seed=2)
    second = get_model(path, "cpu")
    assert second is not first and second.record == {"seed": 2}


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_under_torchrun_each_rank_fills_on_its_own_gpu(photo_dir, tmp_path, monkeypatch, device):
    import contextfill.model.batch

    used = []

    def record(model, dev):
        used.append(dev)
        raise InpaintError("stop before any CUDA work")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setattr(contextfill.model.batch, "get_model", record)
    with pytest.raises(InpaintError, match="stop before"):
        run_batch(photo_dir, tmp_path / "out", "center", method="context-encoder", device=device)
    assert used == [torch.device("cuda", 3)]  # not GPU 0 for every rank


def test_a_webp_keeps_its_encoding_lossy_at_about_its_size_and_lossless_lossless(tmp_path):
    """As a new user met it: WebP results were 2.5 times their input's size (lossy photos written at quality 95)."""
    from contextfill.model.encoding import webp_is_lossless

    source = tmp_path / "in"
    source.mkdir()
    photo = make_photo(256, 192, seed=4)
    photo.save(source / "lossy.webp", quality=80)
    photo.save(source / "exact.webp", lossless=True)
    summary = run_batch(source, tmp_path / "out", "center", method="patch", report=lambda line: None)
    assert len(summary.done) == 2
    out = tmp_path / "out"
    assert (out / "lossy.webp").stat().st_size < 1.3 * (source / "lossy.webp").stat().st_size
    assert not webp_is_lossless(out / "lossy.webp") and webp_is_lossless(out / "exact.webp")
