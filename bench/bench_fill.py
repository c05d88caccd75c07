"""Benchmark of the fill methods: speed and peak memory by image size and hole size, the 24 MP dust-spot case,
the paper's quality table on photos-val, contact sheets, and the spoon on the bundled coffee photo.

    python bench/bench_fill.py [--photos DIR] [--textures DIR] [--model PATH] [--out DIR] [--quick] [--threads N]
                               [--quality-only] [--protocols center blobs large]

Methods: patch, context-encoder and hybrid (model.pipeline; the learned two skipped if no model loads), and the
peers to beat, benchmark-only dependencies: OpenCV's Telea and NS, and PyPatchMatch (radius 3). Each image size
and each dust-spot method runs in its own subprocess so its peak memory is its alone. Writes
<out>/bench_fill.json, PNG sheets and <out>/spoon.png (the standing regression picture).

The eye decides, not PSNR (a smear wins PSNR): for `blobs` and `large` every case and every method's result is
written by stem to <out>/blind/<protocol>/{cases/images, cases/masks, <method>}/<stem>.png, and blind A/B pairs
of each of our methods against PyPatchMatch to <out>/blind/<protocol>/pairs-<method>/ (the key beside the
folder), made by ../shared/tools/blind_pairs.py; a judge who sees only a pairs folder picks the less noticeable
edit, and `blind_pairs.py score` counts how often ours was kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from contextfill.model.masks import blob_mask  # noqa: E402
from contextfill.model.methods import METHODS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(256, 256), (512, 512), (1024, 1024), (1536, 2048)]  # (h, w)
HOLES = [0.03, 0.10, 0.25]
LEARNED = tuple(m.name for m in METHODS.values() if m.needs_model)
Filler = Callable[[Image.Image, np.ndarray], Image.Image]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared/datasets/photos-val")
    parser.add_argument("--textures", type=Path, default=ROOT.parent / "shared/datasets/textures")
    parser.add_argument("--model", type=Path, default=ROOT / "resources/models/default.pt")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/out")
    parser.add_argument("--quick", action="store_true", help="two small sizes and five photos, for a smoke run")
    parser.add_argument("--threads", type=int, help="torch and OpenCV threads (default: theirs); 1 avoids "
                        "oversubscription when another job keeps the cores busy")
    parser.add_argument("--quality-only", action="store_true", help="skip speed, dust and textures: the quality "
                        "tables, contact sheets and blind pairs only")
    parser.add_argument("--protocols", nargs="+", default=["center", "blobs", "large"],
                        choices=["center", "blobs", "large"])
    parser.add_argument("--blind-tool", type=Path, default=ROOT.parent / "shared/tools/blind_pairs.py",
                        help="the script that makes blind A/B pairs (skipped when missing)")
    parser.add_argument("--speed-worker", nargs=2, type=int, metavar=("H", "W"), help=argparse.SUPPRESS)
    parser.add_argument("--dust-worker", help=argparse.SUPPRESS)
    parser.add_argument("--dust-folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    set_threads(args.threads)
    if args.speed_worker:
        print(json.dumps(speed_worker(tuple(args.speed_worker), args.photos, args.model)))
        return 0
    if args.dust_worker:
        dust_worker(args.dust_worker, args.dust_folder)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    fillers = make_fillers(args.model)
    report = {"machine": machine(), "methods": list(fillers), "quality": {}, "sheets": []}
    if not args.quality_only:
        report["speed"] = speed(args)
        print(format_speed(report["speed"]))
    report["spoon"] = spoon(fillers, args.out / "spoon.png")
    if not args.quick and not args.quality_only:
        with tempfile.TemporaryDirectory() as tmp:
            folder = dust_case(args.photos, Path(tmp))
            report["dust"] = [dust(args, name, folder) for name in fillers if name != "ns"]
        print(format_dust(report["dust"]))
    photos = sorted(p for p in args.photos.iterdir() if p.is_file())[: 5 if args.quick else None]
    for protocol in args.protocols:
        blind = None if protocol == "center" else args.out / "blind" / protocol
        rows, examples = quality(photos, protocol, fillers, blind)
        report["quality"][protocol] = rows
        print(format_quality(protocol, rows, len(photos)))
        if blind is not None:
            name = "contact_photos" if protocol == "blobs" else f"contact_{protocol}"
            report["sheets"] += save_sheets(examples, list(fillers), args.out / name)
            report.setdefault("blind_pairs", {})[protocol] = blind_pairs(args.blind_tool, blind, fillers, len(photos))
    if not args.quality_only:
        textures = texture_examples(args.textures, fillers)
        report["sheets"] += save_sheets(textures, list(fillers), args.out / "contact_textures")
    (args.out / "bench_fill.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out / 'bench_fill.json'} and {len(report['sheets'])} contact sheets")
    return 0


def set_threads(threads: int | None) -> None:
    if threads:
        import cv2
        import torch

        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)


def machine() -> dict:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "cuda": torch.cuda.is_available(), "platform": platform.platform()}


def make_fillers(model_path: Path, device: str = "cpu") -> dict[str, Filler]:
    """Every method that can run here, by name, as the user gets it (the pipeline, boundary blend included); the
    learned ones only when a model loads, the peers only when installed."""
    from contextfill.model.evaluate import PEER_METHODS, fill_with
    from contextfill.model.pipeline import inpaint

    fillers: dict[str, Filler] = {"patch": lambda image, hole: inpaint(image, hole, method="patch", device=device).image}
    try:
        from contextfill.model.checkpoint import load_model

        model = load_model(model_path, device)
        for method in LEARNED:
            fillers[method] = lambda image, hole, m=method: inpaint(image, hole, method=m, model=model,
                                                                    device=device).image
    except Exception as exc:  # the learned methods are optional here: report and go on
        print(f"note: context-encoder and hybrid skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
    probe = Image.new("RGB", (16, 16)), np.eye(16, dtype=bool)
    for name in PEER_METHODS:
        try:
            fill_with(name, *probe)
        except ImportError:
            print(f"note: peer {name} skipped (pip install -e '.[bench]')", file=sys.stderr)
            continue
        fillers[name] = lambda image, hole, m=name: fill_with(m, image, hole)
    return fillers


def speed(args: argparse.Namespace) -> list[dict]:
    """One subprocess per size, so each size's peak memory is measured on its own."""
    rows = []
    for h, w in SIZES[:2] if args.quick else SIZES:
        cmd = [sys.executable, __file__, "--speed-worker", str(h), str(w), "--photos", str(args.photos),
               "--model", str(args.model)] + (["--threads", str(args.threads)] if args.threads else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def speed_worker(size: tuple[int, int], photos: Path, model_path: Path) -> list[dict]:
    """Wall and CPU seconds per method for each hole size at one image size (CPU time is what to compare when the
    machine is shared); patch's peak memory is read before the other methods run."""
    h, w = size
    fillers = make_fillers(model_path)
    photo = sorted(p for p in photos.iterdir() if p.is_file())[0]
    image = ImageOps.fit(Image.open(photo).convert("RGB"), (w, h), Image.Resampling.LANCZOS)
    holes = [blob_mask(h, w, np.random.default_rng(7), fraction) for fraction in HOLES]
    baseline = peak_rss_mb()
    rows = [{"size": f"{w}x{h}", "hole": round(float(hole.mean()), 3), "seconds": {}, "cpu_seconds": {}}
            for hole in holes]
    for name, fill in fillers.items():
        for row, hole in zip(rows, holes):
            start, cpu = time.perf_counter(), time.process_time()
            fill(image, hole)
            row["seconds"][name] = time.perf_counter() - start
            row["cpu_seconds"][name] = time.process_time() - cpu
        if name == "patch":
            for row in rows:
                row["patch_peak_mb"], row["process_baseline_mb"] = peak_rss_mb(), baseline
    return rows


def dust_case(photos: Path, folder: Path) -> Path:
    """200 dust spots (about 0.26% of the pixels) on a 6000x4000 photo, written as the user would have them: a
    JPEG in `folder`/in and its mask in `folder`/masks. Returns `folder`."""
    from PIL import ImageDraw

    photo = sorted(p for p in photos.iterdir() if p.is_file())[0]
    image = Image.open(photo).convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC)
    rng = np.random.default_rng(0)
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(200):
        x, y, r = int(rng.integers(20, 5980)), int(rng.integers(20, 3980)), int(rng.integers(5, 14))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    for sub in ("in", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    image.save(folder / "in/dust.jpg", quality=95)
    mask.save(folder / "masks/dust.png")
    return folder


def dust_worker(method: str, folder: Path) -> None:
    """A peer on the dust case, in a process of its own: read the files, fill, write the result."""
    from contextfill.model.peers import peer_fill  # no torch: the peer's memory is its own

    image = Image.open(folder / "in/dust.jpg").convert("RGB")
    hole = np.asarray(Image.open(folder / "masks/dust.png")) > 127
    peer_fill(image, hole, method).save(folder / f"{method}.jpg", quality=95)


def dust(args: argparse.Namespace, method: str, folder: Path) -> dict:
    """Wall seconds and peak memory of the whole command, start to exit, as `/usr/bin/time -v` reports them:
    our methods through `contextfill batch` (what a user runs), the peers through a worker that does the same
    reading, filling and writing."""
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {}))
    if method in METHODS:
        cmd = [sys.executable, "-m", "contextfill.model.cli", "batch", str(folder / "in"), str(folder / f"out-{method}"),
               "--mask", str(folder / "masks"), "--method", method, "--model", str(args.model), "--device", "cpu"]
    else:
        cmd = [sys.executable, __file__, "--dust-worker", method, "--dust-folder", str(folder)]
    log = folder / f"{method}.log"
    with log.open("w") as stderr:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, *cmd], stdout=subprocess.PIPE, stderr=stderr,
                              text=True, env=env)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dust case, {method}: {log.read_text()[-500:]}")
    return {"method": method, "seconds": seconds, "peak_mb": int(done.stdout.split()[-1]) / 1024}


