"""Weights as safetensors, with the architecture's options in the metadata.

Nothing here unpickles: a weights file is tensors plus a JSON header. The
header is not trusted either: its options must be ones the architecture
takes, within their bounds, and must describe exactly the tensors in the
file (checked on a shape-only model) before a real model is built.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidrestore.errors import WeightsError
from vidrestore.models.registry import ModelSpec, check_scale


def save_weights(model: nn.Module, path: Path, *, arch: str, scale: int, options: dict[str, Any], extra: dict[str, str] | None = None,
                 half: bool = False, overwrite: bool = True) -> None:
    """Write `path` atomically; without `overwrite`, a file that appeared there meanwhile is kept (OutputError)."""
    from safetensors.torch import save_file

    from vidrestore.io.paths import atomic_output

    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        if half and value.is_floating_point():
            value = value.half()
        tensors[key] = value
    metadata = {"arch": arch, "scale": str(scale), "options": json.dumps(options)}
    clash = sorted(set(extra or {}) & set(metadata))
    if clash:
        raise ValueError(f"extra metadata may not redefine {clash}")
    metadata.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.chmod(0o644)  # shipped with the package: readable by every user


def read_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc})") from None
    return tensors, metadata


def read_metadata(path: Path) -> dict[str, str]:
    """A weights file's metadata, read from its header without loading the tensors."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc})") from None


def recorded_number(metadata: dict[str, str], key: str) -> float | None:
    """A figure a weights file records (`val_gain_db`, `val_psnr_y`, ...), or None when it
    records none or something that is not a number."""
    try:
        value = float(metadata[key])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) else None


def recorded_photos(metadata: dict[str, str]) -> str | None:
    """The held-out photos a file's figures were measured on (`val_files`), as a key that
    is equal for the same photos in any order; None when the file does not say."""
    try:
        names = json.loads(metadata["val_files"])
    except (KeyError, ValueError):
        return None
    return json.dumps(sorted(map(str, names))) if isinstance(names, list) else None


def validation_metadata(*, psnr: float, ssim: float, baseline: str, baseline_psnr: float, grad_energy: float,
                        files: list[str], protocol: str) -> dict[str, str]:
    """The held-out figures a weights file records, as `vidrestore train` and
    `vidrestore eval --record` write them: `val_gain_db` is what `vidrestore models`
    shows and the live ladder compares, and `val_files` names the photos it was
    measured on (gains compare only on the same photos)."""
    return {
        "val_psnr_y": f"{psnr:.4f}",
        "val_ssim_y": f"{ssim:.5f}",
        f"val_psnr_y_{baseline}": f"{baseline_psnr:.4f}",
        "val_gain_db": f"{psnr - baseline_psnr:.4f}",
        "val_gain_over": baseline,
        "val_grad_energy": f"{grad_energy:.6g}",
        "val_files": json.dumps(files),
        "val_protocol": protocol,
    }


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(spec: ModelSpec, scale: int, weights: Path | None = None) -> nn.Module:
    """The model for `spec` at `scale`, with shipped or given weights, in eval mode.

    A weights file's metadata is checked (architecture, scale, options and their
    bounds) and the tensors are compared with a shape-only model before the
    real one is built, so a file can never make it bigger than its own tensors.
    """
    check_scale(spec, scale)
    path = weights if weights is not None else spec.weights_path(scale)
    options = dict(spec.options)
    tensors: dict[str, torch.Tensor] = {}
    if path is not None:
        tensors, metadata = read_weights(path)
        if metadata.get("arch", spec.name) != spec.name:
            raise WeightsError(f"{path} holds {_brief(metadata['arch'])} weights, not {spec.name!r}")
        found = metadata.get("scale", str(scale))
        if not re.fullmatch(r"[0-9]{1,32}", found):
            raise WeightsError(f"{path}: its metadata gives scale {_brief(found)}, not a whole number")
        if int(found) != scale:
            raise WeightsError(f"{path} holds x{found} weights; x{scale} was asked for")
        given = parse_options(spec, metadata.get("options", "{}"), name=str(path))
        options.update(given)
        check_fits(shape_only(spec, scale, options).state_dict(), tensors, name=str(path),
                   what=f"{spec.name} x{scale} with options {given}")
    model = spec.build(scale=scale, **options)
    if tensors:
        model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.eval()


