"""Sharpening: the Laplacian filter and the unsharp mask.

Both add back a high-pass of the picture: x + amount * (x - smooth(x)). They
make edges crisper and noise louder, and they cannot restore detail that the
blur removed (that is what deconvolution and the deblurring networks try).
Edges are mirrored; (N, C, H, W) float tensors in [0, 1] in and out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Beyond these the result is all clipped edges; inf or nan (1e309 parses to inf) would be nan everywhere.
MAX_AMOUNT = 10.0
MAX_RADIUS = 50.0  # pixels: a 301-tap Gaussian


def _filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    ph, pw = kh // 2, kw // 2
    mode = "reflect" if ph < h and pw < w else "replicate"
    padded = F.pad(x.reshape(n * c, 1, h, w), (pw, pw, ph, ph), mode=mode)
    return F.conv2d(padded, kernel.to(x)[None, None]).reshape(n, c, h, w)


def laplacian_kernel(amount: float = 1.0) -> torch.Tensor:
    """identity - amount * Laplacian: [[0, -a, 0], [-a, 1 + 4a, -a], [0, -a, 0]] (centre 5 at a = 1)."""
    a = amount
    return torch.tensor([[0.0, -a, 0.0], [-a, 1.0 + 4.0 * a, -a], [0.0, -a, 0.0]], dtype=torch.float64)


def laplacian_sharpen(rgb: torch.Tensor, amount: float = 1.0) -> torch.Tensor:
    """The 3x3 Laplacian sharpening filter (Gonzalez and Woods 3.6.2); amount 1 is the classic kernel."""
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"the sharpening amount must be from 0 to {MAX_AMOUNT:g}, got {amount:g}")
    return _filter2d(rgb, laplacian_kernel(amount)).clamp(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur, cut at 3 sigma, mirrored edges."""
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return _filter2d(_filter2d(x, g[None, :]), g[:, None])


def unsharp_mask(rgb: torch.Tensor, amount: float = 1.0, radius: float = 1.0) -> torch.Tensor:
    """x + amount * (x - gaussian(x, radius)), as scikit-image's unsharp_mask (radius = sigma)."""
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(f"the unsharp amount must be from 0 to {MAX_AMOUNT:g}, got {amount:g}")
    if not 0 < radius <= MAX_RADIUS:
        raise ValueError(f"the unsharp radius must be above 0 and at most {MAX_RADIUS:g} pixels, got {radius:g}")
    return (rgb + amount * (rgb - gaussian_blur(rgb, radius))).clamp(0.0, 1.0)
