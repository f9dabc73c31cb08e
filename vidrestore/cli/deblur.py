"""`vidrestore deblur`: remove motion and defocus blur from videos, images and folders."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import Processing, processing_options


@click.command(short_help="Remove motion and defocus blur from videos, images or folders.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--model", default=None, help="Deblurring model: srn (default) or deepdeblur.")
@click.option("--weights", type=click.Path(path_type=Path), help="A safetensors weights file for the model instead of the shipped one.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@processing_options
def deblur(input_path: Path, processing: Processing, model: str | None, weights: Path | None, debug: bool) -> None:
    """Deblur INPUT (a video, an image or a folder of them) with a deblurring network.

    The output keeps the input's size, timing, sound, subtitles and colour
    description. Default output: INPUT.deblur.EXT beside the input.
    """
    from vidrestore.models.registry import DEFAULT_DEBLUR_MODEL
    from vidrestore.pipeline.build import ModelStep
    from vidrestore.pipeline.jobs import run_jobs

    spec = processing.spec((ModelStep(model or DEFAULT_DEBLUR_MODEL, "deblur", 1, weights),))
    jobs = processing.plan(input_path, "deblur", spec)
    run_jobs(input_path, jobs, None, echo=processing.echo)
