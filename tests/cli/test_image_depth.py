"""High-bit-depth and float images through the CLI: read at full precision,
written back at 16 bits where the format holds them, refused when they cannot be read right."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tests.runs import FAST, assert_one_error, lines
from vidrestore.ops.resize import imresize

UNIT = 65535.0


def encode_still(path: Path, array: np.ndarray, pix_fmt: str) -> Path:
    """One picture written by FFmpeg's encoder for the extension (png or tiff), e.g. rgb48be."""
    codec = "png" if path.suffix == ".png" else "tiff"
    frame = av.VideoFrame.from_ndarray(array, format=pix_fmt)
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = frame.width, frame.height, pix_fmt, Fraction(1, 1)
    path.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))
    return path


def decode_still(path: Path) -> tuple[str, np.ndarray]:
    """(FFmpeg's pixel format, samples) of a written picture: its real bit depth, not Pillow's view."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.format.name, frame.to_ndarray().astype(np.float64)


def float_tiff(path: Path, values: np.ndarray) -> Path:
    """An uncompressed 32-bit float TIFF, grey (H, W) or RGB (H, W, 3), written by hand:
    Pillow cannot write float RGB."""
    data = np.ascontiguousarray(values, dtype="<f4").tobytes()
    h, w = values.shape[:2]
    c = 1 if values.ndim == 2 else values.shape[2]
    count = 10
    extra_at = 8 + 2 + count * 12 + 4
    extra = struct.pack(f"<{c}H", *[32] * c) + struct.pack(f"<{c}H", *[3] * c) if c > 2 else b""

    def shorts(values: list[int], offset: int) -> bytes:
        return struct.pack(f"<{len(values)}H", *values).ljust(4, b"\0") if len(values) <= 2 else struct.pack("<I", offset)

    entries = [
        (256, 4, 1, struct.pack("<I", w)), (257, 4, 1, struct.pack("<I", h)),
        (258, 3, c, shorts([32] * c, extra_at)), (259, 3, 1, struct.pack("<HH", 1, 0)),
        (262, 3, 1, struct.pack("<HH", 2 if c == 3 else 1, 0)), (273, 4, 1, struct.pack("<I", extra_at + len(extra))),
        (277, 3, 1, struct.pack("<HH", c, 0)), (278, 4, 1, struct.pack("<I", h)),
        (279, 4, 1, struct.pack("<I", len(data))), (339, 3, c, shorts([3] * c, extra_at + 2 * c)),
    ]
    ifd = struct.pack("<H", count) + b"".join(struct.pack("<HHI", *e[:3]) + e[3] for e in entries) + b"\0\0\0\0"
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + extra + data)
    return path


def ramps(h: int, w: int, channels: int) -> np.ndarray:
    """Smooth ramps in [0.04, 0.96] (nothing for bicubic to overshoot into clipping), (H, W[, C]) float64."""
    y = np.linspace(0, 1, h)[:, None]
    x = np.linspace(0, 1, w)[None, :]
    planes = [0.04 + 0.92 * (0.6 * x + 0.4 * y), 0.04 + 0.92 * (1 - 0.7 * x) * (1 - 0.3 * y), 0.04 + 0.92 * (0.5 + 0.45 * np.sin(3 * x + 2 * y))]
    return planes[0] if channels == 1 else np.stack(planes[:channels], axis=-1)


def reference_x2(values: np.ndarray) -> np.ndarray:
    """The bicubic x2 of (H, W[, C]) values in [0, 1], computed directly in float."""
    t = torch.from_numpy(values.astype(np.float32))
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    out = imresize(t, scale=2, kernel="bicubic").clamp(0, 1)
    return (out[0] if values.ndim == 2 else out.permute(1, 2, 0)).double().numpy()


def test_16bit_grey_png_is_upscaled_at_16_bits(tmp_path, upscale):
    values = ramps(48, 64, 1)
    src = encode_still(tmp_path / "grey.png", np.round(values * UNIT).astype(np.uint16), "gray16be")
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    assert lines(result.stderr, "warning") == []
    pix_fmt, out = decode_still(tmp_path / "grey.x2.png")
    assert pix_fmt == "gray16be" and out.shape == (96, 128)
    error = np.abs(out - reference_x2(values) * UNIT)
    # 16-bit planes: rounding only; 8-bit processing would be 128 out.
    assert error.max() <= 2 and error.mean() < 1, (error.max(), error.mean())
    assert (out > 65000).mean() < 0.01  # not washed out to white


@pytest.mark.parametrize("suffix, pix_fmt, alpha", [(".png", "rgb48be", False), (".tif", "rgb48le", False),
                                                     (".png", "rgba64be", True), (".tif", "rgba64le", True)])
def test_16bit_rgb_is_upscaled_at_16_bits(tmp_path, upscale, suffix, pix_fmt, alpha):
    values = ramps(40, 56, 3)
    samples = values if not alpha else np.concatenate([values, ramps(40, 56, 1)[..., None]], axis=-1)
    src = encode_still(tmp_path / f"colour{suffix}", np.round(samples * UNIT).astype(np.uint16), pix_fmt)
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    got_fmt, out = decode_still(tmp_path / f"colour.x2{suffix}")
    assert got_fmt == pix_fmt and out.shape == (80, 112, 4 if alpha else 3)
    error = np.abs(out[..., :3] - reference_x2(values) * UNIT)
    # Y'CbCr at 16 bits and back: a few units of 65535 (8-bit output is off by up to 128).
    assert error.max() <= 4 and error.mean() < 1.5, (error.max(), error.mean())
    if alpha:
        alpha_error = np.abs(out[..., 3] - reference_x2(ramps(40, 56, 1)) * UNIT)
        assert alpha_error.max() <= 2, alpha_error.max()


def test_float_grey_tiff_is_read_in_0_to_1_and_written_at_16_bits(tmp_path, upscale):
    values = ramps(30, 44, 1)
    src = tmp_path / "float.tif"
    Image.fromarray(values.astype(np.float32), "F").save(src)
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    assert lines(result.stderr, "warning") == []
    pix_fmt, out = decode_still(tmp_path / "float.x2.tif")
    assert pix_fmt.startswith("gray16") and out.shape == (60, 88)
    error = np.abs(out - reference_x2(values) * UNIT)
    assert error.max() <= 8 and out.mean() > 0.3 * UNIT, (error.max(), out.mean())  # not black


def test_float_rgb_tiff_is_read_and_written_at_16_bits(tmp_path, upscale):
    values = ramps(30, 44, 3)
    src = float_tiff(tmp_path / "float.tiff", values)
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    pix_fmt, out = decode_still(tmp_path / "float.x2.tiff")
    assert pix_fmt.startswith("rgb48") and out.shape == (60, 88, 3)
    error = np.abs(out - reference_x2(values) * UNIT)
    assert error.max() <= 16 and error.mean() < 3, (error.max(), error.mean())


def test_float_samples_outside_0_to_1_are_clipped_with_a_warning(tmp_path, upscale):
    values = ramps(20, 24, 1) * 1.5 - 0.2  # -0.14 .. 1.24
    src = tmp_path / "hdr.tif"
    Image.fromarray(values.astype(np.float32), "F").save(src)
    result = upscale(src, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    warning = lines(result.stderr, "warning")
    assert len(warning) == 1 and "clipped to 0..1" in warning[0] and str(src) in warning[0], result.stderr
    _, out = decode_still(tmp_path / "hdr.x2.tif")
    assert out.min() == 0 and out.max() == 65535


def test_float_samples_that_are_not_numbers_are_refused(tmp_path, upscale):
    values = ramps(20, 24, 1).astype(np.float32)
    values[3, 4] = np.nan
    src = tmp_path / "nan.tif"
    Image.fromarray(values, "F").save(src)
    result = upscale(src, "--x2", *FAST)
    assert_one_error(result.exit_code, result.stderr, contains=f"{src}: float samples include NaN or infinity")
    assert not (tmp_path / "nan.x2.tif").exists()


def test_32bit_integer_tiff_is_refused(tmp_path, upscale):
    src = tmp_path / "int32.tif"
    Image.fromarray((ramps(20, 24, 1) * 2**31).astype(np.int32), "I").save(src)
    result = upscale(src, "--x2", *FAST)
    assert_one_error(result.exit_code, result.stderr, contains=f"{src}: 32-bit integer samples are not supported")
    assert not (tmp_path / "int32.x2.tif").exists()


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".bmp"])
def test_16bit_to_an_8bit_format_warns_and_writes_the_right_8bit_picture(tmp_path, upscale, suffix):
    values = ramps(40, 56, 3)
    src = encode_still(tmp_path / "deep.png", np.round(values * UNIT).astype(np.uint16), "rgb48be")
    dst = tmp_path / f"out{suffix}"
    result = upscale(src, "-o", dst, "--x2", *FAST)
    assert result.exit_code == 0, result.stderr
    warning = lines(result.stderr, "warning")
    assert warning == [f"vidrestore: warning: {dst}: {Image.registered_extensions()[suffix]} holds 8 bits per sample; "
                       "the 16-bit picture is written with 8 (write .png or .tif to keep 16)"], result.stderr
    with Image.open(dst) as im:
        out = np.asarray(im.convert("RGB"), dtype=np.float64)
    error = np.abs(out - reference_x2(values) * 255)
    assert error.mean() < 1.5 and np.percentile(error, 99) < 4, (error.mean(), error.max())
