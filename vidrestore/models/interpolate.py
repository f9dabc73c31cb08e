"""Reference upscalers: MATLAB-style bicubic and Lanczos-3, as modules."""

from __future__ import annotations

import torch
from torch import nn

from vidrestore.ops.resize import Kernel, imresize


class Interpolate(nn.Module):
    def __init__(self, *, scale: int, kernel: Kernel = "bicubic") -> None:
        super().__init__()
        self.scale = scale
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, scale=self.scale, kernel=self.kernel)
