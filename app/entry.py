"""Process entry point: engine subcommands run headless; anything else opens the GUI.

torch is imported before PySide6 on purpose: with torch>=2.9 on Windows, loading Qt's DLLs first makes
torch's DLL initialisation fail. Before Qt starts, every missing library of Qt's X11 plugin is named in one line
with the command that installs them, and the app stops there: Qt 6.5+ would abort naming one of them at best.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

# Every X11 library Qt's xcb platform plugin links (libqxcb.so and libQt6XcbQpa.so.6; tests/test_app_polish.py
# compares this table with them): soname -> Debian/Ubuntu package, Fedora package, carried in the bundle. Qt 6.5+
# aborts without any one of them, naming at best one; the X11 core (libX11, libxcb) is on every X11 desktop and
# stays the system's.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", True),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", True),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", True),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", True),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", True),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", True),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", True),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", True),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", True),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", True),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", True),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", True),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", True),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", True),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", True),
    "libxcb.so.1": ("libxcb1", "libxcb", False),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", False),
    "libX11.so.6": ("libx11-6", "libX11", False),
}


def missing_libraries() -> list[str]:
    """The XCB_LIBRARIES neither in the bundle nor loadable here, when Qt will use X11 on Linux."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "xcb") not in ("", "xcb"):
        return []
    bundle = getattr(sys, "_MEIPASS", None)
    missing = []
    for soname in XCB_LIBRARIES:
        if bundle and (Path(bundle) / soname).exists():
            continue
        try:
            ctypes.CDLL(soname)  # what Qt's plugin will ask the loader for
        except OSError:
            missing.append(soname)
    return missing


def missing_library_hint() -> str | None:
    """One line naming every missing library and how to install them all, or None when none is missing."""
    missing = missing_libraries()
    if not missing:
        return None
    apt = " ".join(XCB_LIBRARIES[name][0] for name in missing)
    dnf = " ".join(dict.fromkeys(XCB_LIBRARIES[name][1] for name in missing))
    return (f"ContextFill needs these system libraries to open its window: {apt}. Install them with "
            f"`sudo apt install {apt}` (Fedora: `sudo dnf install {dnf}`).")


def is_engine_command(arg: str) -> bool:
    """True for the engine's subcommands (`train`, `batch`, ...), never for an image path."""
    if arg.startswith("-") or os.path.exists(arg):
        return False
    from contextfill.model.cli import SUBCOMMANDS

    return arg in SUBCOMMANDS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and is_engine_command(argv[1]):
        from contextfill.model.cli import main as cli_main

        return int(cli_main(argv[1:]) or 0)

    if hint := missing_library_hint():
        print(hint, file=sys.stderr, flush=True)  # the last word: Qt would abort naming one library at best
        return 1
    import torch  # noqa: F401  (must precede PySide6, see module docstring)

    from contextfill.app.gui import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
