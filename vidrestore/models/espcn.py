"""ESPCN: Shi et al., "Real-Time Single Image and Video Super-Resolution Using
an Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016.

Three convolutions on the low-resolution luma (5x5/64, 3x3/32, 3x3/r^2) and a
pixel shuffle that rearranges the r^2 channels into an r-times larger image.

Knobs:
- ``activation``: the paper uses tanh; ReLU trains faster on small data.
- ``residual``: add a bicubic upscale of the input, so the network only learns
  the missing detail (as VDSR does). On our 2-core training budget it trains
  far better than the plain design (figures in training/README.md).

`ESPCNLite` is the live filter's real-time rung: the same sub-pixel idea cut
to one 5x5 layer of 32 features and a 1x1 layer giving the r^2 phases, about
900 multiply-adds per input pixel against ESPCN's 21 K. Its bicubic skip is
added to those phases before the one pixel shuffle (`upscale_phases`), which
saves a full-size addition and a second shuffle: about a third of its time on
a CPU. The shape is close to the one-layer "edge-SR" models of Michelini et
al. (2022), whose point is the same: beat bicubic at almost bicubic's cost.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vidrestore.ops.resize import imresize, upscale_phases


class ESPCN(nn.Module):
    def __init__(
        self,
        *,
        scale: int,
        channels: int = 1,
        features: tuple[int, int] = (64, 32),
        activation: Literal["tanh", "relu"] = "relu",
        residual: bool = True,
    ) -> None:
        super().__init__()
        if activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be 'tanh' or 'relu', got {activation!r}")
        self.scale = scale
        self.residual = residual
        f1, f2 = features
        self.conv1 = nn.Conv2d(channels, f1, 5, padding=2)
        self.conv2 = nn.Conv2d(f1, f2, 3, padding=1)
        self.conv3 = nn.Conv2d(f2, channels * scale * scale, 3, padding=1)
        self.act = nn.Tanh() if activation == "tanh" else nn.ReLU(inplace=True)
        self.shuffle = nn.PixelShuffle(scale)
        if residual:
            # Start near the bicubic answer: the residual branch begins tiny.
            nn.init.normal_(self.conv3.weight, std=1e-3)
            nn.init.zeros_(self.conv3.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.conv1(x))
        y = self.act(self.conv2(y))
        y = self.shuffle(self.conv3(y))
        if self.residual:
            y = y + imresize(x, scale=self.scale, kernel="bicubic")
        return y


class ESPCNLite(nn.Module):
    """Luma x`scale`: conv k x k (1 -> features), ReLU, conv 1x1 (features -> scale^2),
    plus the bicubic upscale's phases, pixel-shuffled once (see the module's docstring)."""

    def __init__(self, *, scale: int, channels: int = 1, features: int = 32, kernel: int = 5) -> None:
        super().__init__()
        self.scale = scale
        # Edge pixels repeated rather than zeros beyond the frame: the frame's border then looks
        # like its inside to the filter, which has too few layers to learn an edge case.
        self.conv1 = nn.Conv2d(channels, features, kernel, padding=kernel // 2, padding_mode="replicate")
        self.conv2 = nn.Conv2d(features, channels * scale * scale, 1)
        self.act = nn.ReLU(inplace=True)
        self.shuffle = nn.PixelShuffle(scale)
        nn.init.normal_(self.conv2.weight, std=1e-3)  # start at the bicubic answer
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        skip = upscale_phases(x, self.scale).reshape(n, -1, h, w)
        return self.shuffle(self.conv2(self.act(self.conv1(x))) + skip)
