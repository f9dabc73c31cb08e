"""Exported ONNX graphs as `vidrestore eval --onnx` scores them.

A graph carries what it holds in its metadata (`export.onnx.graph_metadata`:
model, task, scale, colour, precision), so it is scored with the protocol
of its task without asking the registry. Graphs are protobuf messages, read
with `onnx.load`; nothing here unpickles.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidrestore.errors import InputError, UsageError

if TYPE_CHECKING:
    from vidrestore.backends.onnxruntime_backend import OnnxRuntimeBackend
    from vidrestore.pipeline.build import Runtime

NEEDED = ("model", "task", "scale", "color")


@dataclass(frozen=True)
class OnnxGraph:
    """A serialised graph and what its metadata says; described like a `LoadedModel`."""

    data: bytes
    name: str
    task: str  # "sr" or "deblur"
    scale: int
    color: str  # "y" or "rgb"
    weights: Path  # the graph's file

    def open(self, runtime: Runtime) -> OnnxRuntimeBackend:
        """The graph in ONNX Runtime on the runtime's device. The graph's precision
        was fixed when it was exported, so only the defaults of the other options go."""
        from vidrestore.backends import BackendOptions
        from vidrestore.backends.onnxruntime_backend import OnnxRuntimeBackend

        if runtime.backend not in ("auto", "onnxruntime"):
            raise UsageError(f"an ONNX graph runs in ONNX Runtime: leave out --backend {runtime.backend}")
        if runtime.precision != "fp32":
            raise UsageError(f"an ONNX graph keeps the precision it was exported with: leave out --precision {runtime.precision}")
        return OnnxRuntimeBackend(self.data, BackendOptions(device=runtime.device))  # type: ignore[arg-type]


def read_graph(path: Path) -> OnnxGraph:
    """The graph in `path` and its metadata; `InputError` for a file that is not a graph
    `vidrestore export` wrote (one line, naming what is missing)."""
    from google.protobuf.message import DecodeError

    from vidrestore.export.onnx import require_onnx

    require_onnx()
    import onnx

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        proto = onnx.load(io.BytesIO(data), load_external_data=False)
    except DecodeError as exc:
        raise InputError(f"{path}: not an ONNX graph ({exc})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    missing = [key for key in NEEDED if key not in meta]
    if missing:
        raise InputError(f"{path}: the graph does not say its {', '.join(missing)}; "
                         "score graphs written by `vidrestore export`")
    task, color, scale = meta["task"], meta["color"], meta["scale"]
    if task not in ("sr", "deblur") or color not in ("y", "rgb") or not scale.isdigit() or int(scale) < 1:
        raise InputError(f"{path}: unknown task, colour or scale in the graph's metadata "
                         f"(task {task!r}, color {color!r}, scale {scale!r})")
    return OnnxGraph(data, meta["model"], task, int(scale), color, path)


def check_flags(graph: OnnxGraph, *, task: str | None, scale: int | None) -> None:
    """`UsageError` when the command's --task or scale disagree with the graph's own."""
    if task is not None and task != graph.task:
        kind = {"sr": "a super-resolution", "deblur": "a deblurring"}[graph.task]
        raise UsageError(f"{graph.weights} holds {kind} model ({graph.name}): leave out --task {task}")
    if scale is not None and scale != graph.scale:
        held = f"{graph.name} x{graph.scale}" if graph.task == "sr" else f"{graph.name}, which keeps the size"
        raise UsageError(f"{graph.weights} holds {held}, not x{scale}: leave out the scale")
