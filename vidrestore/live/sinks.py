"""Where live frames go: nowhere (to measure), a file, a preview window, a virtual
camera that Zoom, Meet or Teams can pick, or the outgoing track of the WebRTC page
(whose server is `live.webrtc`).

`SINKS` names every sink `--sink` can ask for, each with the factory that builds
it from what follows its name ("file:PATH", "virtualcam:DEVICE"; None when
nothing does) and the session's `SinkOptions`. Optional packages (OpenCV,
pyvirtualcam, aiortc) are imported by the sink that needs them, when it is built.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import av
import numpy as np

from vidrestore.errors import BackendUnavailable, UsageError
from vidrestore.frames import FrameBatch
from vidrestore.live.frames import LIVE_FORMAT, LIVE_STREAM, Frame, to_av, to_i420, to_rgb

if TYPE_CHECKING:
    from vidrestore.io.encode import EncodeOptions, VideoEncoder

log = logging.getLogger(__name__)

# A recording's frames come at the pace they were made, each at its own time: these containers
# keep such times as they are (AVI, for one, assumes a constant rate).
RECORDING_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")
MILLISECOND = fractions.Fraction(1, 1000)
VIDEO_CLOCK = 90000  # RTP's video clock rate


class Sink(Protocol):
    name: str
    closed: bool  # set by a sink the user closed (the preview window): the session ends

    def open(self, size: tuple[int, int], fps: float) -> None: ...

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None: ...

    def close(self, *, complete: bool) -> None: ...


@dataclass(frozen=True)
class SinkOptions:
    """What a sink may need beyond its `--sink` spelling."""

    overwrite: bool = False  # a recording may replace an existing file
    source: Path | None = None  # the --source file, which a recording may never replace
    encode: EncodeOptions | None = None  # a recording's encoder (None: `EncodeOptions()`)
    loop: asyncio.AbstractEventLoop | None = None  # the WebRTC server's event loop, where its track runs


class NullSink:
    name = "null"
    closed = False

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.size = size

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None:
        pass

    def close(self, *, complete: bool) -> None:
        pass


class _NothingRecorded(Exception):
    """Unwinds a recording that got no frame: its temporary goes, no file is committed."""


class FileSink:
    """A recording at the pace frames came out (variable frame rate, millisecond
    timestamps from capture times), encoded as `encode` says and written through
    `io.paths.atomic_output` like every output: never over the source, never over a
    file that appeared meanwhile (unless --overwrite), and its temporary removed if
    the recording fails or a signal ends the process."""

    closed = False

    def __init__(self, path: Path, *, overwrite: bool = False, source: Path | None = None,
                 encode: EncodeOptions | None = None) -> None:
        from vidrestore.io.encode import EncodeOptions, check_encoder_usable
        from vidrestore.io.mux import check_codec_fits, container_format
        from vidrestore.io.paths import check_output

        self.path = path
        self.name = f"file:{path}"
        self.overwrite = overwrite
        self.encode = encode or EncodeOptions()
        if path.suffix.lower() not in RECORDING_SUFFIXES:
            raise UsageError(f"--sink file:{path}: name it .mp4, .mkv or .mov, which keep each live frame's own time")
        check_output(path, source, overwrite=overwrite, is_input=f"--sink file:{path} is the --source; record to another file")
        check_encoder_usable(self.encode.codec)
        check_codec_fits(container_format(path), self.encode.spec.format_codec, self.encode.codec)
        self.encoder: VideoEncoder | None = None
        self.output: ExitStack | None = None  # from open() to close(): the temporary, then the container
        self.committed = False

    @property
    def frames(self) -> int:
        return 0 if self.encoder is None else self.encoder.frames

    def open(self, size: tuple[int, int], fps: float) -> None:
        from vidrestore.io.encode import VideoEncoder
        from vidrestore.io.mux import container_format
        from vidrestore.io.paths import atomic_output

        with ExitStack() as stack:  # a failure here unwinds both: the container closed, the temporary removed
            tmp = stack.enter_context(atomic_output(self.path, overwrite=self.overwrite))
            container = stack.enter_context(av.open(str(tmp), "w", format=container_format(self.path)))
            # `rate` is nominal: every frame carries its own time.
            self.encoder = VideoEncoder(container, self.encode, width=size[0], height=size[1], stream=LIVE_STREAM,
                                        time_base=MILLISECOND, rate=fractions.Fraction(max(1, round(fps))), metadata={})
            self.output = stack.pop_all()
        self.first: float | None = None
        self.last_pts = -1

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None:
        self.first = frame.t if self.first is None else self.first
        pts = max(round(1000 * (frame.t - self.first)), self.last_pts + 1)
        self.encoder.encode(FrameBatch(luma[None], chroma[None], [pts], LIVE_FORMAT))
        self.last_pts = pts

    def close(self, *, complete: bool) -> None:
        output, self.output = self.output, None
        try:
            # Unwound in reverse: the container closes, then its temporary is committed (or
            # removed, when anything in here raised).
            with output:
                if self.frames == 0:
                    raise _NothingRecorded
                self.encoder.flush()
                # A session that ended on an error still keeps what it recorded: the file is
                # finished and every frame in it whole.
                if not complete:
                    log.warning("the session ended early; %s keeps the %d frames recorded before that", self.path, self.frames)
        except _NothingRecorded:
            return
        self.committed = True


class WindowSink:
    """A preview window (OpenCV's highgui); closing it or pressing q ends the session."""

    name = "window"

    def __init__(self) -> None:
        try:
            import cv2
        except ImportError:
            raise BackendUnavailable("--sink window needs OpenCV with a GUI: pip install opencv-python") from None
        if os.name == "posix" and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            raise BackendUnavailable("--sink window needs a display, and DISPLAY is not set; use --sink file:PATH or null")
        self.cv2 = cv2
        self.closed = False  # closing the window or pressing q ends the session

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.cv2.namedWindow("vidrestore live", self.cv2.WINDOW_NORMAL)
        self.cv2.resizeWindow("vidrestore live", *size)

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None:
        self.cv2.imshow("vidrestore live", to_av(luma, chroma).to_ndarray(format="bgr24"))
        key = self.cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27) or self.cv2.getWindowProperty("vidrestore live", self.cv2.WND_PROP_VISIBLE) < 1:
            self.closed = True  # the engine ends the session after this frame

    def close(self, *, complete: bool) -> None:
        self.cv2.destroyAllWindows()


