"""A model as every consumer needs it: module, spec, scale and the contract that follows.

`load` is the one way from a registry name to a runnable model. What a
backend, an exporter, an evaluator or a processor stage needs to know about
the model (what it takes and gives, at what scale, what its frame sides must
be multiples of) is read off the `LoadedModel`, never guessed from the
module's layers or found by running it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidrestore.errors import WeightsError
from vidrestore.models.registry import ColorSpace, ModelSpec, Task, check_scale, get_spec

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class LoadedModel:
    """A built model in eval mode, and what it takes and gives.

    Input and output are float NCHW: `in_channels` planes (Y' for colour "y",
    R'G'B' for "rgb") in [0, 1], and `scale` times larger with as many
    channels. No architecture here bounds its own output: every consumer
    (the stages, eval, export's check) clamps to [0, 1] itself."""

    module: nn.Module
    spec: ModelSpec
    scale: int
    weights: Path | None = None  # the file its weights came from; None: built as initialised

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def task(self) -> Task:
        return self.spec.task

    @property
    def color(self) -> ColorSpace:
        return self.spec.color

    @property
    def in_channels(self) -> int:
        return 1 if self.spec.color == "y" else 3

    @property
    def out_channels(self) -> int:
        return self.in_channels

    @property
    def multiple(self) -> int:
        """What frame sides must be multiples of; the multi-scale deblurring models
        pad (mirrored) to theirs inside the module, so any frame still goes in."""
        return int(getattr(self.module, "multiple", 1))



def load(name: str, *, scale: int, weights: Path | None = None, task: Task | None = None,
         untrained_ok: bool = False) -> LoadedModel:
    """The registry model `name` (with `task`: it must do that task) at `scale`, with
    the given weights file or the shipped one.

    A model with parameters needs trained weights: one that ships none, or whose
    shipped file is not installed, is refused (`WeightsError`) rather than run
    as initialised, unless `untrained_ok` (timings and exports of an architecture)."""
    from vidrestore.models.weights import build_model

    spec = get_spec(name, task)
    check_scale(spec, scale)  # before the shipped file's name is made from it
    path = weights if weights is not None else spec.weights_path(scale)
    if weights is None and path is not None and not path.is_file():
        if untrained_ok:
            return LoadedModel(build_model(spec, scale), spec, scale)
        raise WeightsError(f"the shipped {spec.name} x{scale} weights are not installed ({path}); give a weights file with --weights")
    module = build_model(spec, scale, path)
    if path is None and not untrained_ok and any(True for _ in module.parameters()):
        raise WeightsError(f"model {spec.name!r} ships no weights; give a weights file with --weights")
    return LoadedModel(module, spec, scale, path)


def wrap(module: nn.Module, *, scale: int, color: ColorSpace, task: Task = "sr", name: str | None = None) -> LoadedModel:
    """Any module that keeps the contract (float NCHW in [0, 1], `scale` times larger)
    as a `LoadedModel`: for architectures outside the registry (tests, experiments)."""
    spec = ModelSpec(name=name or type(module).__name__.lower(), task=task, scales=(scale,), color=color,
                     build=lambda **_: module, description="a module handed in")
    return LoadedModel(module.eval(), spec, scale)
