"""RGBModel: Y'CbCr <-> R'G'B' both ways, chroma siting, layouts and bit depths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from tests.media import Color, make_video, pattern
from vidrestore.backends import open_backend
from vidrestore.io.decode import Decoder, source_matrix
from vidrestore.io.probe import probe
from vidrestore.models.edsr import EDSR
from vidrestore.models.interpolate import Interpolate
from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.pipeline.processor import RGBModel, SuperResolution
from vidrestore.frames.color import planes_to_rgb, rgb_to_planes, subsample_chroma, upsample_chroma
from vidrestore.models import wrap


def rgb_bicubic(scale: int) -> RGBModel:
    # MATLAB bicubic resizes every plane it is given, so it is an RGB model whose answer is known.
    return RGBModel(open_backend("torch", wrap(Interpolate(scale=scale), scale=scale, color="rgb"), "cpu"), scale)


def batch_of(width: int, height: int, pix_fmt: str, *, full_range: bool = False, frames: int = 2) -> FrameBatch:
    planes = [pattern(i, width, height, pix_fmt) for i in range(frames)]
    luma = np.stack([p[0] for p in planes])
    chroma = np.stack([np.stack(p[1:]) for p in planes])
    return FrameBatch(luma, chroma, list(range(frames)), PlaneFormat(pix_fmt, full_range=full_range, chroma_left=True, matrix="bt709"))


def colour_batch(rgb: tuple[float, float, float], fmt: PlaneFormat) -> tuple[int, int, int]:
    """(Y', Cb, Cr) code values of one R'G'B' colour."""
    out = rgb_to_planes(torch.tensor(rgb).view(1, 3, 1, 1), fmt, [0])
    return int(out.luma[0, 0, 0]), int(out.chroma[0, 0, 0, 0]), int(out.chroma[0, 1, 0, 0])


# --- the conversion -----------------------------------------------------------


@pytest.mark.parametrize(
    "pix_fmt, full_range, matrix, rgb, codes",
    [
        ("yuv444p", False, "bt601", (1.0, 0.0, 0.0), (81, 90, 240)),
        ("yuv444p", False, "bt709", (1.0, 0.0, 0.0), (63, 102, 240)),
        ("yuv444p", False, "bt709", (1.0, 1.0, 1.0), (235, 128, 128)),
        ("yuv444p", False, "bt709", (0.0, 0.0, 0.0), (16, 128, 128)),
        ("yuv444p", True, "bt601", (1.0, 0.0, 0.0), (76, 85, 255)),  # JPEG's red (Cr 255.5 clips)
        ("yuv444p", True, "bt601", (1.0, 1.0, 1.0), (255, 128, 128)),
        ("yuv444p10le", False, "bt709", (1.0, 0.0, 0.0), (250, 409, 960)),
        ("yuv444p10le", False, "bt2020", (1.0, 0.0, 0.0), (294, 387, 960)),
        ("yuv444p10le", False, "bt2020", (1.0, 1.0, 1.0), (940, 512, 512)),
        ("yuv444p10le", True, "bt709", (0.0, 0.0, 0.0), (0, 512, 512)),
    ],
)
def test_reference_colours_get_the_standard_code_values(pix_fmt, full_range, matrix, rgb, codes):
    assert colour_batch(rgb, PlaneFormat(pix_fmt, full_range, chroma_left=False, matrix=matrix)) == codes


@pytest.mark.parametrize("matrix", ["bt601", "bt709", "bt2020"])
@pytest.mark.parametrize("full_range", [False, True])
@pytest.mark.parametrize("pix_fmt", ["yuv444p", "yuv444p10le"])
def test_codes_survive_the_trip_through_rgb(pix_fmt, full_range, matrix):
    fmt = PlaneFormat(pix_fmt, full_range, chroma_left=True, matrix=matrix)
    rgb = torch.rand(2, 3, 12, 16, generator=torch.Generator().manual_seed(1))
    rgb[0, :, 0, :8] = torch.tensor([[0, 0, 0, 1, 1, 1, 0, 1], [0, 1, 0, 1, 0, 1, 1, 0], [0, 0, 1, 1, 1, 0, 1, 0]])  # corners of the cube
    codes = rgb_to_planes(rgb, fmt, [0, 1])
    again = rgb_to_planes(planes_to_rgb(codes), fmt, [0, 1])
    assert np.abs(again.luma.astype(int) - codes.luma).max() <= 1
    assert np.abs(again.chroma.astype(int) - codes.chroma).max() <= 1
    assert again.fmt == fmt


def test_unknown_matrix_is_refused():
    with pytest.raises(ValueError, match="unsupported colour matrix 'bt2100'; expected one of"):
        PlaneFormat("yuv420p", False, True, matrix="bt2100")


@pytest.mark.parametrize(
    "colorspace, height, matrix",
    [(1, 480, "bt709"), (5, 1080, "bt601"), (6, 1080, "bt601"), (9, 480, "bt2020"), (2, 576, "bt601"), (2, 720, "bt709"), (0, 2160, "bt709")],
)
def test_source_matrix_follows_the_tag_and_guesses_by_height_without_one(colorspace, height, matrix):
    assert source_matrix(colorspace, height) == matrix


def test_decoder_hands_the_tagged_matrix_to_the_pipeline(tmp_path):
    tagged = make_video(tmp_path / "hdr.mkv", frames=2, pix_fmt="yuv420p10le", color=Color(primaries=9, trc=16, space=9, range=1))
    untagged = make_video(tmp_path / "sd.mp4", frames=2)
    for path, matrix in ((tagged, "bt2020"), (untagged, "bt601")):
        decoder = Decoder(probe(path))
        for _ in decoder.frames():
            pass
        assert decoder.format.plane.matrix == matrix


# --- chroma siting --------------------------------------------------------------


@pytest.mark.parametrize("left", [True, False])
def test_chroma_keeps_its_siting_both_ways(left):
    fmt = PlaneFormat("yuv420p", False, chroma_left=left)
    # A ramp is reproduced exactly by bicubic, so the values say where each sample sits.
    cols = torch.arange(16, dtype=torch.float32).expand(1, 2, 16, 16)
    full = upsample_chroma(cols, fmt, (2, 2), (32, 32))
    x = torch.arange(32, dtype=torch.float32)
    expected = x / 2 if left else (x - 0.5) / 2  # chroma c sits on luma column 2c, or between 2c and 2c + 1
    assert torch.allclose(full[0, 0, 8, 4:-4], expected[4:-4], atol=1e-5)
    rows = torch.arange(16, dtype=torch.float32)[:, None].expand(1, 2, 16, 16)
    assert torch.allclose(upsample_chroma(rows, fmt, (2, 2), (32, 32))[0, 0, 4:-4, 8], (x[4:-4] - 0.5) / 2, atol=1e-5)
    # And back: full-resolution column x holds x, so chroma sample c reads 2c (left) or 2c + 0.5.
    back = subsample_chroma(x.expand(1, 2, 32, 32).clone(), fmt)
    c = torch.arange(16, dtype=torch.float32)
    assert torch.allclose(back[0, 0, 8, 2:-2], (2 * c + (0.0 if left else 0.5))[2:-2], atol=1e-4)


# --- the processor ------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("size", [(64, 48), (63, 47)])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p", "yuv444p", "yuv420p10le"])
def test_output_keeps_the_layout_at_the_scaled_size(scale, size, pix_fmt):
    w, h = size
    src = batch_of(w, h, pix_fmt)
    out = rgb_bicubic(scale).process(src)
    assert out.size == (w * scale, h * scale)
    assert out.chroma.shape == (2, 2, *out.fmt.chroma_size(w * scale, h * scale)[::-1])
    assert out.fmt == src.fmt and out.pts == src.pts
    assert out.luma.dtype == out.chroma.dtype == src.fmt.dtype


@pytest.mark.parametrize(
    "pix_fmt, full_range, ycc",
    [("yuv420p", False, (120, 100, 150)), ("yuv420p", True, (30, 140, 110)), ("yuv422p", False, (200, 128, 128)), ("yuv420p10le", False, (480, 400, 600))],
)
def test_flat_colours_stay_exactly_put(pix_fmt, full_range, ycc):
    src = batch_of(21, 15, pix_fmt, full_range=full_range, frames=1)
    src.luma[:] = ycc[0]
    src.chroma[:, 0], src.chroma[:, 1] = ycc[1], ycc[2]
    out = rgb_bicubic(3).process(src)
    assert np.all(out.luma == ycc[0]) and np.all(out.chroma[:, 0] == ycc[1]) and np.all(out.chroma[:, 1] == ycc[2])


def photo() -> torch.Tensor:
    """A 121 x 97 crop of a natural photo as (1, 3, H, W) R'G'B'."""
    return torch.from_numpy(data.astronaut()[40:137, 150:271]).permute(2, 0, 1).float().div(255)[None]


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p"])
def test_subsampled_chroma_survives_the_trip_through_rgb(pix_fmt, left):
    # Up- and downsampling that disagreed on siting would shift chroma by half a sample (mean error 0.26 here).
    fmt = PlaneFormat(pix_fmt, False, chroma_left=left, matrix="bt709")
    codes = rgb_to_planes(photo(), fmt, [0])
    again = rgb_to_planes(planes_to_rgb(codes), fmt, [0])
    assert np.abs(again.luma.astype(int) - codes.luma).max() <= 1
    assert np.abs(again.chroma.astype(int) - codes.chroma).mean() < 0.15


@pytest.mark.parametrize("scale", [2, 3])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p10le"])
def test_bicubic_through_rgb_matches_bicubic_on_luma(scale, pix_fmt):
    # Luma is linear in R'G'B', so the two paths differ only where R'G'B' is clipped, and by rounding.
    src = rgb_to_planes(photo(), PlaneFormat(pix_fmt, False, chroma_left=True, matrix="bt709"), [0])
    luma_path = SuperResolution(open_backend("torch", wrap(Interpolate(scale=scale), scale=scale, color="y"), "cpu"), scale).process(src)
    rgb_path = rgb_bicubic(scale).process(src)
    unit = 1 << (src.fmt.bit_depth - 8)
    assert np.abs(rgb_path.luma.astype(float) - luma_path.luma).mean() < 0.05 * unit
    assert np.abs(rgb_path.chroma.astype(float) - luma_path.chroma).mean() < 0.4 * unit


def test_a_real_rgb_network_runs_on_ten_bit_odd_frames():
    torch.manual_seed(0)
    model = EDSR(scale=2, blocks=1, features=8)
    processor = RGBModel(open_backend("torch", wrap(model, scale=2, color="rgb"), "cpu"), 2)
    src = batch_of(33, 25, "yuv420p10le", full_range=True)
    out = processor.process(src)
    assert out.size == (66, 50) and out.chroma.shape == (2, 2, 25, 33)
    assert out.luma.dtype == np.uint16 and out.luma.max() <= 1023 and out.chroma.max() <= 1023
