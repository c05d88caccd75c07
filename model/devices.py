"""Device choice: `auto` means CUDA, then MPS, then CPU. Nothing else in the engine names a device."""

from __future__ import annotations

import os

import torch

from .errors import InpaintError

CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn a user's device choice into a torch.device, failing clearly if it is not present."""
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return resolve_device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InpaintError("CUDA was requested but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InpaintError("MPS was requested but is not available on this machine")
    if name not in CHOICES and not name.startswith("cuda:"):
        raise InpaintError(f"unknown device {name!r}; choose one of {', '.join(CHOICES)}")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        # Under torchrun each process of a machine takes its own GPU; a bare "cuda" is GPU 0 for all of them.
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)


def describe(device: torch.device) -> str:
    """Short label for the UI and logs, e.g. 'CUDA (NVIDIA GeForce RTX 3060)' or 'CPU'."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return device.type.upper()
