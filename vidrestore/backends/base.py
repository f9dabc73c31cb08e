"""What every backend shares: the protocol, the options, and resolving the device.

Kept apart from the package's `__init__` (the registry of backends, which
imports each backend lazily) so that a backend module imports this one and
nothing imports in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from vidrestore.errors import UsageError

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["fp32", "fp16", "bf16"]
BACKEND_NAMES = ("auto", "torch", "torch-compile", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class BackendOptions:
    device: Device = "auto"
    precision: Precision = "fp32"
    threads: int | None = None  # CPU threads; None: PyTorch's own setting


class Backend(Protocol):
    name: str
    device: str

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        """Float NCHW in [0, 1] (roughly) in, float NCHW out, on the CPU."""
        ...

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        """The same with both ends on the backend's device, ordered on the current
        CUDA stream there: what the pipeline's staging (`pipeline.staging`) calls.
        The result is a new tensor the caller may change in place."""
        ...


def cpu_name() -> str:
    """The processor's marketing name (from /proc/cpuinfo on Linux)."""
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def resolve_device(device: Device) -> str:
    from vidrestore.errors import BackendUnavailable

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailable("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine; use --device cpu")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {device!r}; expected auto, cpu or cuda")
    return device
