"""ContextFill engine: networks, training, inference and patch fill. Never imports Qt or `app`."""

__version__ = "0.1.0"
