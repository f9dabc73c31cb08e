"""Encoder options: validation, and the pixel formats and sizes encoders get."""

from __future__ import annotations

import pytest

from vidrestore.errors import UsageError
from vidrestore.io.encode import EncodeOptions, check_encoder_usable, choose_pix_fmt, even_size
from vidrestore.frames import PlaneFormat


def test_encode_options_validate_codec_crf_and_preset():
    with pytest.raises(UsageError, match="unknown codec 'h263'; available: libx264"):
        EncodeOptions(codec="h263")
    with pytest.raises(UsageError, match=r"--crf 52 is out of range for libx264 \(0-51\)"):
        EncodeOptions(codec="libx264", crf=52)
    with pytest.raises(UsageError, match="unknown preset 'fastest'"):
        EncodeOptions(codec="libx264", preset="fastest")
    assert EncodeOptions(codec="libsvtav1", crf=63, preset="slow").spec.options(63, "slow") == {"crf": "63", "preset": "5"}
    assert EncodeOptions(codec="libx265").spec.format_codec == "hevc"


def test_nvenc_without_a_gpu_is_a_usage_error():
    try:
        check_encoder_usable("h264_nvenc")
    except UsageError as exc:
        assert "needs an NVIDIA GPU" in str(exc) or "not in this FFmpeg build" in str(exc)
    else:
        pytest.skip("this machine has a working NVENC encoder; nothing to refuse")


@pytest.mark.parametrize("codec", ["libx264", "libx265", "ffv1", "libsvtav1"])
def test_ten_bit_stays_ten_bit(codec):
    fmt = PlaneFormat("yuv420p10le", full_range=False, chroma_left=True)
    assert choose_pix_fmt(codec, fmt) == "yuv420p10le"


def test_even_size_crops_only_subsampled_directions():
    assert even_size(189, 141, PlaneFormat("yuv420p", False, True)) == (188, 140)
    assert even_size(189, 141, PlaneFormat("yuv422p", False, True)) == (188, 141)
    assert even_size(189, 141, PlaneFormat("yuv444p", False, True)) == (189, 141)
    assert even_size(126, 94, PlaneFormat("yuv420p", False, True)) == (126, 94)
