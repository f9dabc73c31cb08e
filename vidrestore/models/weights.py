"""Weights as safetensors, with the architecture's options in the metadata.

Nothing here unpickles: a weights file is tensors plus a JSON header.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidrestore.errors import WeightsError
from vidrestore.models.registry import ModelSpec, check_scale


def save_weights(model: nn.Module, path: Path, *, arch: str, scale: int, options: dict[str, Any], extra: dict[str, str] | None = None, half: bool = False) -> None:
    from safetensors.torch import save_file

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
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.chmod(0o644)  # shipped with the package: readable by every user
    tmp.replace(path)


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


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(spec: ModelSpec, scale: int, weights: Path | None = None) -> nn.Module:
    """The model for `spec` at `scale`, with shipped or given weights, in eval mode."""
    check_scale(spec, scale)
    path = weights if weights is not None else spec.weights_path(scale)
    options = dict(spec.options)
    tensors: dict[str, torch.Tensor] = {}
    if path is not None:
        tensors, metadata = read_weights(path)
        if metadata.get("arch", spec.name) != spec.name:
            raise WeightsError(f"{path} holds {metadata['arch']!r} weights, not {spec.name!r}")
        if int(metadata.get("scale", scale)) != scale:
            raise WeightsError(f"{path} holds x{metadata['scale']} weights; x{scale} was asked for")
        options.update(json.loads(metadata.get("options", "{}")))
    model = spec.build(scale=scale, **options)
    if tensors:
        expected = model.state_dict()
        missing = sorted(set(expected) - set(tensors))
        unexpected = sorted(set(tensors) - set(expected))
        if missing or unexpected:
            raise WeightsError(f"{path} does not fit {spec.name}: missing {missing[:3]}, unexpected {unexpected[:3]}")
        for key, value in tensors.items():
            if value.shape != expected[key].shape:
                raise WeightsError(f"{path}: {key} has shape {tuple(value.shape)}, {spec.name} needs {tuple(expected[key].shape)}")
        model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.input_channels = 1 if spec.color == "y" else 3  # what exporters trace it with
    return model.eval()