# Runs a command and prints its peak resident memory in kB. Linux carries a process's peak across exec, so a
# command started straight from this (large) benchmark process would count the benchmark's memory too; this
# small launcher in between keeps that floor at a few MB.
PEAK_OF_CHILD = ("import resource, subprocess, sys; "
                 "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def format_dust(rows: list[dict]) -> str:
    lines = ["dust spots: 200 on a 6000x4000 JPEG (0.26% of the pixels) -- the whole command: wall seconds, "
             "peak MB"] if rows else []
    lines += [f"{r['method']:<16}{r['seconds']:8.2f} s{r['peak_mb']:9.0f} MB" for r in rows]
    return "\n".join(lines)


def spoon(fillers: dict[str, Filler], path: Path) -> list[str]:
    """The spoon on the bundled coffee photo removed by every method: crops at 2x, one column each."""
    from before_after import spoon_mask

    photo = Image.open(ROOT / "resources/samples/coffee.png").convert("RGB")
    hole = spoon_mask(photo.size)
    box = (300, 50, 440, 350)
    tiles = [photo.crop(box)] + [fill(photo, hole).crop(box) for fill in fillers.values()]
    w, h = (box[2] - box[0]) * 2, (box[3] - box[1]) * 2
    sheet = Image.new("RGB", (w * len(tiles), h), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile.resize((w, h), Image.Resampling.NEAREST), (i * w, 0))
    sheet.save(path)
    print(f"{path}: columns original | {' | '.join(fillers)}")
    return ["original", *fillers]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (VmHWM), which counts torch's allocations too."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quality(photos: list[Path], protocol: str, fillers: dict[str, Filler],
            folder: Path | None = None) -> tuple[list[dict], list[tuple]]:
    """Mean hole metrics per method under one protocol; also the outputs, for the contact sheets. With `folder`,
    the cases (folder/cases/images, folder/cases/masks) and each method's results (folder/<method>) are written
    as PNGs by the photo's stem, for blind pairs and for any later session to judge."""
    from contextfill.model.evaluate import hole_metrics, protocol_sample  # here: the peers' worker needs no torch

    scores: dict[str, list[dict]] = {name: [] for name in fillers}
    seconds = dict.fromkeys(fillers, 0.0)
    examples = []
    for index, path in enumerate(photos):
        image, hole = protocol_sample(ImageOps.exif_transpose(Image.open(path)), protocol, index)
        outputs = []
        for name, fill in fillers.items():
            start = time.perf_counter()
            out = fill(image, hole)
            seconds[name] += time.perf_counter() - start
            scores[name].append(hole_metrics(np.asarray(out.convert("RGB")), np.asarray(image), hole))
            outputs.append(out)
        if folder is not None:
            save_case(folder, path.stem, image, hole, dict(zip(fillers, outputs)))
        examples.append((image, hole, outputs))
    rows = [{"method": name, **{k: float(np.nanmean([s[k] for s in values])) for k in values[0]},
             "seconds": seconds[name] / len(values)} for name, values in scores.items()]
    return rows, examples


