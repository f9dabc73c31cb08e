"""Training recipes: one small TOML file per shipped model, no code in it.

A recipe names the model and scale, the data handling, the losses, the
optimiser and schedule, and how long to train. `vidrestore train RECIPE`
accepts a file path or the name of a shipped recipe (``training/recipes/``,
e.g. ``edsr_x2``); command-line options override the duration, data and
device. Every key is checked: a typo is an error, not a silently ignored
setting.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vidrestore.errors import UsageError
from vidrestore.models.registry import MODELS

RECIPES_DIR = Path(__file__).parent / "recipes"

LOSS_TERMS = ("l1", "mse", "perceptual", "adversarial")
AMP_MODES = ("auto", "off", "bf16", "fp16")
SCHEDULES = ("cosine", "step", "constant")
SELECT = ("best", "last")


@dataclass(frozen=True)
class DataConfig:
    patch: int = 48  # LR pixels per side; the HR patch is patch * scale
    batch: int = 16
    workers: int | None = None  # None: 0 on CPU (the main process keeps up), up to 8 on CUDA
    degradation: dict[str, Any] | None = None  # SR: training.degrade.Degradation fields; None = clean bicubic
    blur: dict[str, Any] | None = None  # deblurring: training.blur.SyntheticBlur fields; None = its defaults
    val: str = "auto"  # "auto", "builtin", "none" or a file listing held-out names
    val_crop: int | None = 384  # centre crop of each held-out HR photo while training (None: whole)
    sampling: str = "image"  # "image": each photo equally often; "area": each pixel equally often


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 2e-4
    lr_final: float = 1e-6
    schedule: str = "cosine"
    milestones: tuple[float, ...] = (0.5,)  # fractions of the run, for "step"
    gamma: float = 0.5
    warmup: int = 0  # steps of linear warm-up
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    grad_clip: float | None = None


@dataclass(frozen=True)
class GanConfig:
    d_lr: float = 1e-4
    d_features: int = 64
    d_betas: tuple[float, float] = (0.9, 0.99)


@dataclass(frozen=True)
class Recipe:
    model: str
    scale: int
    options: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  # weights to start from: a path or "shipped:NAME:xS"; keys whose shapes match
    steps: int | None = None
    minutes: float | None = None
    loss: dict[str, float] = field(default_factory=lambda: {"l1": 1.0})
    loss_border: int = 0  # LR pixels per patch side left out of the loss
    perceptual_layer: str = "relu5_4"
    ema: float = 0.999  # 0 disables the exponential moving average of the weights
    amp: str = "auto"
    val_every: int = 500  # steps
    checkpoint_every: int = 500  # steps
    select: str = "best"  # export the best held-out checkpoint, or the last one (GAN training)
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    gan: GanConfig | None = None
    source: str = "<dict>"

    def __post_init__(self) -> None:
        where = self.source
        if self.model not in MODELS:
            raise UsageError(f"{where}: unknown model {self.model!r}; available: {', '.join(sorted(MODELS))}")
        spec = MODELS[self.model]
        if spec.weights is None and spec.name in ("bicubic", "lanczos"):
            raise UsageError(f"{where}: {self.model} has nothing to train")
        if self.scale not in spec.scales:
            raise UsageError(f"{where}: {self.model} supports scales {spec.scales}, not {self.scale}")
        if self.steps is None and self.minutes is None:
            raise UsageError(f"{where}: give steps or minutes (or both: whichever ends first)")
        from vidrestore.models.registry import builder_parameters

        accepted = builder_parameters(spec)
        wrong = sorted(set(self.options) - accepted)
        if wrong:
            raise UsageError(f"{where}: {self.model} does not take the option(s) {wrong}; it takes {sorted(accepted)}")
        unknown = sorted(set(self.loss) - set(LOSS_TERMS))
        if unknown or not self.loss:
            raise UsageError(f"{where}: loss terms must be among {', '.join(LOSS_TERMS)}; got {sorted(self.loss)}")
        if "adversarial" in self.loss and self.gan is None:
            raise UsageError(f"{where}: an adversarial loss needs a [gan] table")
        if self.gan is not None and "adversarial" not in self.loss:
            raise UsageError(f"{where}: a [gan] table needs an adversarial loss weight")
        if self.amp not in AMP_MODES:
            raise UsageError(f"{where}: amp must be one of {', '.join(AMP_MODES)}")
        if self.optim.schedule not in SCHEDULES:
            raise UsageError(f"{where}: schedule must be one of {', '.join(SCHEDULES)}")
        if self.select not in SELECT:
            raise UsageError(f"{where}: select must be 'best' or 'last'")
        if not 0 <= self.ema < 1:
            raise UsageError(f"{where}: ema must be in [0, 1)")
        if self.data.patch <= 2 * self.loss_border:
            raise UsageError(f"{where}: the patch must exceed twice loss_border")
        if spec.task == "deblur" and self.data.degradation is not None:
            raise UsageError(f"{where}: [data] degradation makes LR images for super-resolution; "
                             "deblurring recipes describe their blur with [data] blur")
        if spec.task != "deblur" and self.data.blur is not None:
            raise UsageError(f"{where}: [data] blur is for deblurring models; {self.model} is a super-resolution model")
        if self.data.sampling not in ("image", "area"):
            raise UsageError(f"{where}: sampling must be 'image' or 'area'")

    @property
    def color(self) -> str:
        return MODELS[self.model].color

    @property
    def task(self) -> str:
        return MODELS[self.model].task

    def model_options(self) -> dict[str, Any]:
        return {**MODELS[self.model].options, **self.options}

    def with_overrides(self, **changes: Any) -> Recipe:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in changes.items():
            if value is not None:
                values[key] = value
        return Recipe(**values)

    def to_dict(self) -> dict[str, Any]:
        def plain(obj: Any) -> Any:
            if hasattr(obj, "__dataclass_fields__"):
                return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}
            if isinstance(obj, (list, tuple)):
                return [plain(v) for v in obj]
            if isinstance(obj, dict):
                return {k: plain(v) for k, v in obj.items()}
            return obj

        return plain(self)


def _section(cls: type, table: Any, where: str) -> Any:
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from None


def recipe_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Recipe:
    raw = dict(raw)
    data = _section(DataConfig, raw.pop("data", {}), f"{source} [data]")
    optim = _section(OptimConfig, raw.pop("optim", {}), f"{source} [optim]")
    gan = _section(GanConfig, raw.pop("gan"), f"{source} [gan]") if "gan" in raw else None
    known = {f.name for f in fields(Recipe)} - {"data", "optim", "gan", "source"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UsageError(f"{source}: unknown keys {unknown}; known: {sorted(known)}")
    for key in ("model", "scale"):
        if key not in raw:
            raise UsageError(f"{source}: missing {key!r}")
    try:
        return Recipe(**raw, data=data, optim=optim, gan=gan, source=source)
    except TypeError as exc:
        raise UsageError(f"{source}: {exc}") from None


def shipped_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def load_recipe(name_or_path: str) -> Recipe:
    path = Path(name_or_path)
    if not path.is_file():
        shipped = RECIPES_DIR / f"{name_or_path}.toml"
        if not shipped.is_file():
            raise UsageError(f"no recipe file {name_or_path!r} and no shipped recipe of that name; "
                             f"shipped: {', '.join(shipped_recipes())}")
        path = shipped
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    # A shipped recipe is named as it sits in the repository, not by this machine's path to it.
    source = f"training/recipes/{path.name}" if path.parent == RECIPES_DIR else str(path)
    return recipe_from_dict(raw, source=source)
