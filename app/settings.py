"""The one place user preferences live: QSettings with typed defaults and a format version.

Every other module reads and writes preferences through `Settings`, so a default or a key name is
written once. Tests point QSettings at a temporary folder (see tests/app_fixtures.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSettings

from contextfill.app import APP_NAME, ORG_NAME
from contextfill.model.methods import BEST, NAMES

SETTINGS_VERSION = 1
MAX_RECENT = 10
DEVICES = ("auto", "cpu", "cuda", "mps")
SAMPLINGS = ("ring", "image")
QUALITIES = ("fast", "best")


@dataclass(frozen=True)
class Key:
    name: str
    default: Any


MODEL_PATH = Key("fill/model_path", "")  # "" = the bundled default model
PREVIOUS_MODEL_PATH = Key("fill/previous_model_path", "")  # the one used before the wizard's "Use this model"
DEVICE = Key("fill/device", "auto")
METHODS_ON = Key("fill/methods", list(NAMES))  # the methods (model/methods.py) a fill runs
PATCH_SIZE = Key("fill/patch_size", 7)
SAMPLING = Key("fill/sampling", "ring")
RING_WIDTH = Key("fill/ring_width", 96)
QUALITY = Key("fill/quality", "fast")
SEED = Key("fill/seed", 0)
BLEND = Key("fill/blend", True)  # Poisson blend of every fill into the pixels around the hole
VARIATIONS = Key("fill/variations", 3)  # new seeds per press of Variations
BRUSH_SIZE = Key("mask/brush_size", 40)
MASK_COLOR = Key("mask/color", "#ff3860")
MASK_OPACITY = Key("mask/opacity", 55)  # percent
GROW_PX = Key("mask/grow_px", 8)
JPEG_QUALITY = Key("save/jpeg_quality", 92)
BATCH_MASK = Key("batch/mask_kind", "folder")  # a mask per photo: what a photographer's batch needs
BATCH_METHOD = Key("batch/method", BEST)  # the one blind judges kept most
RECENT = Key("files/recent", [])
LAST_DIR = Key("files/last_dir", "")
MAX_MEGAPIXELS = Key("files/max_megapixels", 179)  # larger photos are refused (decompression bombs); Pillow's line
GEOMETRY = Key("window/geometry", b"")
STATE = Key("window/state", b"")


class Settings:
    """Typed access to QSettings; values come back with the type of the key's default."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self._q = qsettings or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORG_NAME, APP_NAME)
        stored = self._q.value("version", None)
        if stored is None or int(stored) != SETTINGS_VERSION:
            # Unknown or old layout: start from defaults rather than misread old keys.
            self._q.clear()
            self._q.setValue("version", SETTINGS_VERSION)

    def get(self, key: Key) -> Any:
        value = self._q.value(key.name, key.default)
        default = key.default
        try:
            if isinstance(default, bool):
                return value in (True, "true", "1", 1)
            if isinstance(default, int):
                return int(value)
            if isinstance(default, list):
                if value in (None, ""):
                    return []
                return [str(v) for v in (value if isinstance(value, list) else [value])]
            if isinstance(default, bytes):
                return bytes(value) if value else b""
            return str(value)
        except (TypeError, ValueError):
            return default

    def set(self, key: Key, value: Any) -> None:
        self._q.setValue(key.name, value)

    def sync(self) -> None:
        self._q.sync()

    def add_recent(self, path: str) -> list[str]:
        recent = [p for p in self.get(RECENT) if p != path]
        recent.insert(0, path)
        del recent[MAX_RECENT:]
        self.set(RECENT, recent)
        return recent

    def file_name(self) -> str:
        return self._q.fileName()