def save_case(folder: Path, stem: str, image: Image.Image, hole: np.ndarray, outputs: dict[str, Image.Image]) -> None:
    named = {"cases/images": image, "cases/masks": Image.fromarray(hole.astype(np.uint8) * 255), **outputs}
    for sub, picture in named.items():
        (folder / sub).mkdir(parents=True, exist_ok=True)
        picture.save(folder / sub / f"{stem}.png")


def blind_pairs(tool: Path, folder: Path, fillers: dict[str, Filler], count: int) -> dict[str, str]:
    """Blind A/B pairs of each of our methods against PyPatchMatch (when both ran and the tool is there)."""
    if not tool.exists() or "pypatchmatch" not in fillers:
        print(f"note: no blind pairs ({tool} missing or PyPatchMatch not installed)", file=sys.stderr)
        return {}
    pairs = {}
    for name in (m for m in fillers if m in METHODS):
        out = folder / f"pairs-{name}"
        subprocess.run([sys.executable, str(tool), "make", str(folder / "cases"), str(folder / name),
                        str(folder / "pypatchmatch"), str(out), "--n", str(count)], check=True)
        pairs[name] = str(out)
    return pairs


def texture_examples(folder: Path, fillers: dict[str, Filler]) -> list[tuple]:
    examples = []
    for index, path in enumerate(sorted(p for p in folder.iterdir() if p.is_file())):
        image = ImageOps.fit(Image.open(path).convert("RGB"), (512, 512), Image.Resampling.LANCZOS)
        hole = blob_mask(512, 512, np.random.default_rng([11, index]), 0.10)
        examples.append((image, hole, [fill(image, hole) for fill in fillers.values()]))
    return examples


