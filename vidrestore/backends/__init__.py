"""Inference backends behind one protocol: `run(batch) -> batch`.

Each backend lives in its own module and imports its optional dependency
inside it. `BACKENDS` is the one list; `open_backend` picks from it, and
`auto` takes the fastest one this machine has (`auto_backend`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

import torch
from torch import nn

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


def _torch(model: nn.Module, options: BackendOptions) -> Backend:
    from vidrestore.backends.torch_backend import TorchBackend

    return TorchBackend(model, device=options.device, precision=options.precision)


def _torch_compile(model: nn.Module, options: BackendOptions) -> Backend:
    from vidrestore.backends.torch_backend import TorchBackend

    return TorchBackend(model, device=options.device, precision=options.precision, compile=True)


def _onnxruntime(model: nn.Module, options: BackendOptions) -> Backend:
    from vidrestore.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, options)


def _tensorrt(model: nn.Module, options: BackendOptions) -> Backend:
    from vidrestore.backends.tensorrt_backend import LazyTensorRT

    return LazyTensorRT(model, options)


BACKENDS: dict[str, Callable[[nn.Module, BackendOptions], Backend]] = {
    "torch": _torch,
    "torch-compile": _torch_compile,
    "onnxruntime": _onnxruntime,
    "tensorrt": _tensorrt,
}


def auto_backend(device: Device) -> str:
    """The fastest backend installed for `device`, by what `bench/` measured:
    on a CPU ONNX Runtime (about 2x PyTorch eager for the small SR models);
    on a GPU TensorRT, then onnxruntime-gpu, then PyTorch."""
    from vidrestore.backends import onnxruntime_backend as ortb

    if resolve_device(device) == "cuda":
        try:
            import tensorrt  # noqa: F401

            return "tensorrt"
        except ImportError:
            pass
        return "onnxruntime" if ortb.gpu_providers() else "torch"
    return "onnxruntime" if ortb.available() else "torch"


def open_backend(name: str, model: nn.Module, device: Device = "auto", precision: Precision = "fp32",
                 threads: int | None = None) -> Backend:
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; expected {', '.join(PRECISIONS)}")
    if name == "auto":
        name = auto_backend(device)
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; available: {', '.join(BACKEND_NAMES)}") from None
    return factory(model, BackendOptions(device, precision, threads))


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
