"""Where live frames go: nowhere (to measure), a file, a preview window, or a virtual
camera that Zoom, Meet or Teams can pick. The WebRTC page is in `live.webrtc`."""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidrestore import signals
from vidrestore.errors import BackendUnavailable, UsageError
from vidrestore.live.frames import Frame, to_av, to_i420, to_rgb

log = logging.getLogger(__name__)


class NullSink:
    name = "null"
    closed = False

    def open(self, size: tuple[int, int], fps: float) -> None:
        self.size = size

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None:
        pass

    def close(self, *, complete: bool) -> None:
        pass


class FileSink:
    """A recording at the pace frames came out (variable frame rate, millisecond
    timestamps from capture times), written to a hidden temporary file and
    committed when the session ends: never over the source, never over a file
    that appeared meanwhile (unless --overwrite), and removed if a signal ends
    the process before then."""

    closed = False

    def __init__(self, path: Path, *, overwrite: bool = False, source: Path | None = None) -> None:
        from vidrestore.io.paths import check_output, temp_path

        self.path = path
        self.name = f"file:{path}"
        self.overwrite = overwrite
        if path.suffix.lower() not in (".mp4", ".m4v", ".mov", ".mkv"):
            raise UsageError(f"--sink file:{path}: the recording is H.264, so name it .mp4, .mkv or .mov")
        check_output(path, source, overwrite=overwrite, is_input=f"--sink file:{path} is the --source; record to another file")
        self.tmp = temp_path(path)
        self.frames = 0
        self.committed = False

    def open(self, size: tuple[int, int], fps: float) -> None:
        from vidrestore.io.mux import container_format

        signals.track(self.tmp)
        self.container = av.open(str(self.tmp), "w", format=container_format(self.path))
        self.stream = self.container.add_stream("libx264", rate=max(1, round(fps)),
                                                options={"preset": "veryfast", "crf": "20", "tune": "zerolatency"})
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = Fraction(1, 1000)
        self.first: float | None = None
        self.last_pts = -1

    def send(self, luma: np.ndarray, chroma: np.ndarray, frame: Frame) -> None:
        self.first = frame.t if self.first is None else self.first
        pts = max(round(1000 * (frame.t - self.first)), self.last_pts + 1)
        out = to_av(luma, chroma)
        out.pts, out.time_base = pts, Fraction(1, 1000)
        self.container.mux(self.stream.encode(out))
        self.last_pts = pts
        self.frames += 1

    def close(self, *, complete: bool) -> None:
        from vidrestore.io.paths import commit, remove_stale_partials

        try:
            self.container.mux(self.stream.encode(None))
            self.container.close()
            if self.frames == 0:
                self.tmp.unlink(missing_ok=True)
                return
            # A session that ended on an error still keeps what it recorded: the file is finished
            # and every frame in it whole.
            if not complete:
                log.warning("the session ended early; %s keeps the %d frames recorded before that", self.path, self.frames)
            commit(self.tmp, self.path, overwrite=self.overwrite)
            self.committed = True
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        finally:
            signals.untrack(self.tmp)
        remove_stale_partials(self.path)


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


def open_sink(spec: str, *, overwrite: bool = False, source: Path | None = None):
    """`--sink`: null, file:PATH, window, virtualcam[:DEVICE]; webrtc is served by `live.webrtc`.
    `source`: the --source file, which a recording may not replace."""
    if spec == "null":
        return NullSink()
    if spec.startswith("file:"):
        path = spec[len("file:"):]
        if not path:
            raise UsageError("--sink file:PATH needs a path, e.g. file:call.mp4")
        return FileSink(Path(path), overwrite=overwrite, source=source)
    if spec == "window":
        return WindowSink()
    if spec == "virtualcam" or spec.startswith("virtualcam:"):
        return VirtualCamSink(spec.partition(":")[2] or None)
    raise UsageError(f"unknown --sink {spec!r}; expected virtualcam, webrtc, window, file:PATH or null")