def save_sheets(examples: list[tuple], names: list[str], stem: Path, rows_per_sheet: int = 4,
                thumb: int = 256) -> list[str]:
    """Rows of original | hole (white) | each method; several sheets so each stays readable at full size."""
    paths = []
    for first in range(0, len(examples), rows_per_sheet):
        chunk = examples[first:first + rows_per_sheet]
        sheet = Image.new("RGB", (thumb * (2 + len(names)), thumb * len(chunk)), "black")
        for row, (image, hole, outputs) in enumerate(chunk):
            masked = np.asarray(image.convert("RGB")).copy()
            masked[hole] = 255
            tiles = [image, Image.fromarray(masked)] + list(outputs)
            for col, tile in enumerate(tiles):
                sheet.paste(tile.convert("RGB").resize((thumb, thumb), Image.Resampling.LANCZOS),
                            (col * thumb, row * thumb))
        path = stem.with_name(f"{stem.name}_{first // rows_per_sheet + 1}.png")
        sheet.save(path)
        paths.append(str(path))
    print(f"{stem.name}: columns original | hole | {' | '.join(names)}")
    return paths


def format_speed(rows: list[dict]) -> str:
    names = list(rows[0]["seconds"]) if rows else []
    lines = ["speed (wall seconds per image; patch cpu = CPU seconds of all threads; patch peak = process peak "
             "RSS after the patch runs, MB)",
             f"{'size':>10}{'hole':>7}" + "".join(f"{n:>17}" for n in names) + f"{'patch cpu':>11}{'patch peak':>12}"]
    for r in rows:
        lines.append(f"{r['size']:>10}{r['hole']:>7.1%}" + "".join(f"{r['seconds'][n]:>17.3f}" for n in names)
                     + f"{r['cpu_seconds']['patch']:>11.3f}{r['patch_peak_mb']:>12.0f}")
    if rows:
        lines.append(f"(process baseline before any fill: {rows[0]['process_baseline_mb']:.0f} MB)")
    return "\n".join(lines)


def format_quality(protocol: str, rows: list[dict], images: int) -> str:
    lines = [f"quality, protocol {protocol}, {images} photos",
             f"{'method':<16}{'L1 %':>8}{'L2 %':>8}{'PSNR dB':>9}{'grad':>7}{'s/img':>8}"]
    lines += [f"{r['method']:<16}{r['l1']:8.2f}{r['l2']:8.2f}{r['psnr']:9.2f}{r['grad_ratio']:7.2f}{r['seconds']:8.3f}"
              for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
