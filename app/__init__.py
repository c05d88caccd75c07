"""ContextFill desktop app (PySide6). The engine lives in `model/`; this package is only the GUI around it."""

__version__ = "0.1.0"

APP_NAME = "ContextFill"
ORG_NAME = "ContextFill"
