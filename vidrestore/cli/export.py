"""`vidrestore export`: a model as an ONNX graph or a TensorRT engine."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import scale_options


@click.command(short_help="Export a model to ONNX or a TensorRT engine.")
@click.argument("name", metavar="MODEL")
@click.option("--format", "fmt", type=click.Choice(["onnx", "tensorrt"]), default="onnx", show_default=True)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output file. Default: MODEL_xS.onnx (or .engine) here.")
@click.option("--fp16", is_flag=True, help="Half-precision weights and arithmetic (inputs and outputs stay float32).")
@click.option("--weights", type=click.Path(path_type=Path), help="A safetensors weights file instead of the shipped one.")
@click.option("--size", default="1920x1080", show_default=True, help="TensorRT: the frame size (WxH) the engine is tuned for.")
@click.option("--batch", type=click.IntRange(1, 256), default=4, show_default=True, help="TensorRT: the largest batch.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@scale_options("Export the x{n} model.", required=False)
def export(name: str, fmt: str, output: Path | None, fp16: bool, weights: Path | None, size: str, batch: int,
           overwrite: bool, scale: int | None, debug: bool) -> None:
    """Export MODEL with dynamic batch, height and width, and check it.

    The graph takes float NCHW in [0, 1] (RGB, or Y for the Y-channel models)
    and returns the same at the output size. The ONNX export is run in ONNX
    Runtime against PyTorch at two frame sizes and the largest difference is
    printed. `--format tensorrt` builds an engine from that graph (cached by
    everything that changes it) and needs a CUDA GPU with TensorRT.
    """
    from vidrestore.errors import UsageError
    from vidrestore.export.onnx import export_onnx, graph_metadata, onnx_bytes
    from vidrestore.io.paths import check_output, warn_stale_partials
    from vidrestore.models import load
    from vidrestore.models.registry import MODELS, check_scale

    spec = MODELS.get(name)
    if spec is None:
        raise UsageError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    if scale is None:
        if len(spec.scales) > 1:
            raise UsageError(f"{name} comes in {', '.join(f'x{s}' for s in spec.scales)}: give one with --x2, --x3 or --x4")
        scale = spec.scales[0]
    check_scale(spec, scale)
    tag = f"{name}_x{scale}{'_fp16' if fp16 else ''}"
    dst = output or Path(f"{tag}.{'onnx' if fmt == 'onnx' else 'engine'}")
    if fmt == "tensorrt":
        from vidrestore.backends.tensorrt_backend import require_tensorrt

        require_tensorrt()  # before anything is written
    check_output(dst, weights, overwrite=overwrite)  # never over the weights it reads
    warn_stale_partials([dst])
    # An architecture without weights still exports (to size an engine); its outputs mean nothing.
    loaded = load(name, scale=scale, weights=weights, untrained_ok=True)
    metadata = graph_metadata(loaded, fp16=fp16)
    if fmt == "onnx":
        result = export_onnx(loaded, dst, fp16=fp16, metadata=metadata, overwrite=overwrite)
        shapes = " and ".join("x".join(map(str, s)) for s in result.sizes)
        click.echo(f"wrote {dst}: {name} x{scale}, {'fp16' if fp16 else 'fp32'}, input NCHW float in [0, 1] "
                   f"({'Y' if loaded.in_channels == 1 else 'RGB'}), dynamic batch/height/width")
        click.echo(f"ONNX Runtime vs PyTorch at {shapes}: max abs difference {result.max_abs_diff:.3g}")
        return
    from vidrestore.export.tensorrt import build_engine, spec_for
    from vidrestore.io.paths import atomic_output

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {size!r}: expected WxH, e.g. 1920x1080") from None
    onnx_path = dst.with_suffix(".onnx")
    with atomic_output(onnx_path, overwrite=overwrite) as tmp:
        tmp.write_bytes(onnx_bytes(loaded, fp16=fp16, metadata=metadata))
    engine = build_engine(onnx_path, spec_for(onnx_path, loaded.in_channels, width, height, batch, "fp16" if fp16 else "fp32"),
                          progress=lambda line: click.echo(line, err=True))
    with atomic_output(dst, overwrite=overwrite) as tmp:
        tmp.write_bytes(engine.read_bytes())
    click.echo(f"wrote {dst} (and {onnx_path}): TensorRT engine for up to {batch} x {width}x{height}")
