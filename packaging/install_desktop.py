#!/usr/bin/env python3
"""Put a built ContextFill bundle in the desktop's menu, with its icon and "Open with" for photos; or take it out.

  python3 packaging/install_desktop.py install [BUNDLE] [--prefix DIR]   # BUNDLE: dist/contextfill by default
  python3 packaging/install_desktop.py uninstall [--prefix DIR]
  ./install-desktop.py install                                           # the copy inside a bundle folder

Writes two plain files under DIR (default $XDG_DATA_HOME, else ~/.local/share), as the freedesktop.org specs
lay them out: applications/contextfill.desktop (from resources/contextfill.desktop, Exec and TryExec pointing
at the bundle's contextfill-gui, MimeType listing the photo formats) and icons/hicolor/scalable/apps/
contextfill.svg. update-desktop-database refreshes the "Open with" cache when it is installed. Uninstall
removes those two files and nothing else (and the cache again, if it is left empty). Nothing needs root, and the
user's default image viewer is left as it is: associations go through MimeType, not `xdg-mime default`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent
APP_ID = "contextfill"
DESKTOP_NAME = f"{APP_ID}.desktop"
ICON_NAME = f"{APP_ID}.svg"
GUI_EXECUTABLE = "contextfill-gui"
# Characters that make the desktop entry spec require a quoted Exec argument.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_bundle() -> Path:
    """The folder this script sits in when it was copied into a bundle, else dist/contextfill of the checkout."""
    return HERE if (HERE / GUI_EXECUTABLE).exists() else CHECKOUT / "dist" / "contextfill"


def targets(prefix: Path) -> tuple[Path, Path]:
    return prefix / "applications" / DESKTOP_NAME, prefix / "icons" / "hicolor" / "scalable" / "apps" / ICON_NAME


def resource(bundle: Path, relative: str) -> Path:
    """A resource as the bundle carries it, or from the checkout when the bundle was built without it."""
    for base in (bundle / "_internal" / "resources", CHECKOUT / "resources"):
        if (base / relative).is_file():
            return base / relative
    raise SystemExit(f"{relative} not found in {bundle} or {CHECKOUT / 'resources'}")


def exec_argument(path: Path) -> str:
    """One Exec argument as the desktop entry spec wants it: quoted when needed, then escaped as a string value."""
    text = str(path).replace("%", "%%")
    if any(c in _RESERVED for c in text):
        text = '"' + "".join("\\" + c if c in '"`$\\' else c for c in text) + '"'
    return text.replace("\\", "\\\\")


def desktop_entry(template: str, executable: Path) -> str:
    """The template with Exec and TryExec pointing at `executable`; every other line as it was."""
    lines = []
    for line in template.splitlines():
        key = line.split("=", 1)[0].strip()
        if key == "Exec":
            line = f"Exec={exec_argument(executable)} %f"
        elif key == "TryExec":
            continue
        lines.append(line)
        if key == "Exec":
            lines.append("TryExec=" + str(executable).replace("\\", "\\\\"))
    return "\n".join(lines) + "\n"


def refresh(applications: Path) -> None:
    """Rebuild the "Open with" cache of this applications folder, where the tool exists; a cache left with no
    entry at all (ours was the only one) is removed, as it says no more than no cache."""
    tool = shutil.which("update-desktop-database")
    if tool:
        subprocess.run([tool, "-q", str(applications)], check=False)
    cache = applications / "mimeinfo.cache"
    if cache.is_file() and cache.read_text(encoding="utf-8", errors="replace").split() == ["[MIME", "Cache]"]:
        cache.unlink()


def install(bundle: Path, prefix: Path) -> list[Path]:
    executable = bundle.resolve() / GUI_EXECUTABLE
    if not executable.is_file():
        raise SystemExit(f"{executable} does not exist: build the bundle first (make package)")
    desktop, icon = targets(prefix)
    entry = desktop_entry(resource(bundle, DESKTOP_NAME).read_text(encoding="utf-8"), executable)
    for path in (desktop, icon):
        path.parent.mkdir(parents=True, exist_ok=True)
    desktop.write_text(entry, encoding="utf-8")
    shutil.copyfile(resource(bundle, f"icons/{ICON_NAME}"), icon)
    refresh(desktop.parent)
    return [desktop, icon]


def uninstall(prefix: Path) -> list[Path]:
    removed = [path for path in targets(prefix) if path.is_file()]
    for path in removed:
        path.unlink()
    if removed:
        refresh(targets(prefix)[0].parent)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("install", help="add the menu entry, icon and photo associations")
    p.add_argument("bundle", nargs="?", type=Path, default=None, help="the built bundle folder (dist/contextfill)")
    p.add_argument("--prefix", type=Path, default=None, help="data folder (default: $XDG_DATA_HOME or ~/.local/share)")
    p = sub.add_parser("uninstall", help="remove what install added")
    p.add_argument("--prefix", type=Path, default=None, help="data folder (default: $XDG_DATA_HOME or ~/.local/share)")
    args = parser.parse_args(argv)
    prefix = args.prefix or data_home()
    if args.command == "install":
        for path in install(args.bundle or default_bundle(), prefix):
            print(f"installed {path}")
    else:
        removed = uninstall(prefix)
        for path in removed:
            print(f"removed {path}")
        if not removed:
            print(f"nothing to remove under {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
