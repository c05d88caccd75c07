"""GUI responsiveness benchmark: the GUI thread's longest stall while opening, saving and filling, and the
time to a shown window.

  python bench/bench_gui.py [--photo PATH] [--model PATH] [--methods ...] [--megapixels 50] [--starts 3]

Stall: a QTimer ticks every 5 ms on the GUI thread of the real MainWindow; the longest gap between ticks is
the worst freeze a user would feel (target <= 50 ms). The window is shown and left idle for 2 s first (its first
paint, and the Compare panels it prepares while idle, belong to start-up, not to the first step). Each step is
started the way the window's actions start it and timed until the window reports it done, plus 0.3 s so the
repaint it causes is inside:
  - open and save a large photo: a `--megapixels` TIFF (LZW, as photo editors write them) made in a temp
    folder from the bench photo, opened with `open_path` and saved with `save_as` as TIFF and JPEG, each
    timed until `window.files.finished`;
  - on the large photo, each mask and dialog step the window offers, timed until the window shows it done:
    invert, grow and shrink a mask covering most of the photo, undo the shrink, a rectangle over the whole photo
    (its undo step is the diff of the whole mask), the start of a fill and of a second one, which reuses the
    first one's panels (the Compare view's original with the mask over it), paste a PNG of the photo from another program (the clipboard holds it encoded, as on X11 and
    Wayland), open Settings (it names the devices present), the fine-tuning wizard showing a preview and resuming
    a long run (its log is read), typing a run folder (a disk check per keystroke);
  - open the bench photo (2048x1536), then fill a 3% hole in it with each method, timed until `fillFinished`;
  - open the large photo again (after the edits and fills: the memory a session leaves, where the first open found
    a fresh heap), and close the window while it is being saved as TIFF.
Start-up: the app is launched as a fresh process (`python -m contextfill.app`) and timed until it prints that its
window is shown (target <= 3 s). Prints a table; writes bench/out/bench_gui.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402  (before PySide6, as in the app)
from PIL import Image, ImageOps  # noqa: E402
from PySide6.QtCore import QByteArray, QElapsedTimer, QEventLoop, QMimeData, QObject, QRect, QTimer, Slot  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402

STALL_TARGET_MS, START_TARGET_S = 50.0, 3.0
SIZE = (2048, 1536)
TICK_MS = 5
TAIL_MS = 300  # ticking goes on this long after a step is done, so its repaint is measured too
STEP_TIMEOUT_S = 600
SETTLE_S = 2.0  # idle time after the window is shown, before the first step: it makes its Compare panels after 1 s


def bench_photo(path: str | None, workdir: Path) -> Path:
    """A 2048x1536 photo: the one given, or the first big enough training photo, cropped to size."""
    candidates = [Path(path)] if path else sorted((ROOT.parent / "shared/datasets/photos-train").glob("*"))
    for candidate in candidates:
        try:
            with Image.open(candidate) as im:
                if im.width >= SIZE[0] // 2 and im.height >= SIZE[1] // 2:
                    out = workdir / "photo-2048x1536.png"
                    ImageOps.fit(im.convert("RGB"), SIZE).save(out)
                    return out
        except OSError:
            continue
    raise SystemExit("no photo of at least 1024x768 found; pass --photo")


def large_photo(photo: Path, megapixels: float, workdir: Path) -> Path:
    """The bench photo scaled up to about `megapixels` (4:3), as an LZW-compressed TIFF."""
    scale = (megapixels * 1e6 / (SIZE[0] * SIZE[1])) ** 0.5
    size = (round(SIZE[0] * scale), round(SIZE[1] * scale))
    out = workdir / f"large-{size[0]}x{size[1]}.tif"
    with Image.open(photo) as im:
        im.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(out, compression="tiff_lzw", dpi=(300, 300))
    return out


def tiny_model(workdir: Path) -> Path:
    from contextfill.model.checkpoint import export_inference
    from contextfill.model.networks import GeneratorConfig, build_generator

    config = GeneratorConfig(widths=[8, 8, 8, 8], decoder_widths=[8, 8, 8])
    return export_inference(build_generator(config), config, {"note": "benchmark stand-in"}, workdir / "tiny.pt")


class StallMeter(QObject):
    """Ticks every TICK_MS on the GUI thread while one step runs; the gaps between ticks are the stalls.

    `measure` starts the ticks, calls `start()` (its own time counts: it runs on the GUI thread), and runs
    the event loop until the signal `done` fires and TAIL_MS more have passed. `watch()`, called on every
    tick, may return labels of things it saw happen (placed on the step's time line as events).
    """

    def __init__(self) -> None:
        super().__init__()
        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.loop: QEventLoop | None = None
        self.watch: Callable[[], list[str]] = lambda: []

    def measure(self, name: str, start: Callable[[], object], done, watch: Callable[[], list[str]] | None = None) -> dict:
        """`done` is a signal, or a predicate checked on every tick (a step the window reports by no signal)."""
        self.gaps: list[float] = []
        self.long_gaps: list[tuple[int, float]] = []  # (when the gap began, its length), ms
        self.events: list[tuple[int, str]] = []
        self.watch = watch or (lambda: [])
        self.last = 0.0
        self.finished_ms: float | None = None
        self.loop = QEventLoop()
        self.until = done if not hasattr(done, "connect") else None
        if self.until is None:
            done.connect(self._on_done)
        deadline = QTimer(self)
        deadline.setSingleShot(True)
        deadline.timeout.connect(self.loop.quit)
        deadline.start(STEP_TIMEOUT_S * 1000)
        self.clock.start()
        self.timer.start()
        started = start()
        start_call_ms = self.clock.nsecsElapsed() / 1e6
        if started is None or started is False:
            raise SystemExit(f"{name}: did not start ({started!r})")
        self.loop.exec()
        self.timer.stop()
        deadline.stop()
        if self.until is None:
            done.disconnect(self._on_done)
        if self.finished_ms is None:
            raise SystemExit(f"{name}: did not finish within {STEP_TIMEOUT_S} s")
        gaps = sorted(self.gaps)
        print(f"{name}: longest stall {gaps[-1]:.0f} ms", file=sys.stderr, flush=True)
        return {
            "wall_s": round(self.finished_ms / 1000, 2), "ticks": len(gaps),
            "max_gap_ms": round(gaps[-1], 1), "p99_gap_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1),
            "median_gap_ms": round(statistics.median(gaps), 1), "start_call_ms": round(start_call_ms, 1),
            "long_gaps_ms": self.long_gaps, "events_ms": self.events,
        }

    @Slot()
    def _tick(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        gap = now - self.last
        self.gaps.append(gap)
        if gap > STALL_TARGET_MS:
            self.long_gaps.append((round(self.last), round(gap, 1)))
        self.last = now
        for label in self.watch():
            self.events.append((round(now), label))
        if self.until is not None and self.until():
            self._on_done()

    @Slot()
    def _on_done(self) -> None:
        if self.finished_ms is None:
            self.finished_ms = self.clock.nsecsElapsed() / 1e6
            QTimer.singleShot(TAIL_MS, self.loop.quit)


def measure_stalls(photo: Path, large: Path, model_path: Path, methods: list[str], workdir: Path,
                   fill: bool = True) -> dict:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QMessageBox

    from contextfill.app import settings as S
    from contextfill.app.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(workdir / "settings"))
    messages: list[str] = []  # a dialog the window raises (a failed open or save) is recorded, not shown

    def record(box: QMessageBox) -> QMessageBox.StandardButton:
        messages.append(f"{box.windowTitle()}: {box.text()}")
        return QMessageBox.StandardButton.Ok

    QMessageBox.exec = record
    settings = S.Settings()
    settings.set(S.MODEL_PATH, str(model_path))
    settings.set(S.METHODS_ON, methods)
    window = MainWindow(settings)
    window.resize(1600, 1000)
    window.show()
    settle(SETTLE_S)  # the window's first paint and what it prepares while idle are no step's
    meter = StallMeter()
    files = window.files.finished
    steps: dict[str, dict] = {}

    def file_step(name: str, start: Callable[[], object], path: Path) -> None:
        before = len(messages)
        state = [window.document, getattr(window.document, "saved_path", None)]

        def shown() -> list[str]:
            """The opened document replaces the old one, or the saved one learns its path."""
            now = [window.document, getattr(window.document, "saved_path", None)]
            labels = (["document shown"] if now[0] is not state[0] else []) + (
                ["marked saved"] if now[0] is state[0] and now[1] != state[1] else [])
            state[:] = now
            return labels

        steps[name] = meter.measure(name, start, files, shown)
        steps[name]["file"] = path.name
        steps[name]["errors"] = messages[before:]

    with Image.open(large) as im:
        large_size = im.size
    file_step("open", lambda: window.open_path(large), large)
    if window.document is None or window.document.image.size != large_size:
        raise SystemExit(f"{large.name} did not open: {messages}")
    for suffix in (".tif", ".jpg"):
        target = workdir / f"{large.stem}-saved{suffix}"
        file_step(f"save {suffix[1:]}", lambda: window.save_as(target), target)
        if target.exists():  # what was written: its size on disk and in pixels
            with Image.open(target) as saved:
                steps[f"save {suffix[1:]}"].update(megabytes=round(target.stat().st_size / 1e6, 1),
                                                   pixels=list(saved.size))

    editing_steps(window, meter, steps, large, workdir)
    dialog_steps(window, meter, steps, workdir)

    if fill:
        steps["fill"] = fill_step(window, meter, file_step, photo)
    # The large photo once more, after the edits and fills have freed memory of every size: the first open found a
    # fresh heap, this one finds what a session of work leaves.
    file_step("open again", lambda: window.open_path(large), large)
    close_step(window, meter, steps, workdir)
    return {"photo": str(photo), "size": list(SIZE), "large_size": list(large_size),
            "large_megapixels": round(large_size[0] * large_size[1] / 1e6, 1), "target_ms": STALL_TARGET_MS,
            "tick_ms": TICK_MS, "tail_ms": TAIL_MS, "steps": steps}


def fill_step(window, meter: StallMeter, file_step, photo: Path) -> dict:
    """Open the bench photo, load the model, then fill a 3% hole with each method until `fillFinished`."""
    file_step("open bench photo", lambda: window.open_path(photo), photo)
    loaded: list[bool] = []
    window.modelLoaded.connect(loaded.append)
    window.preload_model()
    wait_for(lambda: bool(loaded))
    side = int((0.03 * SIZE[0] * SIZE[1]) ** 0.5)  # a square hole of 3% of the photo
    window.layer.paint_rect(QRect(SIZE[0] // 2 - side // 2, SIZE[1] // 2 - side // 2, side, side))
    seen: set[str] = set()

    def new_results() -> list[str]:
        """A result shows up in the window: its label on the fill's time line."""
        fresh = [key for key in window.fill_results if key not in seen]
        seen.update(fresh)
        return [f"result {key}" for key in fresh]

    fill = meter.measure("fill", window.start_fill, window.fillFinished, new_results)
    fill["methods"] = {m: {"seconds": round(r.seconds, 3), "device": r.device} for m, r in window.fill_results.items()}
    fill["errors"] = [f"{title}: {message}" for title, message, _ in window.fills.errors]
    fill["hole_fraction"] = round(side * side / (SIZE[0] * SIZE[1]), 4)
    return fill


def settled(window) -> bool:
    """No mask edit of the window is still being computed or written (the layers' work, where they have any)."""
    layers = (window.layer, window.sampling_layer)
    return not any(getattr(layer, "is_busy", lambda: False)() for layer in layers if layer is not None)


def editing_steps(window, meter: StallMeter, steps: dict, large: Path, workdir: Path) -> None:
    """Mask operations and a fill's start on the large photo, each timed until its undo step is on the stack."""
    from PySide6.QtCore import QPointF

    from contextfill.app.tools import RectGesture

    layer, stack = window.layer, window.undo_stack
    w, h = layer.image.width(), layer.image.height()
    layer.paint_rect(QRect(w // 3, h // 3, w // 3, h // 3))  # a hole in the middle: invert makes most of it mask

    def undo_step(name: str, start: Callable[[], object]) -> None:
        index = stack.index()
        steps[name] = meter.measure(name, lambda: start() or True, lambda: stack.index() > index and settled(window))

    undo_step("invert mask", window.invert_mask)
    undo_step("grow mask", window.grow_mask)
    undo_step("shrink mask", window.shrink_mask)
    index = stack.index()
    steps["undo shrink"] = meter.measure("undo shrink", lambda: stack.undo() or True,
                                         lambda: stack.index() < index and settled(window))

    def rectangle() -> bool:
        gesture = RectGesture(layer, stack, True, lambda rect: None)  # Alt+drag over the whole photo: erase all
        gesture.press(QPointF(0, 0))
        gesture.release(QPointF(w, h))
        return True

    undo_step("rectangle, whole photo", rectangle)
    layer.paint_rect(QRect(w // 2, h // 2, 64, 64))  # a small hole: the fill itself is cancelled at once

    def overlay_shown() -> bool:
        panel = window.results.panels.get("original")
        return panel is not None and bool(panel.item.childItems())

    for name in ("fill start, mask shown", "fill start again"):  # the second reuses the first's panels
        steps[name] = meter.measure(name, window.start_fill, overlay_shown)
        window.cancel_fill()
        wait_for(lambda: not window.is_filling())

    encoded = workdir / "clipboard.png"
    with Image.open(large) as im:
        im.save(encoded, compress_level=1)
    mime = ForeignClipboard(encoded.read_bytes())
    steps["paste as PNG"] = meter.measure("paste as PNG", lambda: window._open_mime(mime), window.files.finished)
    steps["paste as PNG"]["file"] = encoded.name


class ForeignClipboard(QMimeData):
    """What another program's copied image looks like to Qt on X11 and Wayland: PNG bytes, which Qt decodes into a
    QImage only when `imageData()` asks for one (on the calling thread). The bytes are held as one QByteArray, shared
    with whoever asks for them, as Qt holds what it has received: the transfer from the other program is Qt's and the
    display server's and is not measured (copying them out of a Python bytes object at each request took 25-30 ms)."""

    def __init__(self, png: bytes) -> None:
        super().__init__()
        self.png = png
        self.encoded = QByteArray(png)

    def formats(self) -> list[str]:
        return ["image/png", "application/x-qt-image"]

    def hasFormat(self, mimetype: str) -> bool:
        return mimetype in self.formats()

    def retrieveData(self, mimetype: str, preferred_type):
        if mimetype == "application/x-qt-image":
            return QImage.fromData(self.png, "PNG")
        return self.encoded if mimetype == "image/png" else None


def settle(seconds: float) -> None:
    """Run the event loop for this long, doing nothing else."""
    end = time.monotonic() + seconds
    wait_for(lambda: time.monotonic() > end)


def wait_for(predicate: Callable[[], bool], timeout_s: float = STEP_TIMEOUT_S) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting between steps")
        QApplication.processEvents()
        time.sleep(0.005)


def dialog_steps(window, meter: StallMeter, steps: dict, workdir: Path) -> None:
    """Settings (naming the devices), and the fine-tuning wizard: a preview shown, a long run resumed, a run
    folder typed key by key."""
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QDialog

    from contextfill.app.dialogs import SettingsDialog

    shown: list[QDialog] = []
    SettingsDialog.exec = lambda dialog: shown.append(dialog) or 0  # built and shown, then cancelled
    SettingsDialog.open = SettingsDialog.exec
    steps["settings dialog"] = meter.measure("settings dialog", lambda: window.open_settings() or True, lambda: bool(shown))

    run = workdir / "run"
    run.mkdir()
    rng = __import__("numpy").random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (6 * 256, 4 * 256, 3), dtype="uint8")).save(run / "score.png")
    (run / "checkpoint.pt").write_bytes(b"")
    with open(run / "log.jsonl", "w") as log:  # ten hours of a run's events, a step line every 10 steps
        for step in range(10, 60_001, 10):
            log.write(json.dumps({"event": "step", "step": step, "steps": 60_000, "loss_rec": 0.01, "loss_adv": 0.0,
                                  "loss_d": 0.0, "images_per_s": 20.0, "eta_s": 100.0}) + "\n")
            if step % 500 == 0:
                log.write(json.dumps({"event": "checkpoint", "step": step, "path": str(run / "checkpoint.pt")}) + "\n")
    wizard = window.open_train_wizard()
    wizard.run_page.train.start = lambda args: None  # no real training: the steps measure the wizard's own work
    record = {"event": "score", "step": 60_000, "before_psnr": 20.0, "after_psnr": 20.5, "gain_db": 0.5,
              "val_photos": 4, "crops": 24, "preview": str(run / "score.png")}
    preview = wizard.run_page.preview
    steps["wizard preview"] = meter.measure("wizard preview", lambda: wizard.run_page._on_event(record) or True,
                                            lambda: preview.pixmap() is not None and not preview.pixmap().isNull())
    page = wizard.setup_page
    page.photos_edit.setText(str(workdir))
    page.run_edit.clear()
    steps["type run folder"] = meter.measure("type run folder", lambda: QTest.keyClicks(page.run_edit, str(run)) or True,
                                             lambda: page.resume.isChecked())
    steps["resume a long run"] = meter.measure("resume a long run", lambda: page.train_args("cpu") or True, lambda: True)
    wizard.done(0)
    wizard.deleteLater()


def close_step(window, meter: StallMeter, steps: dict, workdir: Path) -> None:
    """Close the window while the large photo is being written as TIFF: the save is finished, never cut short."""
    file_done: list[bool] = []
    window.files.finished.connect(file_done.append)
    target = workdir / "closing-save.tif"

    def close() -> bool:
        window.save_as(target)
        window.close()
        return True

    steps["close while saving"] = meter.measure("close while saving", close, lambda: not window.isVisible() and bool(file_done))
    steps["close while saving"]["saved"] = target.exists()


def measure_startup(runs: int, workdir: Path) -> dict | None:
    if runs <= 0:
        return None
    env = dict(os.environ, CONTEXTFILL_EXIT_AFTER_MS="100", HOME=str(workdir / "home"),
               XDG_CONFIG_HOME=str(workdir / "config"), XDG_STATE_HOME=str(workdir / "state"))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "contextfill.app"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        shown = None
        for line in proc.stdout:
            if line.strip() == "WINDOW_SHOWN":
                shown = time.perf_counter() - t0
                break
        proc.wait(timeout=60)
        if shown is None:
            raise SystemExit(f"the app exited ({proc.returncode}) without showing its window")
        times.append(shown)
    return {"runs": [round(t, 2) for t in times], "median_s": round(statistics.median(times), 2),
            "max_s": round(max(times), 2), "target_s": START_TARGET_S}


def machine() -> dict:
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "loadavg_1_5_15": load,
            "platform": os.environ.get("QT_QPA_PLATFORM", "")}


def table(report: dict) -> list[str]:
    """One line per step (longest stall against the target, 99th percentile gap, wall time), then start-up."""
    ok = lambda good: "ok" if good else "MISSED"  # noqa: E731
    stall = report["stall"]
    lines = [f"{'step':<24} {'longest stall':>13} {'p99 gap':>9} {'wall':>8}  target <= {STALL_TARGET_MS:.0f} ms"]
    for name, step in stall["steps"].items():
        label = {"open": f"open {stall['large_megapixels']:.0f} MP TIFF", "open again": "open it again",
                 "save tif": "save it as TIFF",
                 "save jpg": "save it as JPEG", "open bench photo": "open 2048x1536 PNG",
                 "fill": f"fill ({len(step.get('methods', ()))} methods)"}.get(name, name)
        lines.append(f"{label:<24} {step['max_gap_ms']:>10.1f} ms {step['p99_gap_ms']:>6.1f} ms "
                     f"{step['wall_s']:>6.2f} s  {ok(step['max_gap_ms'] <= STALL_TARGET_MS)}")
    for m, r in stall["steps"].get("fill", {}).get("methods", {}).items():
        lines.append(f"  {m:<22} {'':>13} {'':>9} {r['seconds']:>6.2f} s  ({r['device']})")
    startup = report["startup"]
    if startup:
        lines.append(f"start to shown window: median {startup['median_s']:.2f} s, max {startup['max_s']:.2f} s "
                     f"(target <= {START_TARGET_S:.0f} s: {ok(startup['median_s'] <= START_TARGET_S)})")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", help="photo for the fill, cropped to 2048x1536 (default: a training photo)")
    parser.add_argument("--model", help="inference model (default: the bundled model, else a tiny stand-in)")
    parser.add_argument("--methods", nargs="+", default=["context-encoder", "patch", "hybrid"])
    parser.add_argument("--megapixels", type=float, default=50.0, help="size of the photo opened and saved")
    parser.add_argument("--starts", type=int, default=3, help="start-up runs (0: skip)")
    parser.add_argument("--no-fill", action="store_true", help="skip the fill of the bench photo")
    parser.add_argument("--out", default=str(ROOT / "bench/out/bench_gui.json"))
    args = parser.parse_args()

    from contextfill.app.paths import default_model_path

    load_before = machine()["loadavg_1_5_15"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model_path = Path(args.model) if args.model else default_model_path()
        model_note = str(model_path)
        if not model_path.exists():
            model_path, model_note = tiny_model(workdir), "tiny random-weight stand-in (no bundled model yet)"
        startup = measure_startup(args.starts, workdir)
        photo = bench_photo(args.photo, workdir)
        large = large_photo(photo, args.megapixels, workdir)
        stall = measure_stalls(photo, large, model_path, args.methods, workdir, fill=not args.no_fill)
    report = {"stall": stall, "startup": startup, "model": model_note,
              "machine": dict(machine(), loadavg_at_start=load_before)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))

    fill = stall["steps"].get("fill")
    w, h = stall["large_size"]
    filled = f"fill a {fill['hole_fraction']:.1%} hole in a {SIZE[0]}x{SIZE[1]} photo" if fill else "no fill"
    print(f"GUI benchmark: open/save/edit a {w}x{h} ({stall['large_megapixels']:.1f} MP) TIFF; {filled}; "
          f"model: {model_note}")
    m = report["machine"]
    print(f"machine: {m['cores']} cores, {m['torch_threads']} torch threads, load average "
          f"{m['loadavg_at_start']} at start, {m['loadavg_1_5_15']} at end (1/5/15 min)")
    print("\n".join(table(report)))
    for name, step in stall["steps"].items():
        for error in step.get("errors", []):
            print(f"error ({name}):", error)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
