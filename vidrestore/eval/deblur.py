"""Scoring deblurring: the model against the blurry input and Richardson-Lucy.

Protocol (`PROTOCOL`): each sharp photo is blurred by a random camera-shake
kernel of 9 to 19 pixels (`protocol_blur`, drawn from a generator seeded by
the file name, so every run and every model sees the same blurry photos),
with Gaussian noise of sigma 2 (8-bit values), rounded to 8 bits. Three
answers are scored against the sharp photo on MATLAB's rgb2ycbcr Y rounded to
8 bits, 16 pixels in from every border (the blur's reach, and where FFT
deconvolution is least trustworthy): the blurry photo itself, Richardson-Lucy
deconvolution handed the true kernel (30 iterations, the non-blind reference
a blind network has to approach without knowing the kernel), and the model.

GOPRO-layout pairs are scored the same way with their own blurry frame; they
have no known kernel, so they get no Richardson-Lucy score.

Camera shake (`shake_kernel`) is the path of a hand-held camera during the
exposure: a point moving with inertia whose direction wanders randomly,
pulled back towards where it started and now and then jerked aside (the
random-trajectory model of Boracchi and Foi, "Modeling the Performance of
Image Restoration From Motion Blur", IEEE TIP 2012, in a simplified form),
rasterised into a kernel whose larger side spans ``extent`` pixels and
centred on its centre of mass, so blurring does not shift the picture and the
sharp photo stays the right reference. The training data draws its shake
kernels from the same model (`training.blur.SyntheticBlur`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidrestore.errors import InputError
from vidrestore.eval.photos import centre_crop, quantize8, read_photo
from vidrestore.eval.report import Column, Layout, gain, score
from vidrestore.eval.runner import Runner, run_whole_or_tiled
from vidrestore.eval.scores import METRICS, NO_SCORES, EvalResult, ImageScores, check_metrics, score_y
from vidrestore.filters.deconv import convolve, richardson_lucy
from vidrestore.filters.psf import splat
from vidrestore.ops.color import rgb_to_y_matlab

PROTOCOL_EXTENT = (9, 19)  # pixels
PROTOCOL_NOISE = 2.0  # 8-bit code values
PROTOCOL = (
    "each held-out photo blurred by one random camera-shake kernel of 9 to 19 pixels (seeded by its "
    "file name), mirrored edges, plus Gaussian noise of sigma 2/255, rounded to 8 bits; PSNR/SSIM on "
    "MATLAB rgb2ycbcr Y rounded to 8 bits, 16 pixels cropped at each border; Richardson-Lucy gets the "
    "true kernel and 30 iterations"
)
PROTOCOL_BORDER = 16
RL_ITERATIONS = 30
MIN_SIDE = 2 * PROTOCOL_BORDER + 11  # an SSIM window must remain inside the border

# The table and the JSON report of `vidrestore eval --task deblur`.
LAYOUT = Layout(
    task="deblur",
    answers=("blurry", "richardson_lucy", "model"),
    metrics=("psnr", "ssim"),
    columns=(
        Column("blurry PSNR-Y", score("blurry", "psnr"), ".3f"),
        Column("SSIM-Y", score("blurry", "ssim"), ".4f"),
        Column("R-L PSNR-Y", score("richardson_lucy", "psnr"), ".3f"),
        Column("SSIM-Y", score("richardson_lucy", "ssim"), ".4f"),
        Column("model PSNR-Y", score("model", "psnr"), ".3f"),
        Column("SSIM-Y", score("model", "ssim"), ".4f"),
        Column("gain dB", gain("blurry"), "+.3f"),
    ),
    title="{model} ({source}) on {count} blurred photos, device {device}",
    protocol=PROTOCOL,
    json_fields=("task", "model", "weights", "device", "protocol"),
)


def shake_kernel(rng: np.random.Generator, extent: float, steps: int = 128) -> torch.Tensor:
    """A random camera-shake kernel whose larger side spans `extent` pixels."""
    wander = rng.uniform(0.02, 0.25)  # radians of random turn per step (standard deviation)
    pull = rng.uniform(0.0, 0.3)  # strength of the spring back to the start
    jerk = rng.uniform(0.0, 0.03)  # chance per step of a sudden change of direction
    turns = rng.normal(0.0, wander, steps) + (rng.random(steps) < jerk) * rng.uniform(-math.pi, math.pi, steps)
    speed = np.exp(rng.normal(0.0, 0.3, steps))  # the camera lingers and hurries
    heading = rng.uniform(0.0, 2 * math.pi)
    pos = np.zeros(steps, dtype=np.complex128)
    for t in range(1, steps):
        heading += turns[t]
        step = speed[t] * complex(math.cos(heading), math.sin(heading))
        back = -pos[t - 1] / max(abs(pos[t - 1]), 1.0)  # unit vector home
        step += pull * back * speed[t]
        pos[t] = pos[t - 1] + step
    pos -= pos.mean()
    span = max(np.ptp(pos.real), np.ptp(pos.imag), 1e-9)
    pos *= (extent - 1) / span
    reach = max(np.abs(pos.real).max(), np.abs(pos.imag).max())
    size = 2 * int(math.ceil(reach)) + 3
    c = size // 2
    return splat(torch.from_numpy(c + pos.real), torch.from_numpy(c + pos.imag), size)


def protocol_blur(name: str, sharp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The protocol's blurry version of `sharp` (3, H, W) and its kernel."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    kernel = shake_kernel(rng, rng.uniform(*PROTOCOL_EXTENT))
    blurred = convolve(sharp.double(), kernel)
    noise = torch.from_numpy(rng.standard_normal(blurred.shape))
    return quantize8(blurred + PROTOCOL_NOISE / 255.0 * noise).to(sharp.dtype), kernel


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
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{path}: {width}x{height} is too small to evaluate deblurring; each side needs at least {MIN_SIDE} pixels")


def load_deblur_image(path: Path, *, name: str | None = None, crop: int | None = None,
                      blurry_path: Path | None = None) -> DeblurImage:
    """A sharp photo and its protocol blur (or its given blurry counterpart); `crop` keeps a centre crop."""
    sharp = read_photo(path, 1)
    check_deblur_size(path, sharp.shape[-1], sharp.shape[-2])
    if blurry_path is not None:
        blurry = read_photo(blurry_path, 1)
        if blurry.shape != sharp.shape:
            raise InputError(f"{blurry_path} and {path} differ in size")
        if crop is not None:
            sharp, blurry = centre_crop(sharp, crop), centre_crop(blurry, crop)
        return DeblurImage(name or path.name, blurry, sharp, None)
    if crop is not None:
        sharp = centre_crop(sharp, crop)
    blurry, kernel = protocol_blur(name or path.name, sharp)
    return DeblurImage(name or path.name, blurry, sharp, kernel)


def _y(rgb: torch.Tensor) -> torch.Tensor:
    return rgb_to_y_matlab(rgb.double().clamp(0.0, 1.0))[0]


def _scores(answer: torch.Tensor, image: DeblurImage, metrics: Sequence[str]) -> ImageScores:
    return score_y(_y(answer), _y(image.sharp), PROTOCOL_BORDER, metrics)


def deblur(runner: Runner, blurry: torch.Tensor, *, tile: int | None = None) -> torch.Tensor:
    """The model's answer for one (3, H, W) frame, clamped to [0, 1], on the CPU."""
    out = run_whole_or_tiled(runner, blurry[None], scale=1, tile=tile)
    if tuple(out.shape) != (1, *blurry.shape):
        raise ValueError(f"the model returned shape {tuple(out.shape)}; expected {(1, *blurry.shape)}")
    return out[0].float().cpu().clamp(0.0, 1.0)


