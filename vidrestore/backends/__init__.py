"""Inference backends behind one protocol: `run(batch) -> batch`.

Each backend lives in its own module and imports its optional dependency
inside it. `BACKENDS` is the one list; `open_backend` picks from it, and
`auto` takes the fastest one this machine has (`auto_backend`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from vidrestore.backends.base import (BACKEND_NAMES, PRECISIONS, Backend, BackendOptions, Device, Precision, cpu_name,
                                      resolve_device)
from vidrestore.errors import UsageError

if TYPE_CHECKING:
    from vidrestore.models import LoadedModel

__all__ = ["BACKENDS", "BACKEND_NAMES", "PRECISIONS", "Backend", "BackendOptions", "Device", "Precision", "auto_backend",
           "cpu_name", "open_backend", "resolve_device"]


def _torch(model: LoadedModel, options: BackendOptions) -> Backend:
    from vidrestore.backends.torch_backend import TorchBackend

    return TorchBackend(model, device=options.device, precision=options.precision)


def _torch_compile(model: LoadedModel, options: BackendOptions) -> Backend:
    from vidrestore.backends.torch_backend import TorchBackend

    return TorchBackend(model, device=options.device, precision=options.precision, compile=True)


def _onnxruntime(model: LoadedModel, options: BackendOptions) -> Backend:
    from vidrestore.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(model, options)


def _tensorrt(model: LoadedModel, options: BackendOptions) -> Backend:
    from vidrestore.backends.tensorrt_backend import LazyTensorRT

    return LazyTensorRT(model, options)


BACKENDS: dict[str, Callable[[LoadedModel, BackendOptions], Backend]] = {
    "torch": _torch,
    "torch-compile": _torch_compile,
    "onnxruntime": _onnxruntime,
    "tensorrt": _tensorrt,
}


def auto_backend(device: Device) -> str:
    """The fastest backend installed for `device`, by what `bench/` measured:
    on a CPU ONNX Runtime (about 2x PyTorch eager for the small SR models);
    on a GPU TensorRT, then onnxruntime-gpu, then PyTorch."""
    import vidrestore.backends.onnxruntime_backend as ortb

    if resolve_device(device) == "cuda":
        try:
            import tensorrt  # noqa: F401

            return "tensorrt"
        except ImportError:
            pass
        return "onnxruntime" if ortb.gpu_providers() else "torch"
    return "onnxruntime" if ortb.available() else "torch"


def open_backend(name: str, model: LoadedModel, device: Device = "auto", precision: Precision = "fp32",
                 threads: int | None = None) -> Backend:
    """`model` (see `vidrestore.models.load`) behind the backend `name` ("auto": `auto_backend`)."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}; expected {', '.join(PRECISIONS)}")
    if name == "auto":
        name = auto_backend(device)
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise UsageError(f"unknown backend {name!r}; available: {', '.join(BACKEND_NAMES)}") from None
    return factory(model, BackendOptions(device, precision, threads))
