"""The default model, ESPCN with its shipped weights, through the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.media import Audio, decoded_frames, make_image, make_video, packet_bytes


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_default_model_upscales_a_video(tmp_path, upscale, espcn_weights, scale):
    espcn_weights(scale)
    src = make_video(tmp_path / "in.mp4", size=(64, 48), frames=8, audio=[Audio("aac")])
    result = upscale(src, f"--x{scale}", "--preset", "ultrafast", "-q")  # no --model: espcn
    assert result.exit_code == 0, result.stderr
    out = tmp_path / f"in.x{scale}.mp4"
    before, after = decoded_frames(src), decoded_frames(out)
    assert [f.seconds for f in after] == [f.seconds for f in before]
    assert {(f.width, f.height) for f in after} == {(64 * scale, 48 * scale)}
    assert packet_bytes(out, "audio") == packet_bytes(src, "audio")


def test_espcn_image_stays_close_to_bicubic(tmp_path, upscale, espcn_weights):
    # ESPCN adds detail on top of a bicubic skip: far from bicubic means a
    # broken range or colour conversion, not a better picture.
    espcn_weights(3)
    src = make_image(tmp_path / "in.png", (48, 36))
    assert upscale(src, "--x3", "-o", tmp_path / "espcn.png", "-q").exit_code == 0
    assert upscale(src, "--x3", "--model", "bicubic", "-o", tmp_path / "bicubic.png", "-q").exit_code == 0
    with Image.open(tmp_path / "espcn.png") as a, Image.open(tmp_path / "bicubic.png") as b:
        assert a.size == b.size == (144, 108)
        diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    psnr = 10 * np.log10(255.0**2 / max(1e-9, float((diff**2).mean())))
    assert psnr > 25, f"ESPCN output is {psnr:.1f} dB from bicubic"
