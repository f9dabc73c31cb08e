"""Live sources: a camera, a file or stream played at its real rate, a test pattern,
or frames pushed in from elsewhere (a browser's camera over WebRTC).

Each runs its own capture thread into a `Mailbox` that holds the newest frame
only: a frame the engine was too busy to take is replaced by the next one and
counted as dropped, so the engine never works on a stale picture.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from vidrestore.errors import InputError, UsageError
from vidrestore.live.frames import Frame, from_av

log = logging.getLogger(__name__)

_STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


class Mailbox:
    """The newest frame, thread-safe; `dropped` counts frames replaced before anyone took them."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._cond = threading.Condition()
        self.put_count = 0
        self.dropped = 0
        self.closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.put_count += 1
            self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        """The newest frame (waiting up to `timeout` s for one); None on timeout or when closed and empty."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self.closed, timeout=timeout)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class Source:
    """Frames into a mailbox, for the engine to take the newest of."""

    name = "source"

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.error: BaseException | None = None
        self.size: tuple[int, int] | None = None
        self.fps: float = 30.0

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    @property
    def ended(self) -> bool:
        return self.mailbox.closed


class CaptureSource(Source, ABC):
    """A source with a capture thread of its own: subclasses yield frames from `_frames()`."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"live-{self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self._frames():
                if self._stop.is_set():
                    break
                self.mailbox.put(frame)
        except BaseException as exc:  # noqa: BLE001 - reported by the engine
            self.error = exc
        finally:
            self.mailbox.close()

    @abstractmethod
    def _frames(self) -> Iterator[Frame]:
        """Captured frames, as they come, until the source ends or `_stop` is set."""

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


def _paced(frames: Iterator[tuple[av.VideoFrame, float]], stop: threading.Event) -> Iterator[tuple[av.VideoFrame, float]]:
    """Frames released at the times their timestamps say (seconds from the first), as a camera would."""
    start = time.monotonic()
    for frame, at in frames:
        delay = start + at - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        yield frame, at


class PatternSource(CaptureSource):
    """A synthetic moving scene at a steady rate: colour bars, a sweeping gradient,
    fine stripes and a bouncing square, so sharpening and motion both show."""

    name = "testsrc"

    def __init__(self, size: tuple[int, int] = (640, 480), fps: float = 30.0) -> None:
        super().__init__()
        w, h = size
        if w < 16 or h < 16 or w % 2 or h % 2:
            raise UsageError(f"--size {w}x{h}: width and height must be even and at least 16")
        self.size, self.fps = size, fps
        # Rows of one kind are whole bands, so each frame is a few slice writes, not masks over
        # every pixel: the source must leave the cores to the filter it feeds.
        xx = np.arange(w)
        bars = np.array([235, 210, 170, 145, 106, 81, 41, 16], dtype=np.uint8)
        self._bars = np.broadcast_to(bars[(xx * 8 // w).clip(0, 7)], (h, w))
        yy = np.arange(h // 3, h // 2)[:, None]
        self._stripes = np.where((xx[None, :] // 2 + yy // 2) % 2 == 0, 60, 190).astype(np.uint8)
        self._ramp = xx / w
        self._cb = np.full((h // 2, w // 2), 128, dtype=np.uint8)
        self._cb[: h // 6] = 90 + (np.arange(w // 2) * 80 // (w // 2)).astype(np.uint8)[None, :]
        self._cr = np.full((h // 2, w // 2), 128, dtype=np.uint8)
        self._cr[: h // 6] = 170

    def planes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        w, h = self.size
        t = index / self.fps
        luma = self._bars.copy()
        luma[h * 2 // 3 :] = (16 + 219 * ((self._ramp + 0.25 * t) % 1.0)).astype(np.uint8)
        luma[h // 3 : h // 2] = self._stripes
        side = max(8, h // 6)
        x0 = int((w - side) * (0.5 + 0.5 * math.sin(1.3 * t)))
        y0 = int((h - side) * (0.5 + 0.5 * math.cos(0.9 * t)))
        luma[y0 : y0 + side, x0 : x0 + side] = 235
        return luma, np.stack([self._cb, self._cr])

    def _frames(self) -> Iterator[Frame]:
        start = time.monotonic()
        index = 0
        while not self._stop.is_set():
            due = start + index / self.fps
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            luma, chroma = self.planes(index)
            yield Frame(luma, chroma, time.monotonic(), index)
            index += 1


class VideoSource(CaptureSource):
    """A file or network stream through PyAV, at its real rate; a file loops by default."""

    name = "file"

    def __init__(self, url: str, *, loop: bool = True) -> None:
        super().__init__()
        self.url = url
        self.network = url.startswith(_STREAM_SCHEMES)
        self.loop = loop and not self.network
        if not self.network:
            path = Path(url)
            if not path.is_file():
                raise InputError(f"{url}: no such file")
        try:
            with av.open(url, timeout=10.0) as container:
                if not container.streams.video:
                    raise InputError(f"{url}: has no video stream")
                stream = container.streams.video[0]
                self.size = (stream.codec_context.width & ~1, stream.codec_context.height & ~1)
                rate = stream.average_rate or stream.guessed_rate
                self.fps = float(rate) if rate else 30.0
        except av.error.FFmpegError as exc:
            raise InputError(f"{url}: cannot be opened as a video ({exc.strerror or exc})") from None

    def _timed(self) -> Iterator[tuple[av.VideoFrame, float]]:
        offset, last = 0.0, 0.0
        while True:
            with av.open(self.url, timeout=10.0) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                first = None
                count = 0
                for frame in container.decode(stream):
                    at = float(frame.time) if frame.time is not None else count / self.fps
                    first = at if first is None else first
                    last = offset + at - first
                    count += 1
                    yield frame, last
            if not self.loop or self._stop.is_set() or count == 0:
                return
            offset = last + 1.0 / self.fps

    def _frames(self) -> Iterator[Frame]:
        for index, (frame, _) in enumerate(_paced(self._timed(), self._stop)):
            yield from_av(frame, time.monotonic(), index)


class CameraSource(CaptureSource):
    """A V4L2 camera (Linux) through PyAV's v4l2 input."""

    name = "camera"

    def __init__(self, device: str, size: tuple[int, int] | None, fps: float | None) -> None:
        super().__init__()
        if not Path(device).exists():
            raise InputError(f"{device}: no such camera; list cameras with `ls /dev/video*`, or use --source testsrc")
        options = {}
        if size is not None:
            options["video_size"] = f"{size[0]}x{size[1]}"
        if fps is not None:
            options["framerate"] = f"{fps:g}"
        try:
            self._container = av.open(device, format="v4l2", options=options)
        except av.error.FFmpegError as exc:
            raise InputError(f"{device}: cannot be opened as a camera ({exc.strerror or exc})") from None
        stream = self._container.streams.video[0]
        self.size = (stream.codec_context.width & ~1, stream.codec_context.height & ~1)
        rate = stream.average_rate or stream.guessed_rate
        self.fps = float(rate) if rate else float(fps or 30.0)
        self.device = device

    def _frames(self) -> Iterator[Frame]:
        try:
            for index, frame in enumerate(self._container.decode(video=0)):
                yield from_av(frame, time.monotonic(), index)
        finally:
            self._container.close()

    def stop(self) -> None:
        super().stop()
        if self._thread is None:  # never started: release the device for the next opener
            self._container.close()


class PushedSource(Source):
    """Frames handed in by another component (the WebRTC server's track reader)."""

    name = "browser"

    def push(self, frame: av.VideoFrame) -> None:
        f = from_av(frame, time.monotonic(), self.mailbox.put_count)
        self.size = f.size
        self.mailbox.put(f)

    def stop(self) -> None:
        self.mailbox.close()


def open_source(spec: str | None, size: tuple[int, int] | None, fps: float | None, *, loop: bool = True) -> Source:
    """`--source`: testsrc, a camera (/dev/videoN or N), a stream URL or a file; default /dev/video0."""
    if spec is None:
        if not Path("/dev/video0").exists():
            raise InputError("no camera at /dev/video0; give --source DEVICE, a file, a stream URL, or testsrc")
        spec = "/dev/video0"
    if spec == "testsrc":
        return PatternSource(size or (640, 480), fps or 30.0)
    if spec.isdigit():
        spec = f"/dev/video{spec}"
    if spec.startswith("/dev/video"):
        return CameraSource(spec, size, fps)
    source = VideoSource(spec, loop=loop)
    if size is not None and size != source.size:
        log.warning("--size %dx%d is ignored for %s, which is %dx%d", *size, spec, *source.size)
    return source
