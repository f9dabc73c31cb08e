"""Scores of one answer's Y plane against the reference's, and their means over photos.

Both planes are MATLAB ``rgb2ycbcr`` luma rounded to 8-bit integers (0-255),
as ``rgb2ycbcr`` gives them for uint8 images and so as the papers' MATLAB
scripts score; a border is cropped first. PSNR, SSIM and MS-SSIM come from
`vidrestore.metrics` with data range 255; gradient energy measures the
answer's sharpness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from vidrestore import metrics as M

METRICS = ("psnr", "ssim", "ms_ssim", "grad_energy")

# What each score is, in words: written into every JSON report.
METRIC_TEXT = {
    "psnr": "PSNR of the Y channel, dB",
    "ssim": "SSIM of the Y channel (Wang et al. 2004)",
    "ms_ssim": "MS-SSIM of the Y channel (Wang et al. 2003); null when a photo is under 176 pixels a side after the border crop",
    "grad_energy": "mean squared Sobel gradient magnitude of the Y channel (0-255 units): sharpness",
}


@dataclass(frozen=True)
class ImageScores:
    psnr: float
    ssim: float
    ms_ssim: float
    grad_energy: float


NO_SCORES = ImageScores(math.nan, math.nan, math.nan, math.nan)


@dataclass
class EvalResult:
    per_image: dict[str, ImageScores]

    def mean(self, metric: str) -> float:
        """Mean over images of one metric (`METRICS`); NaN scores (MS-SSIM of small photos) are left out."""
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        values = [getattr(s, metric) for s in self.per_image.values()]
        values = [v for v in values if not math.isnan(v)]
        return sum(values) / len(values) if values else math.nan


def check_metrics(metrics: Sequence[str]) -> None:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; expected some of {', '.join(METRICS)}")


def _to_8bit(y: torch.Tensor, border: int) -> torch.Tensor:
    """Y in [0, 1] units -> 0-255 integer values (as float64), `border` pixels cropped at each side."""
    return (y.double() * 255.0).round()[..., border:-border, border:-border]


def score_y(answer_y: torch.Tensor, reference_y: torch.Tensor, border: int, metrics: Sequence[str] = METRICS) -> ImageScores:
    """Scores of one Y plane against the reference (both (H, W) in [0, 1] units, unrounded);
    metrics not asked for are NaN (MS-SSIM is the slow one)."""
    ours, ref = _to_8bit(answer_y, border), _to_8bit(reference_y, border)
    compute = {
        "psnr": lambda: M.psnr(ours, ref, 255.0),
        "ssim": lambda: M.ssim(ours, ref, 255.0),
        "ms_ssim": lambda: M.ms_ssim(ours, ref, 255.0),
        "grad_energy": lambda: M.gradient_energy(ours),
    }
    return ImageScores(**{f.name: compute[f.name]() if f.name in metrics else math.nan for f in fields(ImageScores)})