def evaluate_deblur(runner: Runner, images: Sequence[DeblurImage], *, metrics: Sequence[str] = METRICS,
                    tile: int | None = None) -> EvalResult:
    check_metrics(metrics)
    return EvalResult({im.name: _scores(deblur(runner, im.blurry, tile=tile), im, metrics) for im in images})


def evaluate_blurry(images: Sequence[DeblurImage], *, metrics: Sequence[str] = METRICS) -> EvalResult:
    """The baseline: the blurry input scored as the answer."""
    check_metrics(metrics)
    return EvalResult({im.name: _scores(im.blurry, im, metrics) for im in images})


def evaluate_richardson_lucy(images: Sequence[DeblurImage], *, metrics: Sequence[str] = METRICS,
                             iterations: int = RL_ITERATIONS) -> EvalResult:
    """Non-blind Richardson-Lucy with each image's true kernel; NaN where the kernel is unknown."""
    check_metrics(metrics)
    per_image = {}
    for im in images:
        if im.kernel is None:
            per_image[im.name] = NO_SCORES
            continue
        answer = richardson_lucy(im.blurry.double(), im.kernel, iterations)
        per_image[im.name] = _scores(answer, im, metrics)
    return EvalResult(per_image)


def score_photo(runner: Runner, path: Path, *, name: str, tile: int | None = None,
                metrics: Sequence[str] = METRICS) -> dict[str, ImageScores]:
    """One photo's scores for every answer of `LAYOUT`: the blurry input's, Richardson-Lucy's and the model's."""
    images = [load_deblur_image(path, name=name)]
    return {"blurry": evaluate_blurry(images, metrics=metrics).per_image[name],
            "richardson_lucy": evaluate_richardson_lucy(images, metrics=metrics).per_image[name],
            "model": evaluate_deblur(runner, images, metrics=metrics, tile=tile).per_image[name]}
