"""DeepDeblur: Nah, Kim and Lee, "Deep Multi-scale Convolutional Neural Network
for Dynamic Scene Deblurring", CVPR 2017.

The blurry frame is taken apart into a Gaussian pyramid of ``levels`` images
(each half the size of the one before: 5-tap binomial blur, then every second
pixel, Burt and Adelson 1983). The coarsest level goes through a network of
its own: a convolution to ``features`` channels, ``blocks`` residual blocks
(conv, ReLU, conv; no batch norm and no ReLU after the sum) and a convolution
back to RGB. Its result is up-convolved (a learned x2 transposed convolution)
and stacked with the next finer blurry image as that level's input, and so on
to full size. Training compares every level's output with the sharp image's
pyramid (the multi-scale loss, `forward(x, all_scales=True)` and `targets`).

Knobs: the paper uses 3 levels, 19 blocks per level, 64 features and 5x5
kernels (about 11.7 M parameters). ``residual`` (off in the paper, on in the
shipped weights) adds each level's blurry input to its output, so an
untrained network starts at "no change" and learns only the correction; on
our CPU training budget that converges much faster.

The module pads any frame size to a multiple of 2^(levels-1) (mirrored) and
crops back, so callers can hand it any size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidrestore.models.blocks import CoarseToFine, ResBlock

_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def gaussian_down(x: torch.Tensor) -> torch.Tensor:
    """One Gaussian-pyramid step: 5-tap binomial blur (mirrored edges), keep every second pixel."""
    c = int(x.shape[1])  # a constant when traced: ONNX needs the kernel's shape fixed
    k = torch.tensor(_BINOMIAL, dtype=x.dtype, device=x.device) / 16.0
    x = F.pad(x, (2, 2, 2, 2), mode="reflect" if min(x.shape[-2:]) > 2 else "replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    x = F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)
    return x[..., ::2, ::2]


def gaussian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """[full size, 1/2, 1/4, ...]: `levels` images."""
    pyramid = [x]
    for _ in range(levels - 1):
        pyramid.append(gaussian_down(pyramid[-1]))
    return pyramid


class _Level(nn.Module):
    def __init__(self, in_channels: int, features: int, blocks: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.head = nn.Conv2d(in_channels, features, kernel, padding=pad)
        self.body = nn.Sequential(*(ResBlock(features, kernel=kernel) for _ in range(blocks)))
        self.tail = nn.Conv2d(features, 3, kernel, padding=pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))


class DeepDeblur(CoarseToFine):
    def __init__(
        self,
        *,
        scale: int = 1,
        levels: int = 3,
        blocks: int = 19,
        features: int = 64,
        kernel: int = 5,
        residual: bool = False,
    ) -> None:
        super().__init__(scale=scale, levels=levels, kernel=kernel)
        self.residual = residual
        # levels[0] is the coarsest; it sees the blurry image alone, the others
        # the blurry image stacked with the up-convolved coarser result.
        self.nets = nn.ModuleList(_Level(3 if i == 0 else 6, features, blocks, kernel) for i in range(levels))
        if residual:
            # Each level's correction starts tiny: an untrained network returns its input.
            for net in self.nets:
                nn.init.normal_(net.tail.weight, std=1e-3)
                nn.init.zeros_(net.tail.bias)
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(3, 3, kernel, stride=2, padding=kernel // 2, output_padding=1) for _ in range(levels - 1)
        )

    @property
    def multiple(self) -> int:
        return 2 ** (self.levels - 1)

    def targets(self, sharp: torch.Tensor) -> list[torch.Tensor]:
        """The sharp image's pyramid, coarse to fine: what `forward(all_scales=True)` is compared with."""
        return gaussian_pyramid(sharp, self.levels)[::-1]

    def _scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        pyramid = gaussian_pyramid(x, self.levels)[::-1]
        outputs: list[torch.Tensor] = []
        for i, blurry in enumerate(pyramid):
            inp = blurry if i == 0 else torch.cat((blurry, self.up[i - 1](outputs[-1])), dim=1)
            out = self.nets[i](inp - 0.5)  # centred on 0, as ReLU networks train best
            outputs.append(out + blurry if self.residual else out)
        return outputs
