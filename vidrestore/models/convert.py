"""Foreign EDSR checkpoints as vidrestore weights: reading, renaming, checking.

Two layouts are known:

- the reference implementation (EDSR-PyTorch, ``model/edsr.py``): ``head.0``,
  ``body.{i}.body.0`` and ``body.{i}.body.2`` per block, ``body.{n}`` closing
  the body, upsampler convolutions ``tail.0.{k}``, ``tail.1``, and the mean
  shift as two 1x1 convolutions (``sub_mean``, ``add_mean``) whose biases hold
  ``-/+ rgb_range * mean``;
- BasicSR (``basicsr/archs/edsr_arch.py``): ``conv_first``, ``body.{i}.conv1``
  and ``conv2``, ``conv_after_body``, ``upsample.{k}``, ``conv_last``, usually
  inside ``{"params": ...}`` or ``{"params_ema": ...}``. Its range (255) and
  mean (DIV2K's) are constructor defaults, not tensors.

Blocks, features and scale are read from the keys and shapes (blocks numbered
0 to n-1 without gaps), held to the bounds of the architecture's options, and
the tensors are compared with a shape-only model before the real one is
built. Residual scaling leaves no trace in the tensors, so the caller
supplies it. Checkpoints are read with ``torch.load(weights_only=True)`` or
safetensors: nothing beyond tensors and plain containers is ever unpickled.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from vidrestore.errors import InputError, UsageError, WeightsError
from vidrestore.models.edsr import DIV2K_MEAN
from vidrestore.models.registry import MODELS, ModelSpec, check_scale
from vidrestore.models.weights import check_fits, check_options, shape_only

log = logging.getLogger(__name__)

IMPORTABLE = ("edsr", "edsr-large")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
# BasicSR saves both when training with EMA; the averaged weights are the better ones.
PREFERRED_KEYS = ("params_ema", "params")

SourceFormat = Literal["edsr-reference", "basicsr"]
FORMAT_NAMES: dict[SourceFormat, str] = {"edsr-reference": "EDSR-PyTorch (reference)", "basicsr": "BasicSR"}

_REFERENCE_RENAMES = (
    (re.compile(r"head\.0\.(weight|bias)"), r"head.\1"),
    (re.compile(r"body\.(\d+)\.body\.0\.(weight|bias)"), r"body.\1.conv1.\2"),
    (re.compile(r"body\.(\d+)\.body\.2\.(weight|bias)"), r"body.\1.conv2.\2"),
    (re.compile(r"tail\.0\.(\d+)\.(weight|bias)"), r"upsample.\1.\2"),
    (re.compile(r"tail\.1\.(weight|bias)"), r"tail.\1"),
)
_BASICSR_RENAMES = (
    (re.compile(r"conv_first\.(weight|bias)"), r"head.\1"),
    (re.compile(r"conv_after_body\.(weight|bias)"), r"body_end.\1"),
    (re.compile(r"conv_last\.(weight|bias)"), r"tail.\1"),
)
_MEAN_SHIFT_KEYS = ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias")


def get_importable(name: str) -> ModelSpec:
    if name not in IMPORTABLE:
        raise UsageError(f"cannot import weights for {name!r}; importable: {', '.join(IMPORTABLE)}")
    return MODELS[name]


@dataclass(frozen=True)
class ForeignEDSR:
    """A foreign EDSR checkpoint under our key names, and what its tensors say about the model."""

    source_format: SourceFormat
    scale: int
    blocks: int
    features: int
    rgb_range: float
    mean: tuple[float, float, float] | None  # None: DIV2K's, the model's default
    tensors: dict[str, torch.Tensor]

    def options(self, res_scale: float) -> dict[str, Any]:
        """Keyword arguments for EDSR, as stored in the weights file's metadata."""
        options: dict[str, Any] = {"blocks": self.blocks, "features": self.features, "res_scale": res_scale, "rgb_range": self.rgb_range}
        if self.mean is not None:
            options["mean"] = list(self.mean)
        return options


@dataclass(frozen=True)
class ImportedEDSR:
    model: nn.Module
    source_format: SourceFormat
    source_key: str | None  # the checkpoint entry that held the tensors; None: the top level
    options: dict[str, Any]


def import_edsr(path: Path, spec: ModelSpec, scale: int, *, key: str | None = None, res_scale: float | None = None) -> ImportedEDSR:
    """Read an EDSR checkpoint in a known foreign layout into our EDSR at `scale`, checked."""
    check_scale(spec, scale)
    tensors, source_key = state_dict_of(read_checkpoint(path), key=key, name=path.name)
    foreign = convert_edsr(tensors, name=path.name)
    if foreign.scale != scale:
        raise WeightsError(f"{path.name} holds x{foreign.scale} weights (by its upsampler); x{scale} was asked for")
    if res_scale is None:
        res_scale = float(spec.options["res_scale"])
        _warn_if_other_preset(spec, foreign)
    options = foreign.options(res_scale)
    check_options(spec, options, name=path.name)
    full = {**spec.options, **options}
    check_fits(shape_only(spec, scale, full).state_dict(), foreign.tensors, name=path.name,
               what=f"{spec.name} x{scale} with {foreign.blocks} blocks and {foreign.features} features")
    model = spec.build(scale=scale, **full)
    model.load_state_dict({k: v.float() for k, v in foreign.tensors.items()})
    return ImportedEDSR(model.eval(), foreign.source_format, source_key, options)


