"""Checkpoints are dicts of tensors and plain values with a format version, read only with
`torch.load(weights_only=True)`: a pickled checkpoint from a stranger would otherwise be code execution."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .devices import describe, resolve_device
from .errors import InpaintError
from .imageio import atomic_write
from .networks import GeneratorConfig, build_generator, generator_input

FORMAT_VERSION = 1
RESOURCES = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent)) / "resources"
DEFAULT_MODEL_PATH = RESOURCES / "models" / "default.pt"


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write atomically, so a kill mid-write leaves the previous checkpoint intact."""
    state = {"format_version": FORMAT_VERSION, **state}
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise InpaintError(f"model file not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for truncated, foreign or pickled-code files
        raise InpaintError(f"{path.name} is not a ContextFill model or checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "generator" not in state:
        raise InpaintError(f"{path.name} is not a ContextFill model or checkpoint")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise InpaintError(f"{path.name} has format version {version}; this ContextFill reads {FORMAT_VERSION}")
    return state


def export_inference(generator: torch.nn.Module, config: GeneratorConfig, record: dict, path: str | Path) -> Path:
    """The small file the app ships and loads: generator weights in half precision, config and training record."""
    weights = {k: (v.half() if v.is_floating_point() else v).cpu() for k, v in generator.state_dict().items()}
    return save_checkpoint({"kind": "inference", "generator": weights, "config": config.to_dict(), "record": record}, path)


def export_from_checkpoint(source: str | Path, target: str | Path) -> Path:
    """Turn a training checkpoint (or any model file) into the small inference model, e.g. to ship the step
    that validated best rather than the last one. A run trained with --ema exports its moving average, as its
    own model.pt does."""
    state = load_checkpoint(source)
    config = GeneratorConfig.from_dict(state.get("gen_config") or state["config"])
    net = build_generator(config)
    weights = state.get("ema") or state["generator"]
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    record = dict(state.get("record", {}))
    if state.get("kind") == "training":
        train_cfg = state["config"]
        record.update(steps=state["step"], history=state.get("history", []), batch_size=train_cfg.get("batch_size"),
                      data=train_cfg.get("data"), mask_strategy=train_cfg.get("mask_strategy"),
                      adv_weight=train_cfg.get("adv_weight"), lr=train_cfg.get("lr"))
    return export_inference(net, config, record, target)


@dataclass
class InpaintModel:
    """A loaded generator ready for inference, with where it came from and what it runs on."""

    net: torch.nn.Module
    config: GeneratorConfig
    device: torch.device
    path: Path
    record: dict = field(default_factory=dict)

    @property
    def device_label(self) -> str:
        return describe(self.device)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) in [0,1] with (B,1,S,S) masks -> (B,3,S,S) predictions in [0,1]."""
        x = generator_input(images.to(self.device), masks.to(self.device), self.config.fill)
        return ((self.net(x) + 1) / 2).clamp(0, 1)


def model_key(path: str | Path | None) -> tuple[str, int, int, int]:
    """(path, size, modification time, inode) of a model file: a cache keyed on it loads again a model retrained
    into the same file (written by atomic_write, which also makes it a new inode). A missing file keys as -1s,
    so loading it raises its usual error."""
    path = Path(path) if path else DEFAULT_MODEL_PATH
    try:
        st = path.stat()
    except OSError:
        return str(path), -1, -1, -1
    return str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino


def load_model(path: str | Path | None = None, device: str | torch.device = "auto") -> InpaintModel:
    path = Path(path) if path else DEFAULT_MODEL_PATH
    state = load_checkpoint(path)
    config = GeneratorConfig.from_dict(state.get("config", {}))
    try:
        net = build_generator(config)
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state["generator"].items()})
    except (RuntimeError, ValueError, KeyError) as exc:
        raise InpaintError(f"{path.name} does not match its architecture: {str(exc).splitlines()[0]}") from None
    dev = resolve_device(device)
    return InpaintModel(net.to(dev).eval(), config, dev, path, dict(state.get("record", {})))
