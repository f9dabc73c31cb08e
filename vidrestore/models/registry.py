"""The one list of models vidrestore knows.

Each entry is a frozen `ModelSpec`; `MODELS` maps names to specs. To add a
model, write its module and add one spec here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from torch import nn

from vidrestore.errors import UsageError

WEIGHTS_DIR = Path(__file__).parent / "weights"

Task = Literal["sr", "deblur"]
ColorSpace = Literal["y", "rgb"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: Task
    scales: tuple[int, ...]
    color: ColorSpace
    build: Callable[..., nn.Module]
    description: str
    # Keyword arguments for `build` besides `scale`, e.g. the shipped recipe.
    options: dict[str, Any] = field(default_factory=dict)
    # Name pattern of shipped weights, formatted with `scale`; None = no weights.
    weights: str | None = None

    def __post_init__(self) -> None:
        if not self.scales:
            raise ValueError(f"{self.name}: scales must not be empty")

    def weights_path(self, scale: int) -> Path | None:
        if self.weights is None:
            return None
        return WEIGHTS_DIR / self.weights.format(scale=scale)


def _espcn(**kwargs: Any) -> nn.Module:
    from vidrestore.models.espcn import ESPCN

    return ESPCN(**kwargs)


def _interpolate(kernel: str) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:
        from vidrestore.models.interpolate import Interpolate

        return Interpolate(kernel=kernel, **kwargs)

    return build


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="espcn",
            task="sr",
            scales=(2, 3, 4),
            color="y",
            build=_espcn,
            options={"activation": "relu", "residual": True},
            weights="espcn_x{scale}.safetensors",
            description="ESPCN (Shi et al. 2016) on luma, bicubic skip; chroma bicubic",
        ),
        ModelSpec(
            name="bicubic",
            task="sr",
            scales=(2, 3, 4),
            color="y",
            build=_interpolate("bicubic"),
            description="MATLAB-style bicubic (Keys, a = -0.5); the baseline",
        ),
        ModelSpec(
            name="lanczos",
            task="sr",
            scales=(2, 3, 4),
            color="y",
            build=_interpolate("lanczos"),
            description="Lanczos-3 resampling",
        ),
    )
}

DEFAULT_SR_MODEL = "espcn"


def get_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") from None


def check_scale(spec: ModelSpec, scale: int) -> None:
    if scale not in spec.scales:
        supported = ", ".join(f"x{s}" for s in spec.scales)
        raise UsageError(f"model {spec.name!r} does not support x{scale}; it supports {supported}")
