"""The prepared GPU job (issue 18): one command for a lent GPU machine, and the same one on the CPU as a check.

    python3 packaging/gpu_job.py --stage                          # copy the training photos, resized, into gpu-data/
    python3 packaging/gpu_job.py --out $OUT --minutes 8           # on the GPU machine: tests, timings, training
    python3 packaging/gpu_job.py --out build/gpu-check --dry-run  # the same steps on the CPU in about a minute

A lent machine gives minutes, not hours, so the job is ready before the draw and cannot rot between draws
(`make gpu-check` runs it in CI). It runs where only torch, torchvision, numpy, Pillow and pytest are installed
(no PySide6, no pip): the project is made importable from the checkout itself. Each step writes its figures to
OUT/gpu_job.json as soon as it has them, so a job cut short still returns what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
STAGE = ROOT / "gpu-data"  # git-ignored; travels with `carry`
IMPORT_SHIM = ROOT / "build" / "gpu-job-import"
GPU_START = ROOT / "resources" / "models" / "gpu" / "checkpoint.pt"  # the last GPU run's state, once committed
DEFAULT_MODEL = ROOT / "resources" / "models" / "default.pt"
PHOTO_SHORT_SIDE, OBJECT_LONG_SIDE = 640, 320  # staged sizes: a 4x zoom-out of a 128-px crop still fits
TIMING_CASES = {"full": [(512, 512), (2048, 1536)], "dry-run": [(128, 96)]}
# The continued-training recipe that did best on the CPU (MODEL_CARD.md, "ema" runs), with a GPU-sized batch.
GPU_RECIPE = ["--lr", "1e-4", "--no-freeze-norm", "--adv-weight", "0", "--warmup", "200", "--ema", "0.999",
              "--batch-size", "256", "--val-fraction", "0.05", "--checkpoint-every", "200", "--val-every", "200"]
TRAIN_MARGIN_S = 45  # left after training for the export and for the results to come back


def importable_env() -> dict[str, str]:
    """The environment for child processes, with `contextfill` importable from this checkout without
    installing it: a package whose __path__ is the repository root (app/ and model/ become its subpackages)."""
    env = dict(os.environ)
    probe = subprocess.run([sys.executable, "-c", "import contextfill.model"], capture_output=True, env=env)
    if probe.returncode != 0:
        (IMPORT_SHIM / "contextfill").mkdir(parents=True, exist_ok=True)
        (IMPORT_SHIM / "contextfill" / "__init__.py").write_text(f"__path__ = [{str(ROOT)!r}]\n")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(IMPORT_SHIM), env.get("PYTHONPATH")]))
        sys.path.insert(0, str(IMPORT_SHIM))
    return env


def stage(source: Path, target: Path, limit: int | None = None) -> dict:
    """Copy photos-train (as JPEG, short side <= PHOTO_SHORT_SIDE) and objects-train (as RGBA PNG, long side
    <= OBJECT_LONG_SIDE) into target/photos and target/objects; `limit` takes only the first few of each."""
    from PIL import Image, ImageOps

    counts = {}
    for name, folder, suffix in (("photos", "photos-train", ".jpg"), ("objects", "objects-train", ".png")):
        out = target / name
        out.mkdir(parents=True, exist_ok=True)
        files = sorted(p for p in (source / folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
        for path in files[:limit]:
            with Image.open(path) as image:
                image = ImageOps.exif_transpose(image)
                if name == "photos":
                    image = image.convert("RGB")
                    scale = PHOTO_SHORT_SIDE / min(image.size)
                else:
                    image = image.convert("RGBA")
                    scale = OBJECT_LONG_SIDE / max(image.size)
                if scale < 1:
                    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
                dest = out / (path.stem + suffix)
                image.save(dest, quality=90) if suffix == ".jpg" else image.save(dest, optimize=True)
        counts[name] = len(files[:limit])
    return {"staged": str(target), **counts, "bytes": sum(p.stat().st_size for p in target.rglob("*") if p.is_file())}


def generated_data(target: Path) -> dict:
    """A clean clone without ../shared: a few generated photos and cut-outs, enough for the CPU check."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (target / "photos").mkdir(parents=True, exist_ok=True)
    (target / "objects").mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:160, 0:200] / 20.0
    for i in range(4):
        arr = np.stack([np.sin(x + i), np.cos(y * (1 + i / 3)), np.sin(x + y)], axis=2) * 0.4 + 0.5
        arr = arr + rng.normal(0, 0.05, arr.shape)
        Image.fromarray((arr.clip(0, 1) * 255).astype(np.uint8)).save(target / "photos" / f"generated-{i}.jpg")
        disc = ((np.mgrid[0:64, 0:64] - 32) ** 2).sum(axis=0) < 28**2
        rgba = np.dstack([rng.integers(0, 255, (64, 64, 3)), disc * 255]).astype(np.uint8)
        Image.fromarray(rgba, "RGBA").save(target / "objects" / f"generated-{i}.png")
    return {"staged": str(target), "photos": 4, "objects": 4, "generated": True}


class Results:
    """OUT/gpu_job.json, rewritten after every step."""

    def __init__(self, out: Path):
        self.path, self.data = out / "gpu_job.json", {"started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def add(self, **fields) -> None:
        self.data.update(fields)
        self.path.write_text(json.dumps(self.data, indent=1))
        print(json.dumps(fields)[:2000], flush=True)


def run_tests(env: dict[str, str], out: Path) -> dict:
    """The CUDA tests, skipped everywhere without a GPU, from the test files that need no Qt."""
    files = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").glob("test_*.py"))
             if not any(word in p.read_text() for word in ("PySide6", "contextfill.app", "app_fixtures"))]
    start = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-m", "cuda", "-p", "no:cacheprovider", *files],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    (out / "tests.txt").write_text(res.stdout + res.stderr)
    return {"returncode": res.returncode, "summary": (res.stdout.strip().splitlines() or [""])[-1],
            "seconds": round(time.monotonic() - start, 1)}


