"""Process entry point: engine subcommands run headless; anything else opens the GUI.

torch is imported before PySide6 on purpose: with torch>=2.9 on Windows, loading Qt's DLLs first makes
torch's DLL initialisation fail. Before Qt starts, a missing libxcb-cursor0 is named in one line, since Qt
6.5+ aborts without it on X11 with a message that does not say which package to install.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path

XCB_CURSOR_HINT = (
    "ContextFill needs the system library libxcb-cursor0 to open its window: install it with "
    "`sudo apt install libxcb-cursor0` (Fedora: `sudo dnf install xcb-util-cursor`)."
)


def missing_library_hint() -> str | None:
    """The install line when Qt will use X11 on Linux and libxcb-cursor is neither installed nor bundled."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "xcb") not in ("", "xcb"):
        return None
    bundle = getattr(sys, "_MEIPASS", None)  # the PyInstaller bundle carries its own copy
    if bundle and any(Path(bundle).glob("libxcb-cursor.so*")):
        return None
    return XCB_CURSOR_HINT if ctypes.util.find_library("xcb-cursor") is None else None


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
        print(hint, file=sys.stderr, flush=True)  # Qt's own abort follows if the library is really absent
    import torch  # noqa: F401  (must precede PySide6, see module docstring)

    from contextfill.app.gui import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
