"""The whole video path makes pictures better, not just bigger.

A real photo (scikit-image's cameraman, not among the training images) is
shrunk by MATLAB-style bicubic, written as a lossless FFV1 video, upscaled by
the CLI with ESPCN and with bicubic into lossless FFV1, and compared with the
original: ESPCN must be closer. A colour or range slip anywhere in decode,
processing or encode would sink ESPCN below bicubic.
"""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch

from vidrestore.ops.resize import imresize

skdata = pytest.importorskip("skimage.data")


def _write_gray_video(path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        for i, y in enumerate(frames):
            frame = av.VideoFrame(w, h, "yuv444p")
            for index, plane in enumerate((y, np.full_like(y, 128), np.full_like(y, 128))):
                rows = np.frombuffer(frame.planes[index], np.uint8).reshape(h, -1)
                rows[:, :w] = plane
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def _luma(path) -> np.ndarray:
    with av.open(str(path)) as src:
        frame = next(src.decode(video=0))
        assert frame.format.name == "yuv444p"
        w, h = frame.width, frame.height
        return np.frombuffer(frame.planes[0], np.uint8).reshape(h, -1)[:, :w].astype(np.float64)


def _psnr(a: np.ndarray, b: np.ndarray, crop: int) -> float:
    diff = (a - b)[crop:-crop, crop:-crop] / 219.0  # limited-range luma: 219 codes from black to white
    return 10 * np.log10(1.0 / float((diff**2).mean()))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_espcn_video_is_closer_to_the_original_than_bicubic(tmp_path, upscale, espcn_weights, scale):
    espcn_weights(scale)
    hr = skdata.camera().astype(np.float32)[:240, 128:416] / 255.0  # 288x240, divisible by 2, 3, 4
    lr = imresize(torch.from_numpy(hr)[None, None], scale=1 / scale)[0, 0].numpy()
    to_codes = lambda y: np.clip(np.round(16 + 219 * y), 0, 255).astype(np.uint8)  # noqa: E731
    src = tmp_path / "in.mkv"
    _write_gray_video(src, [to_codes(lr)] * 2)
    gains = {}
    for model in ("espcn", "bicubic"):
        out = tmp_path / f"{model}.mkv"
        result = upscale(src, f"--x{scale}", "--model", model, "--codec", "ffv1", "-o", out, "-q")
        assert result.exit_code == 0, result.stderr
        gains[model] = _psnr(_luma(out), 16 + 219 * hr.astype(np.float64), crop=scale)
    assert gains["espcn"] > gains["bicubic"] + 0.2, gains
