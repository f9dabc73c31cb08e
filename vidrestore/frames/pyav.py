"""Planes in and out of PyAV's frames, without a copy more than needed."""

from __future__ import annotations

import av
import numpy as np

from vidrestore.frames.format import ColorTags, PlaneFormat


def read_plane(plane: av.video.plane.VideoPlane, dtype: type, width: int, height: int) -> np.ndarray:
    """One plane's width x height samples, copied out of its padded rows."""
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype=dtype).reshape(-1, plane.line_size // itemsize)
    return rows[:height, :width].copy()


def write_plane(plane: av.video.plane.VideoPlane, data: np.ndarray) -> None:
    """`data` (H, W) into a plane's padded rows."""
    itemsize = data.dtype.itemsize
    rows = np.frombuffer(plane, dtype=data.dtype).reshape(-1, plane.line_size // itemsize)
    h, w = data.shape
    rows[:h, :w] = data


def planes_of(frame: av.VideoFrame, fmt: PlaneFormat) -> tuple[np.ndarray, np.ndarray]:
    """Luma (H, W) and chroma (2, Hc, Wc) of a frame already laid out as `fmt`."""
    w, h = frame.width, frame.height
    cw, ch = fmt.chroma_size(w, h)
    luma = read_plane(frame.planes[0], fmt.dtype, w, h)
    return luma, np.stack([read_plane(frame.planes[i], fmt.dtype, cw, ch) for i in (1, 2)])


def video_frame(luma: np.ndarray, chroma: np.ndarray, fmt: PlaneFormat, color: ColorTags | None = None) -> av.VideoFrame:
    """Planes laid out as `fmt` as a PyAV frame, tagged with `color` when given."""
    h, w = luma.shape
    frame = av.VideoFrame(w, h, fmt.pix_fmt)
    write_plane(frame.planes[0], luma)
    write_plane(frame.planes[1], chroma[0])
    write_plane(frame.planes[2], chroma[1])
    if color is not None:
        frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = (
            color.primaries, color.transfer, color.matrix, color.range)
    return frame
