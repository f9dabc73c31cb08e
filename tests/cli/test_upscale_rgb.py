"""`vidrestore upscale` with an RGB model (EDSR) on videos, images and folders.

No trained RGB weights ship yet, so the network here is an EDSR whose weights
make it nearest-neighbour upscaling: its answer is known, so the colours that
come out can be checked against the colours that went in.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tests.media import Color, decoded_frames, make_image, make_video
from vidrestore.models.edsr import EDSR
from vidrestore.models.weights import save_weights

OPTIONS = {"blocks": 1, "features": 8, "res_scale": 1.0}


def nearest_edsr(scale: int, *, grey: bool = False) -> EDSR:
    """EDSR wired as nearest-neighbour upscaling: identity head, a silent body,
    upsampling convolutions that copy each feature to every sub-pixel, and a
    tail that returns R'G'B' or, with `grey`, G' in all three channels."""
    model = EDSR(scale=scale, **OPTIONS)
    features = OPTIONS["features"]
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for c in range(3):
            model.head.weight[c, c, 1, 1] = 1
            model.tail.weight[c, 1 if grey else c, 1, 1] = 1
        if grey:  # EDSR adds each channel's own DIV2K mean back; give every channel green's
            model.tail.bias.copy_(model.mean[0, 1, 0, 0] - model.mean[0, :, 0, 0])
        for conv in (m for m in model.upsample if isinstance(m, torch.nn.Conv2d)):
            subpixels = conv.out_channels // features
            for f in range(features):
                conv.weight[f * subpixels : (f + 1) * subpixels, f, 1, 1] = 1
    return model


def edsr_x2(tmp_path, *, grey: bool = False) -> tuple:
    """CLI arguments for upscaling x2 with `nearest_edsr` weights written under `tmp_path`."""
    path = tmp_path / f"edsr_x2{'_grey' if grey else ''}.safetensors"
    save_weights(nearest_edsr(2, grey=grey), path, arch="edsr", scale=2, options=OPTIONS)
    return ("--model", "edsr", "--weights", path, "--x2", "--preset", "ultrafast", "-q")


def first_frame(path) -> tuple[av.VideoFrame, str, tuple[int, int, int, int]]:
    """The first decoded frame, the stream's pixel format and its colour description."""
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return next(container.decode(video=0)), ctx.pix_fmt, (ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range)


def plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    dtype = np.uint16 if frame.format.name.endswith("10le") else np.uint8
    p = frame.planes[index]
    return np.frombuffer(p, dtype=dtype).reshape(-1, p.line_size // np.dtype(dtype).itemsize)[: p.height, : p.width].astype(float)


@pytest.mark.parametrize(
    "name, pix_fmt, color",
    [("in.mp4", "yuv420p", Color(primaries=1, trc=1, space=1, range=1)), ("in.mkv", "yuv420p10le", Color(primaries=9, trc=16, space=9, range=1))],
    ids=["bt709-8bit", "bt2020-10bit"],
)
def test_video_goes_through_rgb_made_with_its_own_matrix(tmp_path, upscale, name, pix_fmt, color):
    src = make_video(tmp_path / name, size=(64, 48), frames=5, pix_fmt=pix_fmt, color=color)
    dst = tmp_path / f"out{src.suffix}"
    result = upscale(src, "-o", dst, *edsr_x2(tmp_path, grey=True), "--crf", "0")
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    frames = decoded_frames(dst)
    assert len(frames) == 5
    assert {(f.width, f.height) for f in frames} == {(128, 96)}
    before, _, tags_in = first_frame(src)
    after, out_pix_fmt, tags_out = first_frame(dst)
    assert out_pix_fmt == pix_fmt
    assert tags_out == tags_in == (color.primaries, color.trc, color.space, color.range)
    # The model answered the source's G' in all three channels: the output is grey, and
    # its luma is G' as swscale reads the source by its tags. With a wrong matrix G' would
    # be 4 to 10 codes off on average (the pattern has strong chroma).
    unit = 4 if pix_fmt.endswith("10le") else 1
    green = before.to_ndarray(format="rgb48le")[..., 1] / 65535
    luma = (plane(after, 0)[::2, ::2] - 16 * unit) / (219 * unit)
    assert np.abs(luma - green).mean() * 255 < 2.5
    assert np.all(plane(after, 1) == 128 * unit) and np.all(plane(after, 2) == 128 * unit)


def test_folder_of_images_keeps_sizes_alpha_and_colours(tmp_path, upscale):
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "logo.png", (41, 31), alpha=True)
    make_image(src / "photo.jpg", (40, 30))
    result = upscale(src, "-o", tmp_path / "out", *edsr_x2(tmp_path))
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    with Image.open(src / "logo.png") as before, Image.open(tmp_path / "out" / "logo.png") as after:
        assert after.mode == "RGBA" and after.size == (82, 62)
        rgb_in = np.asarray(before.convert("RGB"), dtype=float)
        rgb_out = np.asarray(after.convert("RGB"), dtype=float)
    # PNG is lossless and the model nearest-neighbour: what is left is Y'CbCr rounding on the way in and out.
    error = np.abs(rgb_out[::2, ::2] - rgb_in)
    assert error.mean() < 1.0 and error.max() <= 3
    with Image.open(tmp_path / "out" / "photo.jpg") as after:
        assert after.mode == "RGB" and after.size == (80, 60)


def test_image_goes_through_rgb_made_with_its_own_matrix(tmp_path, upscale):
    src = make_image(tmp_path / "in.png", (40, 30))
    result = upscale(src, *edsr_x2(tmp_path, grey=True))
    assert result.exit_code == 0, result.stderr + repr(result.exception)
    with Image.open(src) as before, Image.open(tmp_path / "in.x2.png") as after:
        green = np.asarray(before, dtype=float)[..., 1]
        out = np.asarray(after, dtype=float)[::2, ::2]
    # Images are BT.601 full range; read with another matrix, G' of these saturated colours would move by tens of codes.
    assert np.abs(out[..., 1] - green).max() <= 1
    assert np.abs(out - green[..., None]).max() <= 2  # grey, up to rounding on the way out
