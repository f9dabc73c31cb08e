"""Export a vidrestore model to ONNX, and check the export.

The graph has one input and one output, both float32 NCHW in [0, 1]: R'G'B'
for RGB models, Y' for the Y-channel super-resolution models. Batch, height
and width are dynamic; the output is `scale` times the input's size. With
``fp16`` the weights and arithmetic are half precision inside the graph while
its inputs and outputs stay float32, so callers never change their buffers.

The TorchScript-based exporter is used (``dynamo=False``): it needs no extra
packages and keeps the shape arithmetic of the models (padding to a multiple,
the bicubic skip) dynamic. An export is checked three ways: ``onnx.checker``,
then ONNX Runtime against PyTorch at two input sizes, neither of them the
size it was traced at.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vidrestore import __version__
from vidrestore.errors import BackendUnavailable, UsageError
from vidrestore.models import LoadedModel

OPSET = 17
INPUT, OUTPUT = "input", "output"
TRACE_SIZE = (45, 61)  # odd, and not a multiple of 4: the padding paths get traced
CHECK_SIZES = ((2, 38, 52), (1, 67, 43))  # (batch, height, width)


@dataclass(frozen=True)
class ExportCheck:
    max_abs_diff: float
    sizes: tuple[tuple[int, int, int, int], ...]  # the input shapes compared


class _Graph(nn.Module):
    """What gets traced: one positional input (the deblurring models' keyword-only
    options would otherwise reach the tracer), float32 in and out, the model
    itself in fp16 when asked."""

    def __init__(self, model: nn.Module, fp16: bool) -> None:
        super().__init__()
        self.model, self.fp16 = (model.half() if fp16 else model), fp16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float() if self.fp16 else self.model(x)


def require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise BackendUnavailable("ONNX export needs onnx and onnxruntime: pip install 'vidrestore[onnx]'") from None


def onnx_bytes(loaded: LoadedModel, *, fp16: bool = False, metadata: dict[str, str] | None = None) -> bytes:
    """The model as a serialised ONNX graph (dynamic batch, height, width)."""
    require_onnx()
    import copy

    import onnx

    model = _Graph(copy.deepcopy(loaded.module).eval().float().cpu(), fp16)
    example = torch.rand(1, loaded.in_channels, *TRACE_SIZE)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about every Python-side shape computation; the
        # round trip at two other sizes (`check`) is what tells whether one was baked in.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (example,), buffer, input_names=[INPUT], output_names=[OUTPUT], opset_version=OPSET,
            dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "out_height", 3: "out_width"}},
            dynamo=False,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in {"producer": f"vidrestore {__version__}", **(metadata or {})}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def check(data: bytes, loaded: LoadedModel) -> ExportCheck:
    """Run the graph in ONNX Runtime (CPU) and the model in PyTorch at two sizes."""
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    model, channels, scale = loaded.module.eval().float().cpu(), loaded.in_channels, loaded.scale
    generator = torch.Generator().manual_seed(0)
    worst, shapes = 0.0, []
    for n, h, w in CHECK_SIZES:
        x = torch.rand(n, channels, h, w, generator=generator)
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run([OUTPUT], {INPUT: x.numpy()})[0]
        if got.shape != want.shape or got.shape[-2:] != (h * scale, w * scale):
            raise UsageError(f"the exported graph gives {got.shape} for a {tuple(x.shape)} input where PyTorch gives "
                             f"{want.shape}: a shape was fixed at export time")
        worst = max(worst, float(np.abs(got - want).max()))
        shapes.append(tuple(x.shape))
    return ExportCheck(worst, tuple(shapes))


def graph_metadata(loaded: LoadedModel, *, fp16: bool) -> dict[str, str]:
    """What an exported graph records about its model: enough to score or run it again
    (`vidrestore eval --onnx`) without the registry guessing."""
    return {"model": loaded.name, "task": loaded.task, "scale": str(loaded.scale), "color": loaded.color,
            "precision": "fp16" if fp16 else "fp32"}


def export_onnx(loaded: LoadedModel, path: Path, *, fp16: bool = False, metadata: dict[str, str] | None = None,
                overwrite: bool = False) -> ExportCheck:
    """Write the checked graph to `path` (atomically) and return the check's figures."""
    from vidrestore.io.paths import atomic_output

    data = onnx_bytes(loaded, fp16=fp16, metadata=metadata)
    result = check(data, loaded)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return result


def cached_onnx(loaded: LoadedModel, *, fp16: bool = False) -> tuple[bytes, Path | None]:
    """`onnx_bytes` of `model`, kept in `cache_dir("onnx")` under a hash of the model:
    its class, weights, vidrestore's version, and its answer to a fixed input (which pins down what the
    weights do not, such as a resampler's scale). A cached graph is used only as `export.cache`
    checks it (owner, mode, content hash); a doubtful one is exported again. Returns the graph
    and its cache file (None when the cache folder is unsafe or cannot be written)."""
    from vidrestore.export.cache import CacheFolder
    from vidrestore.io.paths import cache_dir

    model, channels = loaded.module, loaded.in_channels
    # The version too: a release may trace the same function into a better graph.
    digest = hashlib.sha256(f"{type(model).__qualname__}|{channels}|{fp16}|{OPSET}|{torch.__version__}|{__version__}".encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    probe = torch.linspace(0, 1, channels * 12 * 16).reshape(1, channels, 12, 16)
    with torch.no_grad():
        answer = model.eval().float().cpu()(probe)
    digest.update(str(tuple(answer.shape)).encode())
    digest.update(answer.numpy().round(4).tobytes())
    cache = CacheFolder(cache_dir("onnx"))
    name = f"{digest.hexdigest()[:32]}.onnx"
    data = cache.read(name)
    if data is not None:
        return data, cache.folder / name
    data = onnx_bytes(loaded, fp16=fp16)
    return data, cache.write(name, data)
