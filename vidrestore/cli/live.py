"""`vidrestore live`: a camera enhanced in real time, into a virtual camera, a page, a window or a file."""

from __future__ import annotations

from pathlib import Path

import click

from vidrestore.cli import user_errors
from vidrestore.cli.options import BACKEND_NAMES, parse_size, scale_options

# How long a signal leaves the session to end by itself before the process is ended anyway:
# the engine finishes the frame in hand, the recording's encoder is flushed, the peer
# connection closed, the stats written.
GRACE_SECONDS = 3.0


@click.command(short_help="Enhance a camera in real time (virtual camera, WebRTC page, window, file).")
@click.option("--source", help="testsrc, a camera (/dev/video0 or 0), a video file (looped at its real rate) "
                               "or a stream URL. Default: /dev/video0; with --sink webrtc, the browser's camera.")
@click.option("--model", default="espcn", show_default=True, help="Super-resolution model (see `vidrestore models`).")
@click.option("--size", help="Camera / test pattern size WxH (default: the camera's own; testsrc 640x480).")
@click.option("--fps", type=click.FloatRange(1, 240), help="Camera / test pattern frame rate (default: its own; testsrc 30).")
@click.option("--budget-ms", type=click.FloatRange(10, 10000), default=100.0, show_default=True,
              help="Capture-to-output latency the filter keeps under, stepping down to cheaper settings when it must.")
@click.option("--sink", default="virtualcam", show_default=True,
              help="virtualcam[:DEVICE], webrtc, window, file:PATH (.mp4/.mkv/.mov) or null.")
@click.option("--duration", type=click.FloatRange(0.1, None), help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--stats-json", type=click.Path(path_type=Path), help="Write latency, fps, drops and the step-downs here on exit.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--backend", type=click.Choice(BACKEND_NAMES), default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the WebRTC page is served on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port of the WebRTC page (0: any free one).")
@click.option("--no-loop", is_flag=True, help="Play a file source once instead of looping it.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file:PATH recording or stats file.")
@click.option("-q", "--quiet", is_flag=True, help="No status line.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@user_errors
@scale_options("Upscale {n}x.", required=False)
def live(source: str | None, model: str, size: str | None, fps: float | None, budget_ms: float, sink: str,
         duration: float | None, stats_json: Path | None, device: str, backend: str, precision: str, host: str, port: int,
         no_loop: bool, overwrite: bool, quiet: bool, debug: bool, scale: int | None) -> None:
    """Enhance a live source frame by frame, the newest frame first, within a latency
    budget: when a frame would take too long the filter steps down (the model on a
    smaller input, then lighter models) and steps back up when there is headroom.
    Latency p50/p95/max, fps and drops show on the status line and go to --stats-json."""
    from vidrestore import signals
    from vidrestore.errors import Interrupted, UsageError
    from vidrestore.io.paths import check_output
    from vidrestore.live.engine import Engine, build_ladder, stderr_status
    from vidrestore.live.sinks import FileSink, open_sink
    from vidrestore.live.sources import open_source
    from vidrestore.models import get_spec
    from vidrestore.models.registry import check_scale

    spec = get_spec(model, "sr")
    scale = scale or spec.scales[0]
    check_scale(spec, scale)
    source_file = Path(source) if source else None  # check_output tells whether it names a file at all
    if stats_json is not None:
        check_output(stats_json, source_file, overwrite=overwrite,
                     is_input=f"--stats-json {stats_json} is the --source; write the stats to another file")
    camera_size = parse_size(size)
    make = _processor_factory(scale, device, backend, precision, quiet)
    status = None if quiet else stderr_status()
    stop = signals.Stop()  # Ctrl-C / SIGTERM end the session cleanly: the recording closed, the stats written
    written = _Written()
    info = {"model": model, "scale": scale, "sink": sink, "source": source or ("browser" if sink == "webrtc" else "/dev/video0")}

    if sink == "webrtc":
        from vidrestore.live.webrtc import WebRTCServer

        def make_engine(src, track_sink, in_size):
            engine = Engine(src, track_sink, build_ladder(model, scale, make), scale=scale, budget_ms=budget_ms,
                            in_size=in_size)
            engine.stats.info.update(info, source=src.name)
            return engine

        def announce(url: str) -> None:  # shown even with -q: without the token the page does not open
            click.echo(f"open {url} in a browser (allow the camera); the enhanced video plays there", err=True)

        make_source = None if source is None else (lambda: open_source(source, camera_size, fps, loop=not no_loop))
        if make_source is not None:
            make_source().stop()  # a bad --source fails now, not when the page connects
        server = WebRTCServer(make_engine, source=make_source, source_name=source or "browser", host=host, port=port,
                              budget_ms=budget_ms, status=status, announce=announce)
        with signals.graceful(stop.request, grace=GRACE_SECONDS, outcome=written):
            summary = server.serve(duration, stop)
            _finish(summary, stats_json, quiet, overwrite=overwrite, written=written)
    else:
        out = open_sink(sink, overwrite=overwrite, source=source_file)  # only checks: nothing is opened yet
        if isinstance(out, FileSink) and stats_json is not None and stats_json.resolve() == out.path.resolve():
            raise UsageError(f"--stats-json is the recording {out.path}; write the stats to another file")
        src = open_source(source, camera_size, fps, loop=not no_loop)
        engine = Engine(src, out, build_ladder(model, scale, make), scale=scale, budget_ms=budget_ms, duration=duration, status=status)
        engine.stats.info.update(info, source=source or src.name, sink=out.name)
        engine.stop = stop
        with signals.graceful(stop.request, grace=GRACE_SECONDS, outcome=written):
            stats = engine.run()
            if isinstance(out, FileSink) and out.committed:
                written.add(f"recorded {out.frames} frames to {out.path}")
            _finish(stats.summary(), stats_json, quiet, overwrite=overwrite, written=written)
    if stop.signum is not None:
        raise Interrupted(stop.signum, written())


class _Written:
    """What the session has written so far, for the line a signal ends it with."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, part: str) -> None:
        self.parts.append(part)

    def __call__(self) -> str:
        return "; ".join(self.parts) or "nothing was written"


def _processor_factory(scale: int, device: str, backend: str, precision: str, quiet: bool):
    """name -> a super-resolution processor for one frame at a time."""
    from vidrestore.backends import open_backend
    from vidrestore.models import build_model, get_spec
    from vidrestore.pipeline.processor import MODEL_STAGES

    def make(name: str):
        spec = get_spec(name, "sr")
        runtime = open_backend(backend, build_model(spec, scale), device, precision)  # type: ignore[arg-type]
        if not quiet:
            click.echo(f"{name}: {runtime.name} backend on {runtime.device} ({precision})", err=True)
        return MODEL_STAGES[spec.color](runtime, scale)

    return make


def _finish(summary: dict, stats_json: Path | None, quiet: bool, *, overwrite: bool, written: _Written) -> None:
    import json

    from vidrestore.io.paths import atomic_output

    if stats_json is not None:
        with atomic_output(stats_json, overwrite=overwrite) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
        written.add(f"stats in {stats_json}")
    if not quiet:
        lat = summary.get("latency_ms") or {}
        click.echo(f"\nlive: {summary.get('frames_out', 0)} frames in {summary.get('seconds', 0):.1f} s "
                   f"({summary.get('fps', 0):.1f} fps), latency p50 {lat.get('p50', 0):.0f} ms, p95 {lat.get('p95', 0):.0f}, "
                   f"max {lat.get('max', 0):.0f}; {summary.get('drops_per_minute', 0):.0f} drops/min", err=True)
