"""`vidrestore eval` from end to end: what to score, the photos, running it, the report.

The command checks everything it can before a model runs (names, scale,
photo headers, the JSON's folder), so bad input costs no waiting; then it
scores photo by photo and shows each row as it is done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vidrestore.errors import OutputError, UsageError

if TYPE_CHECKING:
    from vidrestore.eval.graph import OnnxGraph
    from vidrestore.eval.report import Report
    from vidrestore.eval.runner import Runner
    from vidrestore.models import LoadedModel
    from vidrestore.pipeline.build import Runtime

Echo = Callable[[str], None]


class Scored(Protocol):
    """What a report needs to know of the model: a `LoadedModel` or an `OnnxGraph`."""

    name: str
    task: str
    scale: int
    color: str
    weights: Path | None


def _weights_arch(path: Path) -> str | None:
    """The architecture a weights file says it holds, if it is one we know."""
    from vidrestore.models import MODELS
    from vidrestore.models.weights import read_metadata

    arch = read_metadata(path).get("arch")
    return arch if arch in MODELS else None


def choose_model(model: str | None, *, task: str | None, scale: int | None, weights: Path | None) -> LoadedModel:
    """The model the options name, loaded. Defaults: the architecture a --weights file
    names, else the default model of the task; the task of the model, else "sr"."""
    from vidrestore.models import DEFAULT_SR_MODEL, get_spec, load
    from vidrestore.models.registry import DEFAULT_DEBLUR_MODEL

    if model is None and weights is not None:
        model = _weights_arch(weights)
    if task is None:
        task = get_spec(model).task if model is not None else "sr"
    spec = get_spec(model or (DEFAULT_DEBLUR_MODEL if task == "deblur" else DEFAULT_SR_MODEL), task)  # type: ignore[arg-type]
    if task == "deblur":
        if scale is not None:
            raise UsageError("deblurring keeps the size: leave out --x2/--x3/--x4/--scale")
        scale = 1
    elif scale is None:
        raise UsageError("give a scale: --x2, --x3, --x4 or --scale N")
    return load(spec.name, scale=scale, weights=weights, task=spec.task)


def choose_graph(path: Path, *, task: str | None, scale: int | None) -> OnnxGraph:
    """The exported graph in `path`; the options may repeat, not contradict, what it says it holds."""
    from vidrestore.eval.graph import check_flags, read_graph

    graph = read_graph(path)
    check_flags(graph, task=task, scale=scale)
    return graph


def check_json_output(path: Path) -> None:
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name for --json")
    if not path.parent.is_dir():
        raise OutputError(f"output folder {path.parent} does not exist")


def check_photos(paths: Sequence[Path], task: str, scale: int) -> None:
    """Every photo opens and is large enough for the task's protocol (reads headers only)."""
    from vidrestore.eval.deblur import check_deblur_size
    from vidrestore.eval.photos import photo_size
    from vidrestore.eval.sr import check_size

    for path in paths:
        width, height = photo_size(path)
        if task == "deblur":
            check_deblur_size(path, width, height)
        else:
            check_size(path, width, height, scale)


def open_runner(model: LoadedModel | OnnxGraph, runtime: Runtime, announce: Echo | None = None) -> Runner:
    """The model behind the runtime's backend, or the graph in ONNX Runtime."""
    from vidrestore.eval.graph import OnnxGraph
    from vidrestore.pipeline.build import open_model

    return model.open(runtime) if isinstance(model, OnnxGraph) else open_model(model, runtime, announce)


def score_photos(runner: Runner, model: Scored, paths: Sequence[Path], *, tile: int | None = None,
                 echo: Echo | None = None) -> Report:
    """The report of `model` (run by `runner`) on the photos, with its task's protocol.
    `echo` gets the title and the header first, then each photo's row as it is done, then the means."""
    import torch

    from vidrestore.eval import deblur, sr
    from vidrestore.eval.photos import display_names
    from vidrestore.eval.report import Report

    layout = deblur.LAYOUT if model.task == "deblur" else sr.LAYOUT
    names = display_names(paths)
    report = Report(layout, model.name, model.scale, model.weights, runner.device, names)
    say = echo or (lambda line: None)
    say(report.title)
    say(report.header)
    metrics = layout.metrics
    for path, name in zip(paths, names, strict=True):
        if model.task == "deblur":
            scores = deblur.score_photo(runner, path, name=name, tile=tile, metrics=metrics)
        else:
            scores = sr.score_photo(runner, model.color, model.scale, path, name=name, tile=tile, metrics=metrics)  # type: ignore[arg-type]
        report.add(name, scores)
        say(report.row(name))
        if runner.device.startswith("cuda"):
            torch.cuda.empty_cache()  # photos differ in size: the allocator's cache only grows
    say(report.row())
    return report


def check_record(model: Scored, path: Path) -> None:
    """Refuse `--record` before any scoring when it cannot be written: only a weights
    file can record figures, and an existing file is never replaced."""
    from vidrestore.io.paths import check_output

    if model.weights is None or model.weights.suffix.lower() != ".safetensors":
        raise UsageError(f"--record writes a copy of a safetensors weights file; {model.name} has none here")
    if path.suffix.lower() != ".safetensors":
        raise UsageError(f"{path}: --record writes safetensors; give a .safetensors name")
    check_output(path, model.weights, overwrite=True)
    if path.exists():
        raise OutputError(f"{path} already exists; --record writes a new file and never replaces one")


def record_scores(report: Report, path: Path) -> float:
    """Write `report`'s weights with its means as their held-out validation (the
    metadata `vidrestore train` writes), the tensors and other metadata unchanged.
    Returns the gain recorded."""
    from safetensors.torch import save_file

    from vidrestore.io.paths import atomic_output
    from vidrestore.models.weights import read_weights, validation_metadata

    assert report.weights is not None
    tensors, metadata = read_weights(report.weights)
    means = report.cells()
    base = report.layout.answers[0]
    metadata.update(validation_metadata(
        psnr=means["model"]["psnr"], ssim=means["model"]["ssim"], baseline=base, baseline_psnr=means[base]["psnr"],
        grad_energy=means["model"]["grad_energy"], files=[n for n in report.names if n in report.per_image],
        protocol=f"whole held-out photos; {report.layout.protocol}"))
    metadata["val_scored_by"] = "vidrestore eval --record"
    with atomic_output(path, overwrite=False) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.chmod(0o644)
    return float(metadata["val_gain_db"])
