"""`vidrestore restore`: deblur -> super-resolution -> filters, one decode, one encode."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli import user_errors
from vidrestore.cli.options import Processing, filter_option, parse_filters, processing_options, scale_options
from vidrestore.errors import UsageError


@click.command(short_help="Chain deblurring, super-resolution and filters in one pass.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--deblur", "deblur_model", metavar="MODEL", help="Deblur first with this model (srn, deepdeblur).")
@click.option("--deblur-weights", type=click.Path(path_type=Path), help="Weights file for the deblurring model.")
@click.option("--sr", "sr_model", metavar="MODEL", help="Then upscale with this model (espcn, edsr, ...); needs a scale.")
@click.option("--sr-weights", type=click.Path(path_type=Path), help="Weights file for the super-resolution model.")
@filter_option
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@processing_options
@scale_options("Upscale {n}x (with --sr).", required=False)
def restore(input_path: Path, processing: Processing, scale: int | None, deblur_model: str | None,
            deblur_weights: Path | None, sr_model: str | None, sr_weights: Path | None, filters: tuple[str, ...], debug: bool) -> None:
    """Restore INPUT (a video, an image or a folder): --deblur MODEL, then --sr MODEL
    at --x2/--x3/--x4, then each --filter, in that order, in one pass.

    Frames are decoded once, go through the whole chain as R'G'B' floats (no
    rounding between the steps) and are encoded once. Default output:
    INPUT.restored.EXT beside the input.
    """
    from vidrestore.cli.jobs import model_stage, prepare, run_jobs
    from vidrestore.models.registry import check_scale, get_spec
    from vidrestore.pipeline.chain import Chain, FilterStage

    if sr_model is None and scale is not None:
        raise UsageError("a scale needs --sr MODEL (the model that upscales)")
    if sr_model is not None:
        if scale is None:
            raise UsageError("--sr needs a scale: --x2, --x3, --x4 or --scale N")
        check_scale(get_spec(sr_model, "sr"), scale)
    if deblur_model is not None:
        get_spec(deblur_model, "deblur")
    if deblur_weights is not None and deblur_model is None:
        raise UsageError("--deblur-weights needs --deblur MODEL")
    if sr_weights is not None and sr_model is None:
        raise UsageError("--sr-weights needs --sr MODEL")
    if deblur_model is None and sr_model is None and not filters:
        raise UsageError("nothing to do: give --deblur MODEL, --sr MODEL with a scale, and/or --filter")
    parsed = parse_filters(filters)
    jobs = prepare(input_path, "restored", processing)
    stages = []
    if deblur_model is not None:
        stages.append(model_stage(deblur_model, "deblur", 1, deblur_weights, processing))
    if sr_model is not None:
        stages.append(model_stage(sr_model, "sr", scale, sr_weights, processing))
    if parsed:
        stages.append(FilterStage(parsed))
    run_jobs(input_path, jobs, Chain(stages), processing)
