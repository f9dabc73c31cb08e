"""Scoring deblurring: the model against the blurry input and Richardson-Lucy.

Protocol (`blur.PROTOCOL`): each sharp photo is blurred by a random
camera-shake kernel of 9 to 19 pixels seeded by its file name, with Gaussian
noise of sigma 2 (8-bit values), rounded to 8 bits. Three answers are scored
against the sharp photo on MATLAB's rgb2ycbcr Y rounded to 8 bits, 16 pixels
in from every border (the blur's reach, and where FFT deconvolution is least
trustworthy): the blurry photo itself, Richardson-Lucy deconvolution handed
the true kernel (30 iterations, the non-blind reference a blind network has
to approach without knowing the kernel), and the model.

GOPRO-layout pairs are scored the same way with their own blurry frame; they
have no known kernel, so they get no Richardson-Lucy score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vidrestore.filters.deconv import richardson_lucy
from vidrestore.ops.color import rgb_to_y_matlab
from vidrestore.training.blur import PROTOCOL_BORDER, protocol_blur
from vidrestore.training.evaluate import METRICS, EvalResult, ImageScores, check_metrics, eval_mode, read_photo, score_y

RL_ITERATIONS = 30
MIN_SIDE = 2 * PROTOCOL_BORDER + 11  # an SSIM window must remain inside the border


@dataclass(frozen=True)
class DeblurImage:
    name: str
    blurry: torch.Tensor  # (3, H, W) in [0, 1], 8-bit values
    sharp: torch.Tensor  # (3, H, W) in [0, 1]
    kernel: torch.Tensor | None  # the true blur kernel, when it is known

    def __post_init__(self) -> None:
        if self.blurry.shape != self.sharp.shape or self.blurry.dim() != 3 or self.blurry.shape[0] != 3:
            raise ValueError(f"{self.name}: blurry {tuple(self.blurry.shape)} and sharp {tuple(self.sharp.shape)} "
                             "must both be (3, H, W)")


def check_deblur_size(path: Path, width: int, height: int) -> None:
    from vidrestore.errors import InputError

    if min(width, height) < MIN_SIDE:
        raise InputError(f"{path}: {width}x{height} is too small to evaluate deblurring; each side needs at least {MIN_SIDE} pixels")


def _centre_crop(x: torch.Tensor, crop: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ch, cw = min(h, crop), min(w, crop)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[:, top : top + ch, left : left + cw]


def load_deblur_image(path: Path, *, name: str | None = None, crop: int | None = None,
                      blurry_path: Path | None = None) -> DeblurImage:
    """A sharp photo and its protocol blur (or its given blurry counterpart); `crop` keeps a centre crop."""
    sharp = read_photo(path, 1)
    check_deblur_size(path, sharp.shape[-1], sharp.shape[-2])
    if blurry_path is not None:
        blurry = read_photo(blurry_path, 1)
        if blurry.shape != sharp.shape:
            from vidrestore.errors import InputError

            raise InputError(f"{blurry_path} and {path} differ in size")
        if crop is not None:
            sharp, blurry = _centre_crop(sharp, crop), _centre_crop(blurry, crop)
        return DeblurImage(name or path.name, blurry, sharp, None)
    if crop is not None:
        sharp = _centre_crop(sharp, crop)
    blurry, kernel = protocol_blur(name or path.name, sharp)
    return DeblurImage(name or path.name, blurry, sharp, kernel)


def _y(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_y_matlab(rgb.double().clamp(0.0, 1.0))[0]


def _scores(answer: torch.Tensor, image: DeblurImage, metrics: Sequence[str]) -> ImageScores:
    return score_y(_y(answer), _y(image.sharp), PROTOCOL_BORDER, metrics)


def deblur(model: nn.Module, blurry: torch.Tensor, *, device: str | torch.device = "cpu") -> torch.Tensor:
    """The model's answer for one (3, H, W) frame, clamped to [0, 1], on the CPU."""
    with torch.inference_mode(), eval_mode(model):
        out = model(blurry[None].to(device))
    if tuple(out.shape) != (1, *blurry.shape):
        raise ValueError(f"the model returned shape {tuple(out.shape)}; expected {(1, *blurry.shape)}")
    return out[0].float().cpu().clamp(0.0, 1.0)


def evaluate_deblur(model: nn.Module, images: Sequence[DeblurImage], *, device: str | torch.device = "cpu",
                    metrics: Sequence[str] = METRICS) -> EvalResult:
    check_metrics(metrics)
    return EvalResult({im.name: _scores(deblur(model, im.blurry, device=device), im, metrics) for im in images})


def evaluate_blurry(images: Sequence[DeblurImage], *, metrics: Sequence[str] = METRICS) -> EvalResult:
    """The baseline: the blurry input scored as the answer."""
    check_metrics(metrics)
    return EvalResult({im.name: _scores(im.blurry, im, metrics) for im in images})


def evaluate_richardson_lucy(images: Sequence[DeblurImage], *, metrics: Sequence[str] = METRICS,
                             iterations: int = RL_ITERATIONS) -> EvalResult:
    """Non-blind Richardson-Lucy with each image's true kernel; NaN where the kernel is unknown."""
    check_metrics(metrics)
    nan = ImageScores(math.nan, math.nan, math.nan, math.nan)
    per_image = {}
    for im in images:
        if im.kernel is None:
            per_image[im.name] = nan
            continue
        answer = richardson_lucy(im.blurry.double(), im.kernel, iterations)
        per_image[im.name] = _scores(answer, im, metrics)
    return EvalResult(per_image)
