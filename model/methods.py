"""The one list of fill methods: what each is called, what it needs and how it runs. The GUI (its Fill panel, batch
dialog and settings), batch, eval and the CLI all read it, and decide what a method needs (a model, patch options)
from its entry here, never from its name: a method is added or renamed in this one place."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InpaintError


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    needs_model: bool  # runs the context encoder (a model file must load)
    uses_patches: bool  # copies patches: takes a seed, a sampling area and patch options
    hint: str  # what it does, in a line (the Fill panel's tooltip)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("context-encoder", "Context encoder", needs_model=True, uses_patches=False,
               hint="Learned fill: plausible structure, softer detail"),
        Method("patch", "Patch fill", needs_model=False, uses_patches=True,
               hint="Copies texture from around the hole (like Content-Aware Fill); the default, the one viewers kept"),
        Method("hybrid", "Hybrid", needs_model=True, uses_patches=True,
               hint="Patches, with the context encoder choosing which surrounding texture goes where"),
    )
}
NAMES = tuple(METHODS)
# The default: the fill that viewers keep. In blind A/B tests against PyPatchMatch on photos-val the patch fill was
# kept more often than the hybrid in every run (the network's guess showing through reads as a blotch) and the
# context encoder's soft fill almost never (README, "Fill quality against the peers").
BEST = "patch"


def method(name: str) -> Method:
    if name not in METHODS:
        raise InpaintError(f"unknown method {name!r}; choose one of {', '.join(NAMES)}")
    return METHODS[name]
