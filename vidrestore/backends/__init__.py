"""Inference backends behind one protocol: `run(batch) -> batch`.

Each backend lives in its own module and imports its optional dependency
inside it. `BACKENDS` is the one list; `open_backend` picks from it.
"""

from __future__ import annotations

from typing import Callable, Literal, Protocol

import torch
from torch import nn

from vidrestore.errors import UsageError

Device = Literal["auto", "cpu", "cuda"]


class Backend(Protocol):
    name: str
    device: str

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Float NCHW in [0, 1] (roughly) in, float NCHW out, on the CPU."""
        ...


def _torch(model: nn.Module, device: Device) -> Backend:
    from vidrestore.backends.torch_backend import TorchBackend

    return TorchBackend(model, device=device)


BACKENDS: dict[str, Callable[[nn.Module, Device], Backend]] = {"torch": _torch}


def open_backend(name: str, model: nn.Module, device: Device = "auto") -> Backend:
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}") from None
    return factory(model, device)


def resolve_device(device: Device) -> str:
    from vidrestore.errors import BackendUnavailable

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine; use --device cpu")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; expected auto, cpu or cuda")
    return device
