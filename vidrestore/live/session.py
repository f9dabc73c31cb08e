"""A live session from what `vidrestore live` was asked for: every check before any
work, the ladder, the source, the sink (or the WebRTC page), a clean end on a
signal, and the stats file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidrestore.pipeline.build import Runtime

if TYPE_CHECKING:
    from vidrestore.io.encode import EncodeOptions

# How long a signal leaves the session to end by itself before the process is ended anyway:
# the engine finishes the frame in hand, the recording's encoder is flushed, the peer
# connection closed, the stats written.
GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class LiveConfig:
    """A live session's settings, as `vidrestore live` takes them."""

    source: str | None = None  # testsrc, a camera, a file or a URL; None: /dev/video0, or the browser's camera for webrtc
    model: str = "espcn"
    weights: Path | None = None  # a weights file for `model`; None: the shipped one
    scale: int | None = None  # None: the model's first
    camera_size: tuple[int, int] | None = None  # None: the camera's own (testsrc: 640x480)
    fps: float | None = None  # None: the camera's own (testsrc: 30)
    budget_ms: float = 100.0
    sink: str = "virtualcam"  # as --sink spells it (`live.sinks.SINKS`)
    duration: float | None = None  # seconds; None: until a signal or the source ends
    runtime: Runtime = field(default_factory=Runtime)
    encode: EncodeOptions | None = None  # the recording's encoder, for file:PATH
    host: str = "127.0.0.1"  # where the WebRTC page is served
    port: int = 8080
    loop: bool = True  # play a file source again from its start when it ends
    overwrite: bool = False  # a recording or stats file may replace an existing file
    stats_json: Path | None = None


@dataclass
class LiveResult:
    summary: dict[str, Any]
    signum: int | None  # the signal that ended the session; None: it ended by itself
    written: str  # what the session wrote, for the line a signal ends it with


class _Written:
    """What the session has written so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, part: str) -> None:
        self.parts.append(part)

    def __call__(self) -> str:
        return "; ".join(self.parts) or "nothing was written"


def run_live(config: LiveConfig, *, show_url: Callable[[str], None], status: Callable[[str], None] | None = None,
             echo: Callable[[str], None] | None = None) -> LiveResult:
    """Run the session `config` describes until its duration passes, its source ends or
    SIGINT/SIGTERM asks it to end (then the recording is still closed and the stats
    written). `show_url` is handed the WebRTC page's address, token included: without
    it the page does not open. `status` gets a status line every second, `echo` the
    backend `auto` took for each model."""
    from vidrestore import signals
    from vidrestore.errors import UsageError
    from vidrestore.io.paths import check_output
    from vidrestore.live.engine import Engine
    from vidrestore.live.governor import open_ladder
    from vidrestore.live.sinks import FileSink, SinkOptions, open_sink
    from vidrestore.live.sources import open_source

    scale = _scale(config)
    source_file = Path(config.source) if config.source else None  # check_output tells whether it names a file at all
    if config.stats_json is not None:
        check_output(config.stats_json, source_file, overwrite=config.overwrite,
                     is_input=f"--stats-json {config.stats_json} is the --source; write the stats to another file")
    stop = signals.Stop()  # Ctrl-C / SIGTERM end the session cleanly: the recording closed, the stats written
    written = _Written()
    info = {"model": config.model, "scale": scale, "sink": config.sink,
            "source": config.source or ("browser" if config.sink == "webrtc" else "/dev/video0")}

    def ladder():
        return open_ladder(config.model, scale, config.runtime, echo, weights=config.weights)

    def open_camera():
        return open_source(config.source, config.camera_size, config.fps, loop=config.loop)

    if config.sink == "webrtc":
        from vidrestore.live.webrtc import WebRTCServer

        def make_engine(src, track_sink, in_size):
            engine = Engine(src, track_sink, ladder(), scale=scale, budget_ms=config.budget_ms, in_size=in_size)
            engine.stats.info.update(info, source=src.name)
            return engine

        make_source = None if config.source is None else open_camera
        if make_source is not None:
            make_source().stop()  # a bad --source fails now, not when the page connects
        server = WebRTCServer(make_engine, source=make_source, source_name=config.source or "browser",
                              host=config.host, port=config.port, budget_ms=config.budget_ms, status=status,
                              announce=show_url)
        with signals.graceful(stop.request, grace=GRACE_SECONDS, outcome=written):
            summary = server.serve(config.duration, stop)
            _write_stats(summary, config, written)
    else:
        options = SinkOptions(overwrite=config.overwrite, source=source_file, encode=config.encode)
        out = open_sink(config.sink, options)  # only checks: nothing is opened yet
        if isinstance(out, FileSink) and config.stats_json is not None and config.stats_json.resolve() == out.path.resolve():
            raise UsageError(f"--stats-json is the recording {out.path}; write the stats to another file")
        src = open_camera()
        engine = Engine(src, out, ladder(), scale=scale, budget_ms=config.budget_ms, duration=config.duration, status=status)
        engine.stats.info.update(info, source=config.source or src.name, sink=out.name)
        engine.stop = stop
        with signals.graceful(stop.request, grace=GRACE_SECONDS, outcome=written):
            summary = engine.run().summary()
            if isinstance(out, FileSink) and out.committed:
                written.add(f"recorded {out.frames} frames to {out.path}")
            _write_stats(summary, config, written)
    return LiveResult(summary, stop.signum, written())


def list_rungs(config: LiveConfig, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The ladder `config` would run on, each rung measured here on a test-pattern frame of
    the camera size (`--size`, else 640x480) as the session's calibration measures it:
    {"input_size", "output_size", "budget_ms", "start": the rung a session would start on,
    "rungs": [{"rung", "calibrated_ms", "gain_db"}, ...] dearest first}."""
    from vidrestore.live.frames import Frame
    from vidrestore.live.governor import Governor, open_ladder
    from vidrestore.live.sources import PatternSource
    from vidrestore.live.stats import LiveStats

    scale = _scale(config)
    w, h = config.camera_size or (640, 480)
    rungs = open_ladder(config.model, scale, config.runtime, echo, weights=config.weights)
    stats = LiveStats(config.budget_ms)
    governor = Governor(rungs, config.budget_ms, stats)
    frame = Frame(*PatternSource((w, h)).planes(0), t=0.0, index=0)
    governor.calibrate(frame, (w, h), (w * scale, h * scale), config.fps or 30.0)
    return {"model": config.model, "scale": scale, "input_size": f"{w}x{h}", "output_size": f"{w * scale}x{h * scale}",
            "budget_ms": config.budget_ms, "start": governor.rung.label, "rungs": stats.summary()["ladder"]}


def _scale(config: LiveConfig) -> int:
    """The scale the session runs at: --scale, else the model's first; checked against the model."""
    from vidrestore.models import get_spec
    from vidrestore.models.registry import check_scale

    spec = get_spec(config.model, "sr")
    scale = config.scale or spec.scales[0]
    check_scale(spec, scale)
    return scale


def _write_stats(summary: dict[str, Any], config: LiveConfig, written: _Written) -> None:
    import json

    from vidrestore.io.paths import atomic_output

    if config.stats_json is not None:
        with atomic_output(config.stats_json, overwrite=config.overwrite) as tmp:
            tmp.write_text(json.dumps(summary, indent=2) + "\n")
        written.add(f"stats in {config.stats_json}")
