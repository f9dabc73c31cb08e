"""Live frames: 8-bit 4:2:0 planes, and their conversions to what sources give and sinks take.

The planes go in and out of PyAV frames through `frames.pyav`, and every colour
conversion is swscale's, on frames tagged as the live format."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from vidrestore.frames import ColorTags, FrameBatch, PlaneFormat, StreamFormat
from vidrestore.frames.pyav import planes_of, video_frame

# Webcams deliver YUYV or MJPEG at SD sizes: everything is read as limited-range BT.601 4:2:0,
# which every sink takes without another matrix conversion.
LIVE_FORMAT = PlaneFormat("yuv420p", full_range=False, chroma_left=True, matrix="bt601")
# FFmpeg's codes for it: BT.601 (SMPTE 170M) matrix, limited range; primaries and transfer unspecified.
LIVE_COLOR = ColorTags(primaries=2, transfer=2, matrix=6, range=1)
LIVE_STREAM = StreamFormat(LIVE_FORMAT, LIVE_COLOR)


@dataclass
class Frame:
    """One picture: luma (H, W) and chroma (2, H/2, W/2) planes; `t` is when it was captured
    (time.monotonic()), `index` its number in the source's own count."""

    luma: np.ndarray
    chroma: np.ndarray
    t: float
    index: int

    @property
    def size(self) -> tuple[int, int]:
        return self.luma.shape[1], self.luma.shape[0]

    def batch(self) -> FrameBatch:
        return FrameBatch(self.luma[None], self.chroma[None], [self.index], LIVE_FORMAT)


def from_av(frame: av.VideoFrame, t: float, index: int) -> Frame:
    """A decoded frame (any pixel format) as live planes; odd sizes lose their last row/column."""
    w, h = frame.width & ~1, frame.height & ~1
    if frame.format.name != "yuv420p" or (w, h) != (frame.width, frame.height):
        frame = frame.reformat(width=w, height=h, format="yuv420p", dst_color_range=1)
    luma, chroma = planes_of(frame, LIVE_FORMAT)
    return Frame(luma, chroma, t, index)


def to_av(luma: np.ndarray, chroma: np.ndarray) -> av.VideoFrame:
    return video_frame(luma, chroma, LIVE_FORMAT, LIVE_COLOR)


def to_i420(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """The planes as one contiguous I420 image, (H * 3/2, W) bytes: Y, then U, then V, as
    PyAV lays a yuv420p frame out. v4l2loopback cameras (pyvirtualcam's PixelFormat.I420)
    take this as it is."""
    return to_av(luma, chroma).to_ndarray(format="yuv420p")


def to_rgb(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 R'G'B' (BT.601, limited range undone), for sinks that take RGB."""
    return to_av(luma, chroma).to_ndarray(format="rgb24")