def time_fills(cases: list[tuple[int, int]], repeats: int) -> dict:
    """Median seconds of each fill method on a photo-like image with a 10% hole (one round blob, centred),
    after one warm-up fill when repeated (kernels, caches)."""
    import numpy as np
    import torch
    from PIL import Image

    from contextfill.model.checkpoint import load_model
    from contextfill.model.devices import describe, resolve_device
    from contextfill.model.methods import NAMES
    from contextfill.model.pipeline import inpaint

    device = resolve_device("auto")
    model = load_model(DEFAULT_MODEL, device)
    rng = np.random.default_rng(0)
    rows = {"device": describe(device)}
    for w, h in cases:
        y, x = np.mgrid[0:h, 0:w]
        photo = np.stack([np.sin(x / 9.0), np.cos(y / 7.0), np.sin((x + y) / 13.0)], axis=2) * 0.35 + 0.5
        image = Image.fromarray(((photo + rng.normal(0, 0.04, photo.shape)).clip(0, 1) * 255).astype(np.uint8))
        hole = (x - w / 2) ** 2 + (y - h / 2) ** 2 < 0.10 * w * h / np.pi
        for method in NAMES:
            if repeats > 1:
                inpaint(image, hole, method=method, model=model, device=device)
            seconds = []
            for _ in range(repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                inpaint(image, hole, method=method, model=model, device=device)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                seconds.append(time.perf_counter() - start)
            rows[f"{method} {w}x{h}"] = round(statistics.median(seconds), 3)
    return rows


def train(env: dict[str, str], data: Path, out: Path, minutes: float, dry_run: bool, objects: bool) -> dict:
    """Train for `minutes` from the last GPU run's state if the repository has one, else from the shipped
    model; OUT/model.pt is the run's best-validating model, OUT/checkpoint.pt its last state (the moving
    average, in the model format: what the next lent GPU starts from; Adam restarts, hence the warm-up).
    With `objects` the staged cut-outs are pasted onto copies of the photos (off by default: on the CPU's
    equal-budget A/B the mix lost 1.2 dB on blobs, MODEL_CARD.md)."""
    start_from = GPU_START if GPU_START.is_file() else DEFAULT_MODEL
    run = ROOT / "build" / "gpu-run"  # outside OUT: a job cut short returns only the few files it chose
    shutil.rmtree(run, ignore_errors=True)
    args = ["--data", str(data / "photos"), "--out", str(run), "--init", str(start_from), "--minutes", f"{minutes:.2f}",
            "--steps", "100000", "--json", *GPU_RECIPE]
    if objects:
        args += ["--objects", str(data / "objects")]
    if dry_run:
        args += ["--dry-run", "--steps", "6", "--batch-size", "4", "--val-fraction", "0.3"]
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "contextfill.model.cli", "train", *args], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    (out / "train_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if res.returncode != 0:
        return {"returncode": res.returncode, "stderr": res.stderr[-2000:]}
    for name, source in (("model.pt", "best.pt" if (run / "best.pt").is_file() else "model.pt"), ("checkpoint.pt", "model.pt")):
        shutil.copyfile(run / source, out / name)
    steps = [e for e in events if e["event"] == "step"]
    return {
        "returncode": 0, "started_from": str(start_from.relative_to(ROOT)), "seconds": round(time.monotonic() - started, 1),
        "steps": steps[-1]["step"] if steps else 0, "images_per_s": steps[-1]["images_per_s"] if steps else None,
        "start": next((e for e in events if e["event"] == "start"), None),
        "val": [{"step": e["step"], "val_psnr": e["val_psnr"]} for e in events if e["event"] == "val"],
        "score": next((e for e in events if e["event"] == "score"), None),
        "loss_rec": [[e["step"], e["loss_rec"]] for e in steps[:: max(1, len(steps) // 200)]],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", action="store_true", help=f"copy ../shared's training sets, resized, into {STAGE.name}/ and stop")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "build" / "gpu-job")))
    parser.add_argument("--minutes", type=float, default=8.0, help="the whole job's budget; training gets what is left")
    parser.add_argument("--dry-run", action="store_true", help="CPU check: tiny timings, a tiny training run")
    parser.add_argument("--objects", action="store_true", help="train with the staged cut-outs pasted onto the photos")
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(stage(SHARED, STAGE)))
        return 0
    began = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    results = Results(args.out)
    env = importable_env()
    import torch

    results.add(python=sys.version.split()[0], torch=torch.__version__, cuda=torch.cuda.is_available(),
                gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, dry_run=args.dry_run)
    data = STAGE
    if not (STAGE / "photos").is_dir():  # a clean clone: stage a few photos, or make some
        data = ROOT / "build" / "gpu-check-data"
        shutil.rmtree(data, ignore_errors=True)
        results.add(data=stage(SHARED, data, limit=6) if (SHARED / "photos-train").is_dir() else generated_data(data))
    results.add(tests=run_tests(env, args.out))
    results.add(timings=time_fills(TIMING_CASES["dry-run" if args.dry_run else "full"], 1 if args.dry_run else 3))
    left = args.minutes - (time.monotonic() - began + TRAIN_MARGIN_S) / 60
    objects = args.objects or args.dry_run  # the check keeps the cut-out path from rotting too
    results.add(train=train(env, data, args.out, max(left, 0.2), args.dry_run, objects))
    results.add(total_seconds=round(time.monotonic() - began, 1))
    failed = results.data["tests"]["returncode"] not in (0, 5) or results.data["train"]["returncode"] != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
