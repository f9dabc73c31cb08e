"""SuperResolution on frame batches: sizes, chroma planes, code ranges."""

from __future__ import annotations

import numpy as np
import pytest

from tests.media import pattern
from vidrestore.frames import FrameBatch, PlaneFormat


def batch_of(width: int, height: int, pix_fmt: str, *, full_range: bool = False, frames: int = 2) -> FrameBatch:
    planes = [pattern(i, width, height, pix_fmt) for i in range(frames)]
    luma = np.stack([p[0] for p in planes])
    chroma = np.stack([np.stack(p[1:]) for p in planes])
    return FrameBatch(luma, chroma, list(range(frames)), PlaneFormat(pix_fmt, full_range=full_range, chroma_left=True))


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("size", [(64, 48), (63, 47)])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p"])
def test_output_planes_fit_the_scaled_size(bicubic, scale, size, pix_fmt):
    w, h = size
    src = batch_of(w, h, pix_fmt)
    out = bicubic(scale).process(src)
    assert out.size == (w * scale, h * scale)
    cw, ch = out.fmt.chroma_size(w * scale, h * scale)
    assert out.chroma.shape == (2, 2, ch, cw)
    assert out.pts == src.pts and out.fmt == src.fmt


def test_ten_bit_stays_ten_bit(bicubic):
    src = batch_of(32, 24, "yuv420p10le")
    out = bicubic(2).process(src)
    assert out.luma.dtype == np.uint16 and out.chroma.dtype == np.uint16
    assert out.luma.max() <= 1023 and out.chroma.max() <= 1023
    # 10-bit detail survives: far more distinct codes than 8 bits could hold in the luma ramp's span.
    assert len(np.unique(out.luma)) > 256


def test_flat_frames_stay_flat_in_both_ranges(bicubic):
    for full_range, level in ((False, 16), (True, 0), (False, 235), (True, 255)):
        src = batch_of(16, 12, "yuv420p", full_range=full_range)
        src.luma[:] = level
        src.chroma[:] = 128
        out = bicubic(3).process(src)
        assert np.all(out.luma == level) and np.all(out.chroma == 128), (full_range, level)
