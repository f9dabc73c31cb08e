"""The one list of models vidrestore knows.

Each entry is a frozen `ModelSpec`; `MODELS` maps names to specs. To add a
model, write its module and add one spec here.
"""

from __future__ import annotations

import dataclasses
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


def _edsr(**kwargs: Any) -> nn.Module:
    from vidrestore.models.edsr import EDSR

    return EDSR(**kwargs)


def _srresnet(**kwargs: Any) -> nn.Module:
    from vidrestore.models.srresnet import SRResNet

    return SRResNet(**kwargs)


def _deepdeblur(**kwargs: Any) -> nn.Module:
    from vidrestore.models.deepdeblur import DeepDeblur

    return DeepDeblur(**kwargs)


def _srn(**kwargs: Any) -> nn.Module:
    from vidrestore.models.srn import SRN

    return SRN(**kwargs)


def _interpolate(kernel: str) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:
        from vidrestore.models.interpolate import Interpolate

        return Interpolate(kernel=kernel, **kwargs)

    return build


SRRESNET = ModelSpec(
    name="srresnet",
    task="sr",
    scales=(4,),
    color="rgb",
    build=_srresnet,
    options={"blocks": 16, "features": 64},
    weights="srresnet_x{scale}.safetensors",
    description="SRResNet (Ledig et al. 2017): 16 BN residual blocks, PReLU, L1-trained",
)

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
            name="edsr",
            task="sr",
            scales=(2, 3, 4),
            color="rgb",
            build=_edsr,
            options={"blocks": 16, "features": 64, "res_scale": 1.0},
            weights="edsr_x{scale}.safetensors",
            description="EDSR baseline (Lim et al. 2017): 16 residual blocks, 64 features, RGB",
        ),
        ModelSpec(
            name="edsr-large",
            task="sr",
            scales=(2, 3, 4),
            color="rgb",
            build=_edsr,
            options={"blocks": 32, "features": 256, "res_scale": 0.1},
            description="EDSR large (Lim et al. 2017): 32 blocks, 256 features; bring or train weights",
        ),
        SRRESNET,
        dataclasses.replace(
            SRRESNET,
            name="srgan",
            weights="srgan_x{scale}.safetensors",
            description="SRGAN: the SRResNet generator fine-tuned adversarially; sharper, lower PSNR",
        ),
        ModelSpec(
            name="deepdeblur",
            task="deblur",
            scales=(1,),
            color="rgb",
            build=_deepdeblur,
            options={"levels": 3, "blocks": 8, "features": 64, "kernel": 3, "residual": True},
            weights="deepdeblur.safetensors",
            description="DeepDeblur (Nah et al. 2017): 3-level multi-scale residual CNN, coarse to fine",
        ),
        ModelSpec(
            name="srn",
            task="deblur",
            scales=(1,),
            color="rgb",
            build=_srn,
            options={"levels": 3, "blocks": 3, "features": 24, "kernel": 3, "residual": True},
            weights="srn.safetensors",
            description="SRN-DeblurNet (Tao et al. 2018): scale-recurrent encoder-decoder with a ConvLSTM",
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
DEFAULT_DEBLUR_MODEL = "srn"


def builder_parameters(spec: ModelSpec) -> set[str]:
    """The keyword options the architecture behind ``spec`` accepts (besides scale)."""
    import inspect

    model = spec.build(scale=spec.scales[0], **spec.options)
    names = set(inspect.signature(type(model).__init__).parameters) - {"self", "scale"}
    return {n for n in names if not n.startswith("_")}


TASK_NAMES: dict[str, str] = {"sr": "super-resolution", "deblur": "deblurring"}


def get_spec(name: str, task: Task | None = None) -> ModelSpec:
    """The spec called `name`; with `task`, it must be a model for that task."""
    fitting = sorted(n for n, s in MODELS.items() if task is None or s.task == task)
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; available: {', '.join(fitting)}")
    spec = MODELS[name]
    if task is not None and spec.task != task:
        raise UsageError(f"{name} is a {TASK_NAMES[spec.task]} model, not a {TASK_NAMES[task]} one; "
                         f"{TASK_NAMES[task]} models: {', '.join(fitting)}")
    return spec


def check_scale(spec: ModelSpec, scale: int) -> None:
    if scale not in spec.scales:
        supported = ", ".join(f"x{s}" for s in spec.scales)
        raise UsageError(f"model {spec.name!r} does not support x{scale}; it supports {supported}")
