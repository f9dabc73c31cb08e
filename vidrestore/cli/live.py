"""`vidrestore live`: a camera enhanced in real time, into a virtual camera, a page, a window or a file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from vidrestore.cli.errors import user_errors
from vidrestore.cli.options import encoder_options, parse_size, runtime_options, scale_options
from vidrestore.pipeline.build import Runtime

if TYPE_CHECKING:  # PyAV: `--help` does not wait for it
    from vidrestore.io.encode import EncodeOptions


@click.command(short_help="Enhance a camera in real time (virtual camera, WebRTC page, window, file).")
@click.option("--source", help="testsrc, a camera (/dev/video0 or 0), a video file (looped at its real rate) "
                               "or a stream URL. Default: /dev/video0; with --sink webrtc, the browser's camera.")
@click.option("--model", default="espcn", show_default=True, help="Super-resolution model (see `vidrestore models`).")
@click.option("--weights", type=click.Path(path_type=Path),
              help="A safetensors weights file for --model instead of the shipped one (the lighter steps keep theirs).")
@click.option("--size", help="Camera / test pattern size WxH (default: the camera's own; testsrc 640x480).")
@click.option("--fps", type=click.FloatRange(1, 240), help="Camera / test pattern frame rate (default: its own; testsrc 30).")
@click.option("--budget-ms", type=click.FloatRange(10, 10000), default=100.0, show_default=True,
              help="Capture-to-output latency the filter keeps under, stepping down to cheaper settings when it must.")
@click.option("--sink", default="virtualcam", show_default=True,
              help="virtualcam[:DEVICE], webrtc, window, file:PATH (.mp4/.mkv/.mov, encoded as --codec "
                   "--crf --preset say) or null.")
@click.option("--duration", type=click.FloatRange(0.1, None), help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--stats-json", type=click.Path(path_type=Path), help="Write latency, fps, drops and the step-downs here on exit.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the WebRTC page is served on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port of the WebRTC page (0: any free one).")
@click.option("--no-loop", is_flag=True, help="Play a file source once instead of looping it.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file:PATH recording or stats file.")
@click.option("--list-rungs", is_flag=True,
              help="Measure the ladder the filter would run on (--model, the scale, --size, the runtime) on a test "
                   "frame here and print each rung's cost and held-out quality, then exit; with --stats-json, as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No status line.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@runtime_options()
@encoder_options(preset="veryfast")
@scale_options("Upscale {n}x.", required=False)
def live(source: str | None, model: str, weights: Path | None, size: str | None, fps: float | None, budget_ms: float, sink: str,
         duration: float | None, stats_json: Path | None, runtime: Runtime, encode: EncodeOptions, host: str, port: int,
         no_loop: bool, overwrite: bool, list_rungs: bool, quiet: bool, debug: bool, scale: int | None) -> None:
    """Enhance a live source frame by frame, the newest frame first, within a latency
    budget: when a frame would take too long the filter steps down to a lighter model
    (each one better than every cheaper one on held-out photos, down to bicubic) and
    steps back up when there is headroom. Latency p50/p95/max, fps and drops show on
    the status line and go to --stats-json; --list-rungs shows the ladder."""
    from vidrestore.errors import Interrupted
    from vidrestore.live.engine import stderr_status
    from vidrestore.live.session import LiveConfig, run_live

    config = LiveConfig(source=source, model=model, weights=weights, scale=scale, camera_size=parse_size(size), fps=fps,
                        budget_ms=budget_ms, sink=sink, duration=duration, runtime=runtime, encode=encode,
                        host=host, port=port, loop=not no_loop, overwrite=overwrite, stats_json=stats_json)
    if list_rungs:
        _list_rungs(config, quiet)
        return

    def show_url(url: str) -> None:  # shown even with -q: without the token the page does not open
        click.echo(f"open {url} in a browser (allow the camera); the enhanced video plays there", err=True)

    echo = None if quiet else (lambda line: click.echo(line, err=True))
    result = run_live(config, show_url=show_url, status=None if quiet else stderr_status(), echo=echo)
    if not quiet:
        summary = result.summary
        lat = summary.get("latency_ms") or {}
        click.echo(f"\nlive: {summary.get('frames_out', 0)} frames in {summary.get('seconds', 0):.1f} s "
                   f"({summary.get('fps', 0):.1f} fps), latency p50 {lat.get('p50', 0):.0f} ms, p95 {lat.get('p95', 0):.0f}, "
                   f"max {lat.get('max', 0):.0f}; {summary.get('drops_per_minute', 0):.0f} drops/min", err=True)
    if result.signum is not None:
        raise Interrupted(result.signum, result.written)


def _list_rungs(config, quiet: bool) -> None:
    import json

    from vidrestore.io.paths import atomic_output, check_output
    from vidrestore.live.session import list_rungs

    if config.stats_json is not None:
        check_output(config.stats_json, None, overwrite=config.overwrite)
    ladder = list_rungs(config, None if quiet else (lambda line: click.echo(line, err=True)))
    if config.stats_json is not None:
        with atomic_output(config.stats_json, overwrite=config.overwrite) as tmp:
            tmp.write_text(json.dumps(ladder, indent=2) + "\n")
    click.echo(f"{ladder['model']} x{ladder['scale']}, {ladder['input_size']} -> {ladder['output_size']}, "
               f"measured here on a test frame; quality: PSNR-Y gain over bicubic on held-out photos")
    click.echo(f"{'RUNG':<14}{'COST/FRAME':>12}  QUALITY")
    for row in ladder["rungs"]:
        gain = row["gain_db"]
        quality = "baseline" if row["rung"] == "bicubic" else ("not recorded" if gain is None else f"{gain:+.2f} dB")
        click.echo(f"{row['rung']:<14}{row['calibrated_ms']:>9.1f} ms  {quality}")
    click.echo(f"a {ladder['budget_ms']:g} ms budget starts on: {ladder['start']}")
