"""Full-reference image-quality metrics and a sharpness measure, in pure torch.

Every function takes float tensors of shape (H, W), (C, H, W) or (N, C, H, W)
whose values span ``data_range`` (1.0 for [0, 1] images, 255.0 for 8-bit
values) and returns a Python float. Channels and images are scored alike and
averaged (PSNR: one mean squared error over all of them). Arithmetic is in
float64 on the tensors' device, so results do not depend on the input dtype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# SSIM constants of Wang, Bovik, Sheikh and Simoncelli, "Image Quality
# Assessment: From Error Visibility to Structural Similarity", IEEE TIP 2004:
# an 11x11 circular-symmetric Gaussian window with sigma 1.5, K1 = 0.01,
# K2 = 0.03.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# Scale weights of Wang, Simoncelli and Bovik, "Multi-Scale Structural
# Similarity for Image Quality Assessment", Asilomar 2003 (Table 1), finest
# scale first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

# The smallest side `ms_ssim` accepts: four 2x2 poolings must leave at least
# one SSIM window, 11 * 2**4 = 176.
MS_SSIM_MIN_SIZE = SSIM_WINDOW * 2 ** (len(MS_SSIM_WEIGHTS) - 1)


def _planes(x: torch.Tensor, name: str) -> torch.Tensor:
    """(H, W), (C, H, W) or (N, C, H, W) -> (N*C, 1, H, W) float64."""
    if x.dim() not in (2, 3, 4):
        raise ValueError(f"{name} must have shape (H, W), (C, H, W) or (N, C, H, W); got {tuple(x.shape)}")
    return x.reshape(-1, 1, x.shape[-2], x.shape[-1]).double()


def _pair(a: torch.Tensor, b: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} and {tuple(b.shape)}")
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    return _planes(a, "a"), _planes(b, "b")


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE); inf when a == b."""
    x, y = _pair(a, b, data_range)
    mse = torch.mean((x - y) ** 2).item()
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_window(device: torch.device) -> torch.Tensor:
    """The 1-D SSIM window, normalised to sum 1 (the 2-D window is its outer product)."""
    r = SSIM_WINDOW // 2
    t = torch.arange(-r, r + 1, dtype=torch.float64, device=device)
    g = torch.exp(-0.5 * (t / SSIM_SIGMA) ** 2)
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filtering of each channel without padding ("valid": 10 pixels smaller)."""
    c = x.shape[1]
    x = F.conv2d(x, g.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The luminance and the contrast-structure maps of SSIM (their product is the SSIM map)."""
    g = _gaussian_window(x.device)
    mu_x, mu_y, xx, yy, xy = _filter(torch.cat((x, y, x * x, y * y, x * y), dim=1), g).unbind(1)
    # Population (co)variances, as in the paper: E[xy] - E[x]E[y] under the window.
    var_x = xx - mu_x**2
    var_y = yy - mu_y**2
    cov = xy - mu_x * mu_y
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    contrast_structure = (2 * cov + c2) / (var_x + var_y + c2)
    return luminance, contrast_structure


def _check_window(x: torch.Tensor) -> None:
    h, w = x.shape[-2:]
    if min(h, w) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels; got {w}x{h}")


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Mean structural similarity (Wang et al. 2004); 1 for identical images.

    Gaussian 11x11 window with sigma 1.5, K1 = 0.01, K2 = 0.03, population
    covariances, and the mean over the window positions that lie wholly inside
    the image. That is what scikit-image's ``structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` computes:
    it filters with reflected borders, then drops the 5 border rows and
    columns that the reflection touched.
    """
    x, y = _pair(a, b, data_range)
    _check_window(x)
    luminance, contrast_structure = _ssim_maps(x, y, data_range)
    return torch.mean(luminance * contrast_structure).item()


def ms_ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> float:
    """Multi-scale SSIM (Wang, Simoncelli and Bovik 2003); 1 for identical images.

    Five scales, each the previous one 2x2 average-pooled; the product of the
    mean contrast-structure term at scales 1-4 and the mean SSIM
    (luminance x contrast-structure) at scale 5, each raised to its weight in
    `MS_SSIM_WEIGHTS`. A negative mean term (anti-correlated structure) counts
    as 0, so the result stays real.

    Returns ``nan`` when the image is too small for five scales: both sides
    must be at least `MS_SSIM_MIN_SIZE` (176) pixels, so that the coarsest
    scale still holds one 11x11 window.
    """
    x, y = _pair(a, b, data_range)
    if min(x.shape[-2:]) < MS_SSIM_MIN_SIZE:
        return math.nan
    result = 1.0
    last = len(MS_SSIM_WEIGHTS) - 1
    for level, weight in enumerate(MS_SSIM_WEIGHTS):
        if level:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        luminance, contrast_structure = _ssim_maps(x, y, data_range)
        term = torch.mean(luminance * contrast_structure if level == last else contrast_structure).item()
        result *= max(term, 0.0) ** weight
    return result


def gradient_energy(y: torch.Tensor) -> float:
    """Mean squared Sobel gradient magnitude, mean(gx^2 + gy^2): a sharpness measure.

    Full-reference metrics reward blur that sits near the truth; GAN-trained
    models (SRGAN) score lower PSNR than their L1/MSE-trained generator
    (SRResNet) yet look sharper. This number shows that difference: more
    high-frequency energy gives more. It has no reference, so it says nothing
    about whether the detail is true. The Sobel kernels are divided by 8 so a
    ramp of slope s per pixel gives magnitude s; units are the input's squared
    per pixel. Only positions where the 3x3 kernel lies inside the image count.
    """
    x = _planes(y, "y")
    if min(x.shape[-2:]) < 3:
        raise ValueError(f"gradient_energy needs at least 3x3 pixels; got {x.shape[-1]}x{x.shape[-2]}")
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device)
    diff = torch.tensor([-1.0, 0.0, 1.0], dtype=x.dtype, device=x.device)
    sobel_x = torch.outer(smooth, diff) / 8.0
    gx = F.conv2d(x, sobel_x.reshape(1, 1, 3, 3))
    gy = F.conv2d(x, sobel_x.t().reshape(1, 1, 3, 3))
    return torch.mean(gx**2 + gy**2).item()