class _Twice(Exception):
    """A JSON object naming one key twice (json keeps the last one silently)."""


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Twice(key)
        found[key] = value
    return found


def parse_options(spec: ModelSpec, text: str, *, name: str) -> dict[str, Any]:
    """A weights file's options metadata: a JSON object of options `spec` takes, within their bounds."""
    try:
        options = json.loads(text, object_pairs_hook=_once)
    except _Twice as twice:
        raise WeightsError(f"{name}: its options metadata sets {_brief(twice.args[0])} twice") from None
    except (ValueError, RecursionError):  # RecursionError: a header of nested brackets
        options = None
    if not isinstance(options, dict):
        raise WeightsError(f"{name}: its options metadata is not a JSON object (of {spec.name}'s options)")
    check_options(spec, options, name=name)
    return options


def check_options(spec: ModelSpec, options: Mapping[str, Any], *, name: str) -> None:
    """Every option one `spec` takes, with a value within its bounds (see `ModelSpec.accepts`)."""
    for key, value in options.items():
        rule = spec.accepts.get(key)
        if rule is None:
            takes = ", ".join(sorted(spec.accepts)) or "none"
            raise WeightsError(f"{name}: {spec.name} takes no option {_brief(key)}; it takes {takes}")
        if not rule.accepts(value):
            raise WeightsError(f"{name}: {key} is {_brief(value)}; {spec.name} takes {rule.describe()}")


class _NoRandomInit(torch.overrides.TorchFunctionMode):
    """Random initialisation skipped: on the meta device there are no values to draw, and
    `normal_` there goes through PyTorch's Python reference kernels, whose import pulls in
    torch._dynamo (about 75 MB and 2 s that a run never needs)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.Tensor.normal_, nn.init.normal_, nn.init.trunc_normal_):
            return args[0] if args else (kwargs or {})["tensor"]
        return func(*args, **(kwargs or {}))


def shape_only(spec: ModelSpec, scale: int, options: Mapping[str, Any]) -> nn.Module:
    """The model on PyTorch's meta device: every tensor's name and shape, no memory.
    Call with options `check_options` has passed: a model's size in Python objects is still bounded by them."""
    try:
        with torch.device("meta"), _NoRandomInit():
            return spec.build(scale=scale, **options)
    except ValueError as exc:  # an architecture's own rule the bounds do not express
        raise WeightsError(f"{spec.name} x{scale} cannot be built with {dict(options)}: {exc}") from None


def check_fits(expected: Mapping[str, torch.Tensor], tensors: Mapping[str, torch.Tensor], *, name: str, what: str) -> None:
    """Every tensor of `expected` (a state dict) present in `tensors` with its shape, and nothing else."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = [f"missing {_few(missing)}" if missing else "", f"unexpected {_few(unexpected)}" if unexpected else ""]
        raise WeightsError(f"{name} does not fit {what}: {'; '.join(p for p in parts if p)}")
    for key, value in expected.items():  # the model's order: the first mismatch is the one nearest the input
        if tensors[key].shape != value.shape:
            raise WeightsError(f"{name} does not fit {what}: {key} has shape {tuple(tensors[key].shape)}, not {tuple(value.shape)}")


def _brief(value: object, limit: int = 40) -> str:
    """repr(value), cut short: a hostile header must not turn an error into a page."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _few(keys: list[str], n: int = 4) -> str:
    shown = ", ".join(_brief(k, 60).strip("'") for k in keys[:n])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > n else shown or "(none)"
