"""`vidrestore weights import`: bring-your-own EDSR checkpoints as safetensors weights."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import scale_options
from vidrestore.errors import UsageError


@click.group(short_help="Manage weights files (import foreign checkpoints).")
def weights() -> None:
    """Weights files for the models."""


@weights.command("import", short_help="Convert an EDSR checkpoint (EDSR-PyTorch or BasicSR) to a weights file.")
@click.argument("source", metavar="FILE", type=click.Path(path_type=Path))
@click.option("--arch", required=True, help="The model the weights are for: edsr or edsr-large.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="The .safetensors file to write.")
@click.option("--key", help="The checkpoint entry holding the tensors. Default: params_ema, else params, else the top level.")
@click.option("--res-scale", type=float, help="Residual scaling the checkpoint was trained with. Default: the --arch's (edsr 1, edsr-large 0.1).")
@click.option("--half", is_flag=True, help="Store float16 tensors (half the size).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@scale_options("The checkpoint upscales {n}x.")
def import_weights(
    source: Path,
    arch: str,
    scale: int,
    output: Path,
    key: str | None,
    res_scale: float | None,
    half: bool,
    overwrite: bool,
    debug: bool,
) -> None:
    """Convert FILE (.pt, .pth, .ckpt or .safetensors) to OUTPUT for `upscale --model ARCH --weights OUTPUT`.

    Blocks, features and scale are read from the tensors and checked against
    EDSR's bounds before any model is built. Checkpoints are loaded
    weights-only: a file holding pickled Python objects is refused.
    """
    from vidrestore.cli.models import format_count
    from vidrestore.io.paths import check_output
    from vidrestore.models.convert import FORMAT_NAMES, get_importable, import_edsr
    from vidrestore.models.weights import count_parameters, save_weights

    factor = scale
    spec = get_importable(arch)
    if output.suffix.lower() != ".safetensors":
        raise UsageError(f"{output}: weights are written as safetensors; give -o a .safetensors name")
    check_output(output, source, overwrite=overwrite)
    imported = import_edsr(source, spec, factor, key=key, res_scale=res_scale)
    extra = {"source": source.name, "source_format": imported.source_format}
    if imported.source_key is not None:
        extra["source_key"] = imported.source_key
    save_weights(imported.model, output, arch=spec.name, scale=factor, options=imported.options, extra=extra, half=half, overwrite=overwrite)
    options = imported.options
    mean = f", mean ({', '.join(f'{v:.4f}' for v in options['mean'])})" if "mean" in options else ""
    entry = f" ({imported.source_key})" if imported.source_key else ""
    click.echo(
        f"wrote {output}: {spec.name} x{factor}, {options['blocks']} blocks, {options['features']} features, "
        f"rgb_range {options['rgb_range']:g}{mean}, {format_count(count_parameters(imported.model))} parameters; "
        f"from the {FORMAT_NAMES[imported.source_format]} layout{entry}",
        err=True,
    )
