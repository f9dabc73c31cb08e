"""`vidrestore enhance`: classical filters (tone curves, sharpening, deconvolution)."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import Processing, filter_option, processing_options
from vidrestore.errors import UsageError


@click.command(short_help="Apply classical filters: CLAHE, gamma, sharpening, deconvolution, ...")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@filter_option
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@processing_options
def enhance(input_path: Path, processing: Processing, filters: tuple[str, ...], debug: bool) -> None:
    """Apply each --filter NAME[=VALUE] to INPUT (a video, an image or a folder of
    them), in the order given. Default output: INPUT.enhanced.EXT beside it.

    VALUE is the filter's main parameter and/or key=value pairs, comma-separated:

    \b
      histeq                              histogram equalisation of each R'G'B' channel
      clahe[=CLIP][,tiles=N]              CLAHE on luma (default clip 2, 8x8 tiles)
      sharpen[=AMOUNT]                    3x3 Laplacian sharpening (centre 5 at amount 1)
      unsharp[=AMOUNT][,radius=SIGMA]     unsharp mask (default 1, radius 1)
      gamma=G                             x ** G (G < 1 brightens)
      log[=GAIN]                          gain * log2(1 + x): lifts dark tones
      wiener=PSF[,nsr=K]                  Wiener deconvolution (default nsr 0.01)
      richardson-lucy=PSF[,iterations=N]  Richardson-Lucy deconvolution (default 30)
    PSF: motion:LENGTH:ANGLE, defocus:RADIUS or gaussian:SIGMA (pixels, degrees).

    \b
    Example:
      vidrestore enhance in.mp4 --filter clahe --filter gamma=0.8 --filter richardson-lucy=motion:15:30
    """
    from vidrestore.pipeline.jobs import run_jobs

    if not filters:
        raise UsageError("give at least one --filter NAME[=VALUE]; `vidrestore enhance --help` lists them")
    spec = processing.spec(filters=filters)
    spec.check()
    jobs = processing.plan(input_path, "enhanced", spec)
    run_jobs(input_path, jobs, None, echo=processing.echo)
