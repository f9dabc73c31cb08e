"""Live frames: 8-bit 4:2:0 planes, and their conversions to what sources give and sinks take."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from vidrestore.io.decode import read_plane
from vidrestore.io.encode import write_plane
from vidrestore.pipeline.frames import FrameBatch, PlaneFormat

# Webcams deliver YUYV or MJPEG at SD sizes: everything is read as limited-range BT.601 4:2:0,
# which every sink takes without another matrix conversion.
LIVE_FORMAT = PlaneFormat("yuv420p", full_range=False, chroma_left=True, matrix="bt601")


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
    chroma = np.stack([read_plane(frame.planes[i], np.uint8, w // 2, h // 2) for i in (1, 2)])
    return Frame(read_plane(frame.planes[0], np.uint8, w, h), chroma, t, index)


def to_av(luma: np.ndarray, chroma: np.ndarray) -> av.VideoFrame:
    h, w = luma.shape
    frame = av.VideoFrame(w, h, "yuv420p")
    write_plane(frame.planes[0], luma)
    write_plane(frame.planes[1], chroma[0])
    write_plane(frame.planes[2], chroma[1])
    frame.colorspace, frame.color_range = 6, 1  # BT.601 (SMPTE 170M), limited range
    return frame


def to_i420(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """The planes as one contiguous I420 image, (H * 3/2, W) bytes: Y, then U, then V.
    v4l2loopback cameras (pyvirtualcam's PixelFormat.I420) take this as it is."""
    h, w = luma.shape
    out = np.empty((h * 3 // 2, w), dtype=np.uint8)
    out[:h] = luma
    quarter = (h // 2) * (w // 2)
    out[h:].reshape(-1)[:quarter] = chroma[0].reshape(-1)
    out[h:].reshape(-1)[quarter:] = chroma[1].reshape(-1)
    return out


def to_rgb(luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 R'G'B' (BT.601, limited range undone), for sinks that take RGB."""
    return to_av(luma, chroma).to_ndarray(format="rgb24")