def read_checkpoint(path: Path) -> object:
    """A .pt/.pth/.ckpt file through weights-only unpickling, or a .safetensors file."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsError(f"{path} is not a readable safetensors file ({_one_line(exc)})") from None
    if suffix not in CHECKPOINT_SUFFIXES:
        raise UsageError(f"{path}: unknown checkpoint type {suffix or '(no extension)'!r}; give a .pt, .pth, .ckpt or .safetensors file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(_refusal(path, exc)) from None
    except Exception as exc:  # noqa: BLE001 - torch.load fails on damaged files with many exception types
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint ({type(exc).__name__}: {_one_line(exc)})") from None


def _refusal(path: Path, exc: pickle.UnpicklingError) -> str:
    # torch words the refusal differently across versions; all name the culprit "GLOBAL module.name".
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    if found:
        return (
            f"refused to load {path}: it holds a pickled Python object ({found.group(1)}), and only tensors and plain "
            "containers are read from checkpoints; where you trust the file, save just its state dict"
        )
    detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(exc))
    return (
        f"{path} cannot be read as a weights-only checkpoint ({detail.group(1).strip() if detail else _one_line(exc)}): "
        "it is damaged, or holds more than tensors and plain containers"
    )


def _one_line(exc: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def state_dict_of(checkpoint: object, *, key: str | None, name: str) -> tuple[dict[str, torch.Tensor], str | None]:
    """The tensors of a checkpoint (BasicSR's `params_ema`/`params`, or the top level) and the entry used.

    A ``module.`` prefix on every key (left by DataParallel) is dropped.
    """
    if not isinstance(checkpoint, Mapping):
        raise WeightsError(f"{name} holds a {type(checkpoint).__name__}, not a dict of tensors")
    if key is None:
        key = next((k for k in PREFERRED_KEYS if k in checkpoint), None)
    elif key not in checkpoint:
        raise WeightsError(f"{name} has no {key!r} entry; its entries: {_few(checkpoint)}")
    inner = checkpoint if key is None else checkpoint[key]
    where = "its top level" if key is None else f"{key!r}"
    if not isinstance(inner, Mapping):
        raise WeightsError(f"{name}: {where} holds a {type(inner).__name__}, not a dict of tensors")
    tensors = {str(k): v for k, v in inner.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"{name} holds no tensors at {where}; its entries: {_few(inner)}; choose one with --key")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    return tensors, key


def convert_edsr(tensors: Mapping[str, torch.Tensor], *, name: str) -> ForeignEDSR:
    """Rename a reference or BasicSR EDSR state dict to ours; infer size, scale, range and mean.

    Keys that fit no rule keep their names, so the fit check reports them as unexpected.
    """
    if {"head.0.weight", "tail.0.0.weight", "tail.1.weight"} <= tensors.keys():
        source_format: SourceFormat = "edsr-reference"
        blocks = _count_blocks(tensors, r"body\.(\d+)\.body\.", name)
        rgb_range, mean = _reference_mean_shift(tensors, name)
        # The conv closing the reference body sits right after the blocks, as body.{blocks}.
        closing = re.compile(rf"body\.{blocks}\.(weight|bias)")
        renames = (*_REFERENCE_RENAMES, (closing, r"body_end.\1"))
        ours = _renamed({k: v for k, v in tensors.items() if k not in _MEAN_SHIFT_KEYS}, renames, name)
    elif {"conv_first.weight", "upsample.0.weight", "conv_last.weight"} <= tensors.keys():
        source_format = "basicsr"
        blocks = _count_blocks(tensors, r"body\.(\d+)\.conv[12]\.", name)
        rgb_range, mean = 255.0, None
        ours = _renamed(tensors, _BASICSR_RENAMES, name)
    else:
        raise WeightsError(f"{name} is not an EDSR checkpoint in a layout vidrestore knows (EDSR-PyTorch or BasicSR); its keys: {_few(tensors)}")
    head = ours["head.weight"]
    if head.dim() != 4 or head.shape[0] < 1:
        raise WeightsError(f"{name}: its first convolution's weight has shape {tuple(head.shape)}, not (features, 3, k, k)")
    features = int(head.shape[0])
    scale = _upsampler_scale(ours, features, name)
    return ForeignEDSR(source_format, scale, blocks, features, rgb_range, mean, ours)


def _renamed(tensors: Mapping[str, torch.Tensor], renames: Iterable[tuple[re.Pattern[str], str]], name: str) -> dict[str, torch.Tensor]:
    ours: dict[str, torch.Tensor] = {}
    for key, value in tensors.items():
        new = next((p.sub(r, key) for p, r in renames if p.fullmatch(key)), key)
        if new in ours:
            raise WeightsError(f"{name}: two tensors would both become {new}; the file mixes layouts")
        ours[new] = value
    return ours


def _count_blocks(tensors: Iterable[str], pattern: str, name: str) -> int:
    """The number of residual blocks, whose indices must run 0 to n-1: one stray key
    such as body.300000 would otherwise ask for 300001 blocks."""
    indices = sorted({int(m.group(1)) for k in tensors if (m := re.match(pattern, k))})
    if indices != list(range(len(indices))):
        raise WeightsError(f"{name}: its residual blocks are numbered {_few(indices)}; expected 0 to {len(indices) - 1} without gaps")
    return len(indices)


def _upsampler_scale(tensors: Mapping[str, torch.Tensor], features: int, name: str) -> int:
    stages = sorted((int(m.group(1)), v.shape[0] if v.dim() else 0) for k, v in tensors.items() if (m := re.fullmatch(r"upsample\.(\d+)\.weight", k)))
    ratios = [channels / features for _, channels in stages]
    if ratios == [4]:
        return 2
    if ratios == [9]:
        return 3
    if ratios == [4, 4]:
        return 4
    found = ", ".join(str(channels) for _, channels in stages) or "none"
    raise WeightsError(
        f"{name}: its upsampler ({len(stages)} stage{'s' if len(stages) != 1 else ''}, output channels {found} for {features} features) is none of "
        "EDSR's x2 (one stage, 4x features), x3 (one stage, 9x) or x4 (two stages, 4x each)"
    )


def _reference_mean_shift(tensors: Mapping[str, torch.Tensor], name: str) -> tuple[float, tuple[float, float, float] | None]:
    """rgb_range and mean from the reference's MeanShift convolutions (mean None: DIV2K's)."""
    missing = [k for k in _MEAN_SHIFT_KEYS if k not in tensors]
    if missing:
        raise WeightsError(f"{name}: reference layout without its mean shift ({', '.join(missing)} missing); its rgb_range cannot be told")
    identity = torch.eye(3, dtype=torch.float64).view(3, 3, 1, 1)
    sub_w, sub_b, add_w, add_b = (tensors[k].double() for k in _MEAN_SHIFT_KEYS)
    if sub_w.shape != identity.shape or sub_b.shape != (3,) or add_b.shape != (3,) or add_w.shape != identity.shape:
        raise WeightsError(f"{name}: the mean shift convolutions are not 3 -> 3 channels 1x1")
    if not (torch.allclose(sub_w, identity, atol=1e-5) and torch.allclose(add_w, identity, atol=1e-5)):
        raise WeightsError(f"{name}: its mean shift also divides by a standard deviation (rgb_std other than 1), which vidrestore's EDSR does not do")
    shift = -sub_b
    if not torch.allclose(add_b, shift, rtol=1e-5, atol=1e-6):
        raise WeightsError(f"{name}: sub_mean and add_mean shift by different amounts ({shift.tolist()} and {add_b.tolist()})")
    ratio = shift / torch.tensor(DIV2K_MEAN, dtype=torch.float64)
    if float(ratio.min()) > 0 and float(ratio.max() - ratio.min()) <= 1e-4 * float(ratio.mean()):
        return _tidy(float(ratio.mean())), None
    # Not DIV2K's mean: range and mean cannot both be solved for; the two ranges in use are 255 and 1.
    rgb_range = 255.0 if float(shift.abs().max()) > 1 else 1.0
    mean = tuple(float(v) for v in shift / rgb_range)
    if not all(0 <= v <= 1 for v in mean):
        raise WeightsError(f"{name}: its mean shift {shift.tolist()} is no mean colour in 0..{rgb_range:g}")
    log.debug("%s: mean %s is not DIV2K's; keeping it with rgb_range %g", name, mean, rgb_range)
    return rgb_range, mean  # type: ignore[return-value]


def _tidy(value: float) -> float:
    """255.00000381 (float32 noise) -> 255.0."""
    return float(round(value)) if abs(value - round(value)) < 1e-3 else value


def _warn_if_other_preset(spec: ModelSpec, foreign: ForeignEDSR) -> None:
    """Residual scaling is invisible in the tensors: flag a size that is the other preset's."""
    for other in (MODELS[n] for n in IMPORTABLE if n != spec.name):
        size = (other.options["blocks"], other.options["features"])
        if size == (foreign.blocks, foreign.features) and other.options["res_scale"] != spec.options["res_scale"]:
            log.warning(
                "%d blocks and %d features is %s's size, trained with res_scale %g; importing with %s's %g "
                "(pass --arch %s or --res-scale if that is wrong)",
                *size, other.name, other.options["res_scale"], spec.name, spec.options["res_scale"], other.name,
            )


def _few(keys: Iterable[object], n: int = 4) -> str:
    keys = [str(k) for k in keys]
    shown = ", ".join(keys[:n])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > n else shown or "(none)"
