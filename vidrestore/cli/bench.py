"""`vidrestore bench`: how fast each stage runs alone, and how close the pipeline comes."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import encoder_options, parse_size, runtime_options, scale_options


@click.command(short_help="Measure decode, inference, encode and the pipeline.")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("--model", default="espcn", show_default=True, help="Model name (see `vidrestore models`).")
@click.option("--batch", "batch_sizes", multiple=True, type=click.IntRange(1, 256), help="Batch size to time; repeatable. Default: 4.")
@click.option("--frames", type=click.IntRange(1, None), default=100, show_default=True,
              help="Frames to run (a short input is looped).")
@click.option("--size", help="Scale the frames to WxH first (e.g. 640x360 for 360p).")
@click.option("--no-naive", is_flag=True, help="Skip the naive one-frame-at-a-time loop.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the results as JSON here.")
@click.option("--record", is_flag=True, help="Also keep the JSON and a markdown table in bench/results/.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@runtime_options(repeatable=True)
@encoder_options()
@scale_options("Benchmark the x{n} model.", required=False)
def bench(input_path: Path, model: str, backends: tuple[str, ...], precisions: tuple[str, ...], batch_sizes: tuple[int, ...],
          frames: int, size: str | None, device: str, encode, no_naive: bool, json_path: Path | None, record: bool,
          scale: int | None, debug: bool) -> None:
    """Measure, in one run on INPUT: decode alone; inference alone for every
    backend, precision and batch asked for; encode alone; the overlapped
    pipeline end to end; and a naive one-frame loop. Prints a table, and the
    pipeline's efficiency: its fps over the slowest stage's fps alone."""
    from vidrestore.bench.pipeline import BenchConfig, run_bench, save
    from vidrestore.io.probe import probe
    from vidrestore.models import get_spec

    probe(input_path)  # not a video: one line now, not an FFmpeg error minutes in
    if json_path is not None:
        from vidrestore.io.paths import check_output

        check_output(json_path, input_path, overwrite=True)  # a report, replaced like a log; never the input
    spec = get_spec(model)
    config = BenchConfig(model=model, scale=scale or spec.scales[0], backends=backends or ("auto",),
                         precisions=precisions or ("fp32",), batches=batch_sizes or (4,), frames=frames,
                         size=parse_size(size), device=device, naive=not no_naive,
                         encode=encode)
    result = run_bench(input_path, config, log=lambda line: click.echo(line, err=True))
    for path in save(result, json_path, record):
        click.echo(f"wrote {path}", err=True)