class VirtualCamSink:
    """A virtual camera through pyvirtualcam: v4l2loopback on Linux (frames go in as
    I420, the loopback device's own layout, so no colour conversion is needed),
    OBS's virtual camera on Windows and macOS (RGB)."""

    closed = False

    def __init__(self, device: str | None = None) -> None:
        try:
            import pyvirtualcam  # noqa: F401
        except ImportError:
            raise BackendUnavailable("--sink virtualcam needs pyvirtualcam: pip install 'vidrestore[live]'") from None
        self.device = device
        self.name = "virtualcam"
        self.camera = None

    def open(self, size: tuple[int, int], fps: float) -> None:
        import pyvirtualcam

        self.i420 = os.name == "posix" and not _is_macos()
        fmt = pyvirtualcam.PixelFormat.I420 if self.i420 else pyvirtualcam.PixelFormat.RGB
        try:
            self.camera = pyvirtualcam.Camera(width=size[0], height=size[1], fps=fps, fmt=fmt, device=self.device)
        except RuntimeError as exc:
            hint = ("load v4l2loopback first: sudo modprobe v4l2loopback exclusive_caps=1 card_label=vidrestore"
                    if self.i420 else "install OBS Studio and start its virtual camera once")
            raise BackendUnavailable(f"no virtual camera could be opened ({exc}); {hint}") from None
        self.name = f"virtualcam:{self.camera.device}"
        log.info("virtual camera %s is ready: pick it in the video call's camera menu", self.camera.device)

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None:
        self.camera.send(to_i420(luma, chroma) if self.i420 else to_rgb(luma, chroma))

    def close(self, *, complete: bool) -> None:
        if self.camera is not None:
            self.camera.close()


def _is_macos() -> bool:
    import platform

    return platform.system() == "Darwin"


class TrackSink:
    """The WebRTC page's sink: enhanced frames handed to its outgoing `track` on the
    server's event loop (the engine runs in a thread of its own)."""

    name = "webrtc"
    closed = False

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.track = _track_class()()

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.size = size

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None:
        self.loop.call_soon_threadsafe(self.track.offer, to_av(luma, chroma))

    def close(self, *, complete: bool) -> None:
        pass


def _track_class():
    from aiortc import MediaStreamTrack

    class EnhancedTrack(MediaStreamTrack):
        """The outgoing video: whatever the engine produced last, as soon as it did."""

        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.queue: asyncio.Queue = asyncio.Queue(maxsize=1)
            self.start: float | None = None

        def offer(self, frame) -> None:  # on the event loop
            if self.queue.full():
                self.queue.get_nowait()  # newest only: the encoder is behind, the older frame goes
            self.queue.put_nowait(frame)

        async def recv(self):
            frame = await self.queue.get()
            now = time.monotonic()
            self.start = self.start or now
            frame.pts = int((now - self.start) * VIDEO_CLOCK)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
            return frame

    return EnhancedTrack


SinkFactory = Callable[[str | None, SinkOptions], Sink]


def _bare(name: str, make: Callable[[SinkOptions], Sink]) -> SinkFactory:
    """The factory of a sink that takes nothing after its name."""

    def factory(arg: str | None, options: SinkOptions) -> Sink:
        if arg is not None:
            raise UsageError(f"--sink {name} takes nothing after its name, not {name}:{arg}")
        return make(options)

    return factory


def _file(arg: str | None, options: SinkOptions) -> Sink:
    if not arg:
        raise UsageError("--sink file:PATH needs a path, e.g. file:call.mp4")
    return FileSink(Path(arg), overwrite=options.overwrite, source=options.source, encode=options.encode)


def _track(options: SinkOptions) -> Sink:
    if options.loop is None:
        raise ValueError("the webrtc sink runs on the page server's event loop (live.webrtc)")
    return TrackSink(options.loop)


SINKS: dict[str, SinkFactory] = {
    "virtualcam": lambda arg, options: VirtualCamSink(arg or None),
    "webrtc": _bare("webrtc", _track),
    "window": _bare("window", lambda options: WindowSink()),
    "file": _file,
    "null": _bare("null", lambda options: NullSink()),
}


def open_sink(spec: str, options: SinkOptions | None = None) -> Sink:
    """The sink `--sink spec` names (NAME or NAME:ARGUMENT, see `SINKS`); only checks
    are made here, the sink's output opens with `Sink.open`."""
    name, colon, arg = spec.partition(":")
    factory = SINKS.get(name)
    if factory is None:
        raise UsageError(f"unknown --sink {spec!r}; expected virtualcam, webrtc, window, file:PATH or null")
    return factory(arg if colon else None, options or SinkOptions())
