"""The one list of models vidrestore knows.

Each entry is a frozen `ModelSpec`; `MODELS` maps names to specs. To add a
model, write its module and add one spec here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from vidrestore.errors import UsageError

if TYPE_CHECKING:  # torch is imported only when a model is built: `--help` must not wait for it
    from torch import nn

WEIGHTS_DIR = Path(__file__).parent / "weights"

Task = Literal["sr", "deblur"]
ColorSpace = Literal["y", "rgb"]


@dataclass(frozen=True)
class Option:
    """What a weights file's metadata may set one constructor option to.

    Weights files come from anywhere, and their options decide how big a model
    gets built: the bounds keep a 150-byte header from asking for gigabytes.
    JSON gives lists where the constructors take tuples, hence `count`.
    """

    kind: Literal["int", "float", "bool", "choice"]
    low: float = 0
    high: float = 0
    choices: tuple[object, ...] = ()
    count: int = 0  # above 0: a list of exactly this many values
    odd: bool = False

    def accepts(self, value: object) -> bool:
        if self.count:
            return isinstance(value, (list, tuple)) and len(value) == self.count and all(map(self._accepts_one, value))
        return self._accepts_one(value)

    def _accepts_one(self, value: object) -> bool:
        # type() rather than isinstance: JSON's true is no integer here, and 1 is no true.
        if self.kind == "bool":
            return type(value) is bool
        if self.kind == "choice":
            return any(type(value) is type(c) and value == c for c in self.choices)
        if self.kind == "int":
            return type(value) is int and self.low <= value <= self.high and (not self.odd or value % 2 == 1)
        return type(value) in (int, float) and math.isfinite(value) and self.low <= value <= self.high  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            listed = ", ".join(repr(c) for c in self.choices)
            return f"only {listed}" if len(self.choices) == 1 else f"one of {listed}"
        noun = "integer" if self.kind == "int" else "number"
        odd = "odd " if self.odd else ""
        if self.count:
            return f"{self.count} {odd}{noun}s from {self.low:g} to {self.high:g}"
        return f"an {odd}{noun} from {self.low:g} to {self.high:g}"


def _integer(low: int, high: int, *, count: int = 0, odd: bool = False) -> Option:
    return Option("int", low, high, count=count, odd=odd)


def _number(low: float, high: float, *, count: int = 0) -> Option:
    return Option("float", low, high, count=count)


_FLAG = Option("bool")

# Generous bounds: several times the papers' largest settings (EDSR-large's 32 blocks of 256 features).
_EDSR_OPTIONS = {"blocks": _integer(1, 256), "features": _integer(1, 1024), "res_scale": _number(0, 10),
                 "rgb_range": _number(1, 65535), "mean": _number(0, 1, count=3)}
_SRRESNET_OPTIONS = {"blocks": _integer(1, 256), "features": _integer(1, 1024), "residual": _FLAG}
_DEBLUR_OPTIONS = {"levels": _integer(1, 6), "blocks": _integer(1, 256), "features": _integer(1, 1024),
                   "kernel": _integer(1, 15, odd=True), "residual": _FLAG}
# One channel: the pipeline feeds the Y-channel models luma only.
_ESPCN_OPTIONS = {"channels": Option("choice", choices=(1,)), "features": _integer(1, 1024, count=2),
                  "activation": Option("choice", choices=("tanh", "relu")), "residual": _FLAG}
_ESPCN_LITE_OPTIONS = {"channels": Option("choice", choices=(1,)), "features": _integer(1, 1024),
                       "kernel": _integer(1, 15, odd=True)}


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
    # The options a weights file's metadata may set, with their bounds; empty: none.
    accepts: dict[str, Option] = field(default_factory=dict)
    # The cheaper model of the same task the live ladder steps down to (every ladder ends on bicubic).
    lighter: str | None = None

    def __post_init__(self) -> None:
        if not self.scales:
            raise ValueError(f"{self.name}: scales must not be empty")
        wrong = sorted(k for k, v in self.options.items() if k not in self.accepts or not self.accepts[k].accepts(v))
        if wrong:
            raise ValueError(f"{self.name}: options {wrong} are outside what its weights files may set")

    def weights_path(self, scale: int) -> Path | None:
        if self.weights is None:
            return None
        return WEIGHTS_DIR / self.weights.format(scale=scale)


def _espcn(**kwargs: Any) -> nn.Module:
    from vidrestore.models.espcn import ESPCN

    return ESPCN(**kwargs)


def _espcn_lite(**kwargs: Any) -> nn.Module:
    from vidrestore.models.espcn import ESPCNLite

    return ESPCNLite(**kwargs)


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
    accepts=_SRRESNET_OPTIONS,
    lighter="espcn",
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
            accepts=_ESPCN_OPTIONS,
            lighter="espcn-lite",
            description="ESPCN (Shi et al. 2016) on luma, bicubic skip; chroma bicubic",
        ),
        ModelSpec(
            name="espcn-lite",
            task="sr",
            scales=(2, 3, 4),
            color="y",
            build=_espcn_lite,
            options={"features": 32, "kernel": 5},
            weights="espcn_lite_x{scale}.safetensors",
            accepts=_ESPCN_LITE_OPTIONS,
            lighter="bicubic",
            description="ESPCN cut to two layers (5x5/32, 1x1): the live filter's real-time rung",
        ),
        ModelSpec(
            name="edsr",
            task="sr",
            scales=(2, 3, 4),
            color="rgb",
            build=_edsr,
            options={"blocks": 16, "features": 64, "res_scale": 1.0},
            weights="edsr_x{scale}.safetensors",
            accepts=_EDSR_OPTIONS,
            lighter="espcn",
            description="EDSR baseline (Lim et al. 2017): 16 residual blocks, 64 features, RGB",
        ),
        ModelSpec(
            name="edsr-large",
            task="sr",
            scales=(2, 3, 4),
            color="rgb",
            build=_edsr,
            options={"blocks": 32, "features": 256, "res_scale": 0.1},
            accepts=_EDSR_OPTIONS,
            lighter="edsr",
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
            accepts=_DEBLUR_OPTIONS,
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
            accepts=_DEBLUR_OPTIONS,
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
            lighter="bicubic",
            description="Lanczos-3 resampling",
        ),
    )
}

DEFAULT_SR_MODEL = "espcn"


def _check_lighter() -> None:
    for spec in MODELS.values():
        lighter = MODELS.get(spec.lighter) if spec.lighter is not None else None
        if spec.lighter is not None and (lighter is None or lighter.task != spec.task):
            raise ValueError(f"{spec.name}: lighter model {spec.lighter!r} is not a {spec.task} model in the registry")


_check_lighter()
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
