"""`vidrestore restore`: deblur -> super-resolution -> filters, one decode, one encode."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import Processing, filter_option, processing_options, scale_options
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
    from vidrestore.pipeline.build import ModelStep
    from vidrestore.pipeline.jobs import run_jobs

    if sr_model is None and scale is not None:
        raise UsageError("a scale needs --sr MODEL (the model that upscales)")
    if sr_model is not None and scale is None:
        raise UsageError("--sr needs a scale: --x2, --x3, --x4 or --scale N")
    steps = []
    if deblur_model is not None:
        steps.append(ModelStep(deblur_model, "deblur", 1, deblur_weights))
    if sr_model is not None:
        steps.append(ModelStep(sr_model, "sr", scale or 1, sr_weights))
    for step in reversed(steps):  # the upscaler's errors first, as before
        step.check()
    if deblur_weights is not None and deblur_model is None:
        raise UsageError("--deblur-weights needs --deblur MODEL")
    if sr_weights is not None and sr_model is None:
        raise UsageError("--sr-weights needs --sr MODEL")
    if deblur_model is None and sr_model is None and not filters:
        raise UsageError("nothing to do: give --deblur MODEL, --sr MODEL with a scale, and/or --filter")
    spec = processing.spec(tuple(steps), filters)
    spec.check()
    jobs = processing.plan(input_path, "restored", spec)
    run_jobs(input_path, jobs, None, echo=processing.echo)
