"""`vidrestore eval`: score a model on a folder of photos, as the papers do (`vidrestore.eval`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import runtime_options, scale_options
from vidrestore.errors import UsageError

if TYPE_CHECKING:
    from vidrestore.pipeline.build import Runtime


@click.command("eval", short_help="Score a model on photos the way the papers do (PSNR-Y, SSIM-Y, MS-SSIM).")
@click.argument("folders", metavar="FOLDER...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--task", type=click.Choice(["sr", "deblur"]), default=None,
              help="What to score: super-resolution against bicubic, or deblurring against the blurry input "
                   "and Richardson-Lucy. Default: the model's task.")
@click.option("--model", default=None, help="Model name (see `vidrestore models`); default: the architecture named in --weights, else espcn, or srn for --task deblur.")
@click.option("--weights", type=click.Path(path_type=Path), help="A safetensors weights file for the model instead of the shipped one.")
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path),
              help="Score an ONNX graph written by `vidrestore export` instead of a model; its metadata gives the model, task and scale.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Also write the figures (per photo and means) to this JSON file.")
@click.option("--record", "record_path", type=click.Path(path_type=Path),
              help="Write a copy of the weights that records these figures as its held-out validation "
                   "(what `vidrestore models` shows and the live ladder compares).")
@runtime_options()
@click.option("--tile", type=click.IntRange(16, None), help="Run the model on N x N low-resolution tiles (less memory for large photos).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@scale_options("Score {n}x super-resolution.", required=False)
def eval_command(
    folders: tuple[Path, ...],
    task: str | None,
    model: str | None,
    scale: int | None,
    weights: Path | None,
    onnx_path: Path | None,
    json_path: Path | None,
    record_path: Path | None,
    runtime: Runtime,
    tile: int | None,
    debug: bool,
) -> None:
    """Score a model on the photos in FOLDER... (jpg, png, webp, bmp, tiff) the way the papers do.

    Super-resolution (--x2/--x3/--x4): each photo is shrunk N times (MATLAB
    bicubic, antialiased, 8 bits) and brought back by bicubic and by the
    model; PSNR and SSIM compare MATLAB's Y channel of each result with the
    photo's, N pixels in from every border. Photos must have at least 11 + 2N
    pixels on each side; MS-SSIM needs 176 (shown as "-" below that). "grad x
    bic" is the gradient energy of the model's output over bicubic's: above 1
    is sharper.

    Deblurring (--task deblur): each photo is blurred by a random camera-shake
    kernel of 9 to 19 pixels (seeded by its file name) plus noise of sigma 2/255;
    the blurry photo, Richardson-Lucy given the true kernel, and the model are
    scored on Y, 16 pixels in from every border.
    """
    from vidrestore.eval.photos import find_photos
    from vidrestore.eval.run import (check_json_output, check_photos, check_record, choose_graph, choose_model,
                                     open_runner, record_scores, score_photos)

    if onnx_path is not None:
        if model is not None or weights is not None:
            raise UsageError("--onnx scores the graph it names: leave out --model and --weights")
        chosen = choose_graph(onnx_path, task=task, scale=scale)
    else:
        chosen = choose_model(model, task=task, scale=scale, weights=weights)
    paths = find_photos(folders)
    if json_path is not None:
        check_json_output(json_path)
    if record_path is not None:
        check_record(chosen, record_path)
    check_photos(paths, chosen.task, chosen.scale)
    runner = open_runner(chosen, runtime, announce=lambda line: click.echo(line, err=True))
    report = score_photos(runner, chosen, paths, tile=tile, echo=click.echo)
    if json_path is not None:
        report.write_json(json_path)
        click.echo(f"wrote {json_path}", err=True)
    if record_path is not None:
        gain = record_scores(report, record_path)
        click.echo(f"wrote {record_path} (the weights, recording gain {gain:+.3f} dB on these {len(paths)} photos)",
                   err=True)
