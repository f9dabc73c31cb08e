"""Building blocks shared by several architectures."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    """conv, ReLU, conv, plus the input: no batch norm and no ReLU after the sum
    (EDSR's block, which DeepDeblur and SRN-DeblurNet also use). ``res_scale``
    multiplies the branch (EDSR-large's 0.1)."""

    def __init__(self, features: int, res_scale: float = 1.0, *, kernel: int = 3) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv2d(features, features, kernel, padding=kernel // 2)
        self.act = nn.ReLU(inplace=True)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.act(self.conv1(x)))
        if self.res_scale != 1:
            y = y * self.res_scale
        return x + y


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """x (N, C, H, W) padded at the bottom and right to multiples of `multiple`
    by mirroring (edge replication where the frame is too small to mirror);
    returns it and the original (H, W) to crop back to."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
