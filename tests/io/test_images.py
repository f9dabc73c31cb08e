"""Reading and writing still images at their own depth: orientation, grey + alpha, PNG transparency."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from vidrestore.io.images import read_image, write_image

GREY = (np.arange(12 * 16).reshape(12, 16) * 341).astype(np.uint16)  # 0 .. 65131


def luma16(picture) -> np.ndarray:
    """The picture's Y' plane in 16-bit units."""
    top = (1 << picture.batch.fmt.bit_depth) - 1
    return picture.batch.luma[0].astype(np.float64) * 65535 / top


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_grey_is_turned_upright_as_pillow_turns_it(tmp_path: Path, orientation: int) -> None:
    img = Image.fromarray(GREY)
    exif = img.getexif()
    exif[0x0112] = orientation
    img.save(tmp_path / "turned.png", exif=exif)
    picture = read_image(tmp_path / "turned.png")
    with Image.open(tmp_path / "turned.png") as again:
        assert again.mode == "I;16"
        want = np.asarray(ImageOps.exif_transpose(again), dtype=np.float64)
    assert picture.depth == "16-bit" and picture.grey
    assert luma16(picture).shape == want.shape and np.abs(luma16(picture) - want).max() <= 2.01


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grey_with_alpha_comes_back_as_16bit_grey_with_alpha(tmp_path: Path, suffix: str) -> None:
    frame = av.VideoFrame(16, 12, "ya16be")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, dtype=">u2").reshape(-1, plane.line_size // 2)
    rows[:12, :32] = np.stack([GREY, 65535 - GREY], axis=-1).reshape(12, 32)
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 16, 12, "ya16be", Fraction(1, 1)
    src = tmp_path / "ya.png"
    src.write_bytes(b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)]))

    picture = read_image(src)
    assert picture.depth == "16-bit" and picture.grey
    write_image(tmp_path / f"out{suffix}", picture, format_suffix=suffix)
    with av.open(str(tmp_path / f"out{suffix}")) as container:
        out = next(container.decode(video=0))
    assert out.format.name.startswith("ya16")
    samples = out.reformat(format="rgba64le").to_ndarray().astype(np.int64)
    assert np.abs(samples[..., 0] - GREY).max() <= 1  # 16-bit planes: rounding only
    assert np.array_equal(samples[..., 3], 65535 - GREY)  # alpha is not converted at all


def test_16bit_grey_png_transparency_becomes_alpha(tmp_path: Path) -> None:
    Image.fromarray(GREY).save(tmp_path / "keyed.png", transparency=int(GREY[3, 5]))
    picture = read_image(tmp_path / "keyed.png")
    assert picture.alpha is not None
    assert picture.alpha[3, 5] == 0 and (picture.alpha == 0).sum() == 1 and picture.alpha.max() == 1


def test_8bit_images_keep_their_8bit_path(tmp_path: Path) -> None:
    rgb = (np.arange(10 * 14 * 3).reshape(10, 14, 3) % 256).astype(np.uint8)
    Image.fromarray(rgb, "RGB").save(tmp_path / "in.png")
    picture = read_image(tmp_path / "in.png")
    assert picture.depth == "8-bit" and not picture.grey and picture.batch.fmt.bit_depth == 10
    write_image(tmp_path / "out.png", picture, format_suffix=".png")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "RGB" and np.array_equal(np.asarray(out), rgb)  # exact: 10-bit planes round-trip 8 bits
