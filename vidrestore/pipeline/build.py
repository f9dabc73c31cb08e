"""From a small description to a running processor: the one place models become stages.

A `ProcessingSpec` is frozen and picklable (names, paths, numbers and the
filter strings as `--filter` takes them), so any process can rebuild the same
processor from it: the commands, the benchmarks, the live ladder and, later,
workers running shards of one job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from vidrestore.errors import UsageError

if TYPE_CHECKING:  # torch: `--help` builds specs without waiting for it
    from vidrestore.backends import Backend
    from vidrestore.models import LoadedModel
    from vidrestore.pipeline.processor import Processor

DEVICES = ("auto", "cpu", "cuda")
# vidrestore.backends.BACKEND_NAMES and PRECISIONS, spelled out here: importing that module imports
# torch, which `--help` should not wait for (tests check the lists agree).
BACKEND_NAMES = ("auto", "torch", "torch-compile", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16")

Announce = Callable[[str], None]


@dataclass(frozen=True)
class Runtime:
    """Where and how models run: `--device --backend --precision`."""

    device: str = "auto"
    backend: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for value, allowed, what in ((self.device, DEVICES, "device"), (self.backend, BACKEND_NAMES, "backend"),
                                     (self.precision, PRECISIONS, "precision")):
            if value not in allowed:
                raise UsageError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


@dataclass(frozen=True)
class ModelStep:
    """One model of a chain: a registry name doing `task`, at `scale`, with a weights file or the shipped one."""

    name: str
    task: Literal["sr", "deblur"]
    scale: int = 1
    weights: Path | None = None

    def check(self) -> None:
        """The name, task and scale exist (reads the registry only)."""
        from vidrestore.models.registry import check_scale, get_spec

        check_scale(get_spec(self.name, self.task), self.scale)


@dataclass(frozen=True)
class ProcessingSpec:
    """Everything that decides the processor: models in order, then filters, and how they run."""

    models: tuple[ModelStep, ...] = ()
    filters: tuple[str, ...] = ()  # NAME[=VALUE], as --filter takes them
    runtime: Runtime = field(default_factory=Runtime)
    tile: int | None = None  # None: whole frames, tiled automatically when memory runs out
    tile_overlap: int = 16
    batch: int = 4

    def __post_init__(self) -> None:
        if not self.models and not self.filters:
            raise UsageError("nothing to do: give a model and/or a filter")
        if self.batch < 1:
            raise UsageError(f"batch must be at least 1, got {self.batch}")

    def check(self) -> None:
        """Every model exists at its scale and every filter parses: one-line errors before any work."""
        for step in self.models:
            step.check()
        parse_filters(self.filters)

    @property
    def scale(self) -> int:
        """How many times larger the output is."""
        scale = 1
        for step in self.models:
            scale *= step.scale
        return scale


def parse_filters(values: tuple[str, ...]) -> tuple:
    from vidrestore.filters import parse_filter

    return tuple(parse_filter(v) for v in values)


def stage_for(loaded: LoadedModel, backend: Backend, *, tile: int | None = None, overlap: int = 16):
    """The processor stage for `loaded` running on `backend`: its luma or R'G'B' stage
    (by `loaded.color`), tiled on demand (`backends.tiling.TiledBackend`)."""
    from vidrestore.backends.tiling import TiledBackend
    from vidrestore.pipeline.processor import MODEL_STAGES

    tiled = TiledBackend(backend, scale=loaded.scale, tile=tile, overlap=overlap)
    return MODEL_STAGES[loaded.color](tiled, loaded.scale)


def open_model(loaded: LoadedModel, runtime: Runtime, announce: Announce | None = None) -> Backend:
    """`loaded` behind the runtime's backend; with `announce`, says which one `auto` took."""
    from vidrestore.backends import open_backend

    backend = open_backend(runtime.backend, loaded, runtime.device, runtime.precision)  # type: ignore[arg-type]
    if announce is not None and runtime.backend == "auto":
        announce(f"{loaded.name}: {backend.name} backend on {backend.device} ({runtime.precision})")
    return backend


def model_stage(step: ModelStep, spec: ProcessingSpec, announce: Announce | None = None):
    """The stage for one model of `spec`: loaded, behind its backend, tiled as `spec` asks."""
    from vidrestore.models import load

    loaded = load(step.name, scale=step.scale, weights=step.weights, task=step.task)
    return stage_for(loaded, open_model(loaded, spec.runtime, announce), tile=spec.tile, overlap=spec.tile_overlap)


def build_processor(spec: ProcessingSpec, announce: Announce | None = None) -> Processor:
    """The processor `spec` describes: its models in order, then its filters, as one chain."""
    from vidrestore.pipeline.chain import Chain, FilterStage

    stages = [model_stage(step, spec, announce) for step in spec.models]
    if spec.filters:
        stages.append(FilterStage(parse_filters(spec.filters)))
    return Chain(stages)
