"""Start the built app the way a user would and fail on anything that looks fatal.

  python packaging/smoke_test.py dist/contextfill/contextfill   # the frozen bundle
  python packaging/smoke_test.py --source                       # python -m contextfill.app from this checkout

Checks: `--version` and `batch --help` exit 0; `batch` fills the sample photo with the default model
(context encoder, then hybrid) and writes both results; the GUI starts offscreen, shows its window on the
bundled sample (it prints WINDOW_SHOWN) and exits 0 by itself; neither its output nor its log file
contains a fatal marker (a traceback, a Qt plugin failure, a missing module...).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "samples" / "coffee.png"
FATAL_MARKERS = (
    "Traceback (most recent call last)", "Uncaught exception", "Fatal Python error",
    "Could not load the Qt platform plugin", "This application failed to start", "ModuleNotFoundError",
    "ImportError", "CRITICAL", "Segmentation fault", "a CUDA library was called",
)


def run(cmd: list[str], env: dict, timeout: int) -> tuple[int, str]:
    try:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return 124, f"timed out after {timeout} s\n{exc.stdout or ''}{exc.stderr or ''}"
    return proc.returncode, proc.stdout + proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("executable", nargs="?", help="the frozen contextfill executable")
    parser.add_argument("--source", action="store_true", help="test `python -m contextfill.app` instead of a bundle")
    parser.add_argument("--timeout", type=int, default=180)
    args = parser.parse_args()
    if args.source == bool(args.executable):
        parser.error("give either EXECUTABLE or --source")
    base = [sys.executable, "-m", "contextfill.app"] if args.source else [str(Path(args.executable).resolve())]

    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=tmp, XDG_CONFIG_HOME=f"{tmp}/config",
                   XDG_STATE_HOME=f"{tmp}/state", XDG_DATA_HOME=f"{tmp}/data", APPDATA=f"{tmp}/appdata",
                   LOCALAPPDATA=f"{tmp}/localappdata", CONTEXTFILL_EXIT_AFTER_MS="1500")
        photos, filled = Path(tmp, "photos"), Path(tmp, "filled")
        photos.mkdir()
        shutil.copy(SAMPLE, photos)
        checks = [
            ("version", base + ["--version"], lambda out: "ContextFill" in out),
            ("batch --help", base + ["batch", "--help"], lambda out: "usage" in out.lower()),
        ] + [
            (f"fill {method}", base + ["batch", str(photos), str(filled / method), "--mask", "center",
                                       "--method", method],
             lambda out, method=method: (filled / method / SAMPLE.name).is_file() and "1 filled" in out)
            for method in ("context-encoder", "hybrid")
        ] + [
            ("GUI start", base, lambda out: "WINDOW_SHOWN" in out),
        ]
        for name, cmd, expected in checks:
            code, out = run(cmd, env, args.timeout)
            markers = [m for m in FATAL_MARKERS if m in out]
            ok = code == 0 and expected(out) and not markers
            print(f"{'ok  ' if ok else 'FAIL'} {name} (exit {code}{', markers: ' + ', '.join(markers) if markers else ''})")
            if name.startswith("fill") and ok:
                print("    " + next((line for line in out.splitlines() if line.startswith("ok")), ""))
            if not ok:
                failures.append(name)
                print("    " + "\n    ".join(out.strip().splitlines()[-25:]))
        logs = list(Path(tmp).rglob("contextfill.log"))
        log_text = "".join(p.read_text(errors="replace") for p in logs)
        markers = [m for m in FATAL_MARKERS if m in log_text]
        print(f"{'ok  ' if logs and not markers else 'FAIL'} log file {[str(p) for p in logs]} {markers or ''}")
        if not logs or markers:
            failures.append("log")
    print("smoke test", "FAILED: " + ", ".join(failures) if failures else "passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
