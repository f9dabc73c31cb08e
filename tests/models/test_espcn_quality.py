"""The shipped ESPCN must beat bicubic on a real photo it never saw.

The photo is scikit-image's "camera" (the cameraman), which is not among the
training images (those are listed in training/README.md).
"""

import numpy as np
import pytest
import torch

from vidrestore.models import build_model, get_spec
from vidrestore.ops.resize import imresize

skdata = pytest.importorskip("skimage.data")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_espcn_beats_bicubic_on_an_unseen_photo(scale):
    img = skdata.camera().astype(np.float32) / 255.0
    h, w = (s - s % 12 for s in img.shape)
    hr = torch.from_numpy(img[:h, :w]).reshape(1, 1, h, w)
    lr = imresize(hr, scale=1 / scale)
    with torch.no_grad():
        sr = build_model(get_spec("espcn"), scale)(lr).clamp(0, 1)
    bicubic = imresize(lr, scale=scale).clamp(0, 1)
    crop = (..., slice(scale, -scale), slice(scale, -scale))
    gain = psnr(sr[crop], hr[crop]) - psnr(bicubic[crop], hr[crop])
    assert gain > 0.5, f"ESPCN x{scale} gains only {gain:.2f} dB over bicubic"
