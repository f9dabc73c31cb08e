"""EDSR: Lim et al., "Enhanced Deep Residual Networks for Single Image
Super-Resolution", CVPRW 2017.

RGB in, RGB out. A head convolution, a body of residual blocks (conv, ReLU,
conv, no batch norm) with a long skip around the whole body, and a
pixel-shuffle upsampler (one x2/x3 stage, or two x2 stages for x4) before a
final convolution. The input is scaled to ``rgb_range`` and the DIV2K mean is
subtracted before the head and added back at the end ("mean shift").

- baseline (the paper's EDSR-baseline, shipped): 16 blocks, 64 features,
  residual scaling 1, about 1.37 M parameters at x2;
- large (``edsr-large``): 32 blocks, 256 features, residual scaling 0.1 (the
  paper found it keeps training of the wide model stable), 40.7 M parameters
  at x2 and 43 M at x4 (the figure the paper gives).

The reference implementation works on 0-255 pixel values (``rgb_range=255``);
our module takes and returns 0-1 images and does that scaling inside, so
imported reference and BasicSR weights work unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from vidrestore.models.blocks import ResBlock

# Mean RGB of DIV2K's training images, as given by the reference implementation.
DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


def upsampler(scale: int, features: int, out_features: int | None = None) -> list[nn.Module]:
    """Conv + pixel-shuffle stages: one stage for x2 and x3, two x2 stages for x4."""
    if scale == 4:
        stages = [2, 2]
    elif scale in (2, 3):
        stages = [scale]
    else:
        raise ValueError(f"scale must be 2, 3 or 4, got {scale}")
    layers: list[nn.Module] = []
    for s in stages:
        layers += [nn.Conv2d(features, features * s * s, 3, padding=1), nn.PixelShuffle(s)]
    return layers


class EDSR(nn.Module):
    def __init__(
        self,
        *,
        scale: int,
        blocks: int = 16,
        features: int = 64,
        res_scale: float = 1.0,
        rgb_range: float = 255.0,
        mean: tuple[float, float, float] = DIV2K_MEAN,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.rgb_range = rgb_range
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * rgb_range, persistent=False)
        self.head = nn.Conv2d(3, features, 3, padding=1)
        self.body = nn.Sequential(*(ResBlock(features, res_scale) for _ in range(blocks)))
        self.body_end = nn.Conv2d(features, features, 3, padding=1)
        self.upsample = nn.Sequential(*upsampler(scale, features))
        self.tail = nn.Conv2d(features, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.rgb_range - self.mean
        x = self.head(x)
        x = x + self.body_end(self.body(x))
        x = self.tail(self.upsample(x))
        return (x + self.mean) / self.rgb_range
