"""`vidrestore upscale`: super-resolution of videos, images and folders."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import Processing, processing_options, scale_options


@click.command(short_help="Upscale videos, images or folders x2, x3 or x4.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--model", default=None, help="Model name (see `vidrestore models`); default: espcn.")
@click.option("--weights", type=click.Path(path_type=Path), help="A safetensors weights file for the model instead of the shipped one.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@processing_options
@scale_options("Upscale {n}x.")
def upscale(input_path: Path, processing: Processing, scale: int, model: str | None, weights: Path | None, debug: bool) -> None:
    """Make INPUT (a video, an image or a folder of them) N times larger."""
    from vidrestore.models import DEFAULT_SR_MODEL
    from vidrestore.pipeline.build import ModelStep
    from vidrestore.pipeline.jobs import run_jobs

    step = ModelStep(model or DEFAULT_SR_MODEL, "sr", scale, weights)
    step.check()
    spec = processing.spec((step,))
    jobs = processing.plan(input_path, f"x{scale}", spec)
    run_jobs(input_path, jobs, None, echo=processing.echo)
