"""Colour conversions between RGB and YCbCr on float tensors in [0, 1].

Video frames are processed in their own YCbCr planes (the source's matrix is
then respected by construction); these conversions serve images, which arrive
as RGB, and the RGB models of later issues.
"""

from __future__ import annotations

from typing import Literal

import torch

Matrix = Literal["bt601", "bt709", "bt2020"]

# (Kr, Kb) per ITU-R recommendation.
_KRKB: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}


def _coefficients(matrix: str) -> tuple[float, float, float]:
    try:
        kr, kb = _KRKB[matrix]
    except KeyError:
        raise ValueError(f"unknown matrix {matrix!r}; expected one of {sorted(_KRKB)}") from None
    return kr, 1.0 - kr - kb, kb


def rgb_to_ycbcr(rgb: torch.Tensor, matrix: Matrix = "bt601") -> torch.Tensor:
    """(..., 3, H, W) full-range RGB -> full-range Y, Cb, Cr (chroma centred on 0.5)."""
    kr, kg, kb = _coefficients(matrix)
    r, g, b = rgb.unbind(-3)
    y = kr * r + kg * g + kb * b
    cb = (b - y) / (2 * (1 - kb)) + 0.5
    cr = (r - y) / (2 * (1 - kr)) + 0.5
    return torch.stack((y, cb, cr), dim=-3)


def ycbcr_to_rgb(ycc: torch.Tensor, matrix: Matrix = "bt601") -> torch.Tensor:
    """Inverse of `rgb_to_ycbcr`."""
    kr, kg, kb = _coefficients(matrix)
    y, cb, cr = ycc.unbind(-3)
    r = y + 2 * (1 - kr) * (cr - 0.5)
    b = y + 2 * (1 - kb) * (cb - 0.5)
    g = (y - kr * r - kb * b) / kg
    return torch.stack((r, g, b), dim=-3)


def rgb_to_y(rgb: torch.Tensor, matrix: Matrix = "bt601") -> torch.Tensor:
    """Full-range luma (..., 1, H, W) of full-range RGB (..., 3, H, W)."""
    kr, kg, kb = _coefficients(matrix)
    r, g, b = rgb.unbind(-3)
    return (kr * r + kg * g + kb * b).unsqueeze(-3)


def rgb_to_y_matlab(rgb: torch.Tensor) -> torch.Tensor:
    """Limited-range BT.601 luma exactly as MATLAB's rgb2ycbcr, in [16, 235] / 255.

    This is the Y that SR papers report PSNR on.
    """
    r, g, b = rgb.unbind(-3)
    return ((16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0).unsqueeze(-3)
