"""Process entry point: engine subcommands run headless; anything else opens the GUI.

torch is imported before PySide6 on purpose: with torch>=2.9 on Windows, loading Qt's DLLs first makes
torch's DLL initialisation fail.
"""

from __future__ import annotations

import os
import sys

def is_engine_command(arg: str) -> bool:
    """True for the engine's subcommands (`train`, `batch`, ...), never for an image path."""
    if arg.startswith("-") or os.path.exists(arg):
        return False
    from model.cli import SUBCOMMANDS

    return arg in SUBCOMMANDS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and is_engine_command(argv[1]):
        from model.cli import main as cli_main

        return int(cli_main(argv[1:]) or 0)

    import torch  # noqa: F401  (must precede PySide6, see module docstring)

    from app.gui import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
