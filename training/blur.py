"""Synthetic blur for training the deblurring models.

Sharp photos become blurry ones by convolution with a random kernel, plus
sensor noise and 8-bit rounding. The kernels are camera shake (the model the
held-out protocol blurs with, `vidrestore.eval.deblur.shake_kernel`), linear
motion and defocus discs (`vidrestore.filters.psf`), each centred, so that
blurring does not shift the picture and the sharp patch stays the right target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidrestore.eval.deblur import shake_kernel
from vidrestore.eval.photos import quantize8
from vidrestore.filters.psf import defocus_psf, motion_psf


@dataclass(frozen=True)
class SyntheticBlur:
    """The mix of blurs drawn for training (a recipe's ``[data] blur`` table)."""

    shake_prob: float = 0.6
    linear_prob: float = 0.25  # the rest of the blurred patches get defocus
    sharp_prob: float = 0.05  # patches left unblurred: a sharp frame should come out unchanged
    extent: tuple[float, float] = (3.0, 25.0)  # motion kernels, pixels
    defocus_radius: tuple[float, float] = (1.0, 5.0)  # pixels
    noise_sigma: tuple[float, float] = (0.0, 4.0)  # 8-bit code values

    def __post_init__(self) -> None:
        for name in ("shake_prob", "linear_prob", "sharp_prob"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if self.shake_prob + self.linear_prob > 1:
            raise ValueError("shake_prob + linear_prob must not exceed 1")
        for name in ("extent", "defocus_radius", "noise_sigma"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"{name} must be a range [low, high] with 0 <= low <= high, got {[lo, hi]}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyntheticBlur:
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown blur keys {unknown}; expected some of {names}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @property
    def largest(self) -> int:
        """The largest kernel side this mix can draw (for the context a patch needs)."""
        return 2 * int(math.ceil(max(self.extent[1], self.defocus_radius[1]))) + 3

    def sample(self, rng: np.random.Generator) -> tuple[torch.Tensor, float]:
        """One kernel and one noise sigma (in [0, 1] units)."""
        u = rng.random()
        sigma = rng.uniform(*self.noise_sigma) / 255.0
        if rng.random() < self.sharp_prob:
            return torch.ones(1, 1, dtype=torch.float64), sigma
        if u < self.shake_prob:
            return shake_kernel(rng, rng.uniform(*self.extent)), sigma
        if u < self.shake_prob + self.linear_prob:
            return motion_psf(rng.uniform(*self.extent), rng.uniform(0.0, 180.0)), sigma
        return defocus_psf(rng.uniform(*self.defocus_radius)), sigma


def blur_valid(wide: torch.Tensor, kernel: torch.Tensor, out: int, rng: np.random.Generator, sigma: float) -> torch.Tensor:
    """Blur the centre out x out of `wide` (3, H, W) with `kernel` using real
    neighbours as context (H, W >= out + kernel side - 1), add Gaussian noise of
    `sigma`, round to 8 bits."""
    k = kernel.to(wide.dtype)
    kh, kw = k.shape
    h, w = wide.shape[-2:]
    top, left = (h - out - kh + 1) // 2, (w - out - kw + 1) // 2
    region = wide[:, top : top + out + kh - 1, left : left + out + kw - 1]
    if kh * kw <= 49:
        # conv2d correlates: flip the kernel to convolve.
        blurred = F.conv2d(region[:, None], k.flip(0, 1)[None, None])[:, 0]
    else:
        # Large kernels through the FFT (a 25-pixel shake on a 256-pixel patch is
        # ~10x faster): the circular convolution's entries from (kh-1, kw-1) on
        # are the valid linear ones, untouched by the wrap-around.
        size = region.shape[-2:]
        spectrum = torch.fft.rfft2(region, s=size) * torch.fft.rfft2(k, s=size)
        blurred = torch.fft.irfft2(spectrum, s=size)[:, kh - 1 : kh - 1 + out, kw - 1 : kw - 1 + out]
    if sigma > 0:
        noise = torch.from_numpy(rng.standard_normal(blurred.shape)).to(blurred.dtype)
        blurred = blurred + sigma * noise
    return quantize8(blurred)
