"""Where bundled files are, both from a source checkout and inside a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QIcon

from contextfill.app import APP_NAME


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parent.parent
    return root / "resources"


def sample_image() -> Path:
    return resources_dir() / "samples" / "coffee.png"


def is_bundled(path: Path) -> bool:
    """True for the app's own files (the sample photo): the user's work is never saved among them."""
    return path.resolve().is_relative_to(resources_dir().resolve())


def pictures_dir() -> Path:
    """The user's Pictures folder, or home where there is none."""
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(location) if location and Path(location).is_dir() else Path.home()


def icon(name: str) -> QIcon:
    return QIcon(str(resources_dir() / "icons" / f"{name}.svg"))


def default_model_path() -> Path:
    try:
        from contextfill.model.checkpoint import DEFAULT_MODEL_PATH
    except ImportError:
        return resources_dir() / "models" / "default.pt"
    return Path(DEFAULT_MODEL_PATH)


def log_dir() -> Path:
    """~/.local/state/ContextFill/logs on Linux (%LOCALAPPDATA% on Windows), created on demand: the generic state
    folder and the app's name once, as the wizard's runs folder does (the app's own state location names the
    organisation and the app, both ContextFill: ContextFill/ContextFill)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericStateLocation) or QStandardPaths.writableLocation(
        QStandardPaths.StandardLocation.GenericDataLocation
    )
    path = Path(base) / APP_NAME / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path
