"""`vidrestore models`: every model, its size, its shipped weights and their measured quality."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import click

from vidrestore.cli.errors import user_errors

if TYPE_CHECKING:
    from vidrestore.models.registry import ModelSpec

# The shipped super-resolution weights' quality is PSNR-Y gain over this model's output.
BASELINE = "bicubic"


@dataclass(frozen=True)
class ShippedWeights:
    scale: int
    file: str
    bytes: int
    val_gain_db: float | None  # PSNR-Y gain over `val_gain_over` on held-out photos
    val_psnr_y: float | None
    val_gain_over: str  # "bicubic" (super-resolution) or "blurry" (deblurring: the input itself)


@dataclass(frozen=True)
class ModelRow:
    name: str
    task: str
    scales: tuple[int, ...]
    color: str
    parameters: int  # at the first scale, with the spec's options
    weights: tuple[ShippedWeights, ...]
    description: str


def model_row(spec: ModelSpec) -> ModelRow:
    from vidrestore.models.weights import count_parameters

    model = spec.build(scale=spec.scales[0], **spec.options)
    return ModelRow(spec.name, spec.task, spec.scales, spec.color, count_parameters(model), shipped_weights(spec), spec.description)


def shipped_weights(spec: ModelSpec) -> tuple[ShippedWeights, ...]:
    from vidrestore.models.weights import read_metadata, recorded_number

    found = []
    for scale in spec.scales:
        path = spec.weights_path(scale)
        if path is None or not path.is_file():
            continue
        metadata = read_metadata(path)
        found.append(ShippedWeights(scale, path.name, path.stat().st_size, recorded_number(metadata, "val_gain_db"),
                                    recorded_number(metadata, "val_psnr_y"), metadata.get("val_gain_over", BASELINE)))
    return tuple(found)


def format_count(n: int) -> str:
    """12345678 -> 12.35M, 20100 -> 20.1K."""
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.1f}K"
    return str(n)


def format_bytes(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    return f"{max(1, round(n / 1e3))} KB"


def _weights_cell(row: ModelRow) -> str:
    if not row.weights:
        return "-"
    scales = " ".join(f"x{w.scale}" for w in row.weights)
    return f"{scales} ({format_bytes(sum(w.bytes for w in row.weights))})"


def _quality_cell(row: ModelRow) -> str:
    if row.name == BASELINE:
        return "baseline"
    scored = [w for w in row.weights if w.val_gain_db is not None]
    if not scored:
        return "-"
    if row.task == "deblur":
        return f"{scored[0].val_gain_db:+.2f} dB vs {scored[0].val_gain_over}"
    gains = [f"x{w.scale} {w.val_gain_db:+.2f}" for w in scored]
    return f"{', '.join(gains)} dB vs {scored[0].val_gain_over}"


def render_table(rows: list[ModelRow]) -> str:
    header = ("MODEL", "TASK", "SCALES", "PARAMS", "SHIPPED WEIGHTS", "HELD-OUT PSNR-Y GAIN", "DESCRIPTION")
    cells = [header] + [
        (r.name, r.task, " ".join(f"x{s}" for s in r.scales), format_count(r.parameters), _weights_cell(r), _quality_cell(r), r.description)
        for r in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in cells)


@click.command(short_help="List the models: size, shipped weights, measured quality.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per model) instead of a table.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
def models(as_json: bool, debug: bool) -> None:
    """Every model vidrestore knows, with its parameter count, the weights shipped
    with it and their PSNR-Y gain on held-out photos: over bicubic for
    super-resolution, over the blurry input for deblurring."""
    from vidrestore.models.registry import MODELS

    rows = [model_row(spec) for spec in MODELS.values()]
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        click.echo(render_table(rows))
