"""Building blocks shared by several architectures."""

from __future__ import annotations

from abc import ABC, abstractmethod

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


class CoarseToFine(nn.Module, ABC):
    """What the multi-scale deblurring networks share: the frame-size keeping
    constructor checks, and a `forward` that pads any frame to `multiple`, runs
    `_scales` (every scale's result, coarse to fine) and crops the finest back.
    Training calls ``forward(x, all_scales=True)`` and compares each result with
    `targets(sharp)`; subclasses define `multiple`, `_scales` and `targets`."""

    def __init__(self, *, scale: int, levels: int, kernel: int) -> None:
        super().__init__()
        if scale != 1:
            raise ValueError(f"{type(self).__name__} keeps the frame size: scale must be 1, got {scale}")
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.scale = scale
        self.levels = levels

    @property
    @abstractmethod
    def multiple(self) -> int:
        """What frame sides must be multiples of."""

    @abstractmethod
    def _scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every scale's result, coarse to fine."""

    @abstractmethod
    def targets(self, sharp: torch.Tensor) -> list[torch.Tensor]:
        """The sharp frame at every scale, coarse to fine."""

    def forward(self, x: torch.Tensor, *, all_scales: bool = False) -> torch.Tensor | list[torch.Tensor]:
        """The deblurred frame; with ``all_scales`` (training) every scale's result,
        coarse to fine, for a frame whose sides are multiples of `multiple`."""
        if all_scales:
            h, w = x.shape[-2:]
            if h % self.multiple or w % self.multiple:
                raise ValueError(f"all_scales needs sides that are multiples of {self.multiple}; got {w}x{h}")
            return self._scales(x)
        padded, (h, w) = pad_to_multiple(x, self.multiple)
        return self._scales(padded)[-1][..., :h, :w]
