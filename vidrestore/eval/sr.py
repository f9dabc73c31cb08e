"""Scoring super-resolution the way SR papers do (EDSR, BasicSR), for any model.

Protocol, per photo:

- HR: the 8-bit RGB photo, cropped at the bottom/right to a multiple of
  `scale` (and, for quick validation, optionally centre-cropped).
- LR: MATLAB bicubic downscale of HR (antialiased), rounded to 8 bits
  (`photos.make_lr`).
- SR: the model's output, clamped to [0, 1]. RGB models (edsr, srresnet,
  srgan) see the LR RGB image; luma models (espcn, bicubic, lanczos) see its
  full-range BT.601 luma, and their output is mapped to limited range
  (`full_to_matlab_y`).
- Y: MATLAB's ``rgb2ycbcr`` luma (BT.601, limited range 16-235) of output and
  HR, scaled to 0-255 and rounded to integers (`scores`).
- `scale` pixels are cropped at each border; PSNR, SSIM and MS-SSIM
  (data range 255) compare the two Y planes, and gradient energy measures the
  output's sharpness.

Means are means of per-photo scores. The baseline is the registry's
MATLAB-style bicubic upscaler on luma, scored the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from vidrestore import metrics as M
from vidrestore.errors import InputError
from vidrestore.eval.photos import centre_crop, display_names, make_lr, read_photo
from vidrestore.eval.report import Column, Layout, gain, ratio, score
from vidrestore.eval.runner import Runner, run_whole_or_tiled
from vidrestore.eval.scores import METRICS, EvalResult, ImageScores, check_metrics, score_y
from vidrestore.models.registry import ColorSpace
from vidrestore.ops.color import rgb_to_y, rgb_to_y_matlab

PROTOCOL = (
    "LR = MATLAB bicubic downscale (antialiased) of the 8-bit HR RGB photo, rounded to 8 bits; "
    "output clamped to [0, 1]; MATLAB rgb2ycbcr Y (BT.601 limited range) of output and HR, "
    "rounded to 8 bits; scale pixels cropped at each border; PSNR/SSIM/MS-SSIM with data range 255; "
    "means over images"
)

# The table and the JSON report of `vidrestore eval`; "grad x bic" is the
# output's gradient energy over bicubic's (above 1: sharper).
LAYOUT = Layout(
    task="sr",
    answers=("bicubic", "model"),
    metrics=METRICS,
    columns=(
        Column("bicubic PSNR-Y", score("bicubic", "psnr"), ".3f"),
        Column("SSIM-Y", score("bicubic", "ssim"), ".4f"),
        Column("{model} PSNR-Y", score("model", "psnr"), ".3f"),
        Column("SSIM-Y", score("model", "ssim"), ".4f"),
        Column("gain dB", gain("bicubic"), "+.3f"),
        Column("MS-SSIM-Y", score("model", "ms_ssim"), ".4f"),
        Column("grad x bic", ratio("bicubic", "grad_energy"), ".3f"),
    ),
    title="{model} x{scale} ({source}) on {count} photos, device {device}",
    protocol=PROTOCOL,
    json_fields=("model", "scale", "weights", "device", "protocol", "metrics"),
)


@dataclass(frozen=True)
class EvalImage:
    name: str
    lr_rgb: torch.Tensor  # (3, h, w) in [0, 1], 8-bit values
    hr_rgb: torch.Tensor  # (3, H, W) in [0, 1], H and W multiples of the scale

    def __post_init__(self) -> None:
        for label, t in (("lr_rgb", self.lr_rgb), ("hr_rgb", self.hr_rgb)):
            if t.dim() != 3 or t.shape[0] != 3:
                raise ValueError(f"{self.name}: {label} must have shape (3, H, W); got {tuple(t.shape)}")


def min_side(scale: int) -> int:
    """The smallest HR side (a multiple of `scale`) that leaves an SSIM window after the border crop."""
    return math.ceil((M.SSIM_WINDOW + 2 * scale) / scale) * scale


def check_size(path: Path, width: int, height: int, scale: int) -> None:
    """`InputError` unless a width x height photo leaves an SSIM window at `scale` (see `min_side`)."""
    need = min_side(scale)
    if min(width // scale * scale, height // scale * scale) < need:
        raise InputError(f"{path}: {width}x{height} is too small to evaluate at x{scale}; each side needs at least {need} pixels")


def load_image(path: Path, scale: int, *, name: str | None = None, crop: int | None = None) -> EvalImage:
    """One photo and its LR version; `crop` keeps at most a centre crop x crop of HR.

    Raises `InputError` for an unreadable photo or one too small to score.
    """
    if crop is not None and crop // scale * scale < min_side(scale):
        raise ValueError(f"crop {crop} is too small at x{scale}; it must be at least {min_side(scale)}")
    hr = read_photo(path, scale)
    check_size(path, hr.shape[-1], hr.shape[-2], scale)
    if crop is not None:
        hr = centre_crop(hr, crop, scale)
    return EvalImage(name or path.name, make_lr(hr, scale), hr)


def prepare_images(paths: Sequence[Path], scale: int, *, crop: int | None = None) -> list[EvalImage]:
    """`load_image` for each path, named by `display_names`; for validation sets that fit in memory."""
    paths = [Path(p) for p in paths]
    return [load_image(p, scale, name=n, crop=crop) for p, n in zip(paths, display_names(paths), strict=True)]


def full_to_matlab_y(y: torch.Tensor) -> torch.Tensor:
    """Full-range BT.601 luma -> MATLAB's limited-range Y (an exact affine map)."""
    return (16.0 + 219.0 * y) / 255.0


def super_resolve(runner: Runner, color: ColorSpace, lr_rgb: torch.Tensor, scale: int, *,
                  tile: int | None = None) -> torch.Tensor:
    """The model's output as MATLAB limited-range Y in [0, 1] units, (H, W) float64 on the CPU.

    `color` is the model's (`LoadedModel.color`): "rgb" models get (1, 3, h, w)
    RGB, "y" models (1, 1, h, w) full-range luma. The output is clamped to
    [0, 1] before the conversion and is not rounded. With `tile`, the model
    runs on tile x tile LR pieces (`runner.run_whole_or_tiled`).
    """
    if color not in ("rgb", "y"):
        raise ValueError(f"color must be 'rgb' or 'y', got {color!r}")
    x = (lr_rgb if color == "rgb" else rgb_to_y(lr_rgb))[None]
    h, w = x.shape[-2:]
    out = run_whole_or_tiled(runner, x, scale=scale, tile=tile)
    expected = (1, 3 if color == "rgb" else 1, h * scale, w * scale)
    if tuple(out.shape) != expected:
        raise ValueError(f"the model returned shape {tuple(out.shape)}; expected {expected} for x{scale} {color} input")
    out = out.double().cpu().clamp(0.0, 1.0)[0]
    y = rgb_to_y_matlab(out) if color == "rgb" else full_to_matlab_y(out)
    return y[0]


def evaluate(runner: Runner, color: ColorSpace, images: Sequence[EvalImage], scale: int, *,
             metrics: Sequence[str] = METRICS, tile: int | None = None) -> EvalResult:
    """Scores of the model `runner` runs on every image; metrics not asked for are NaN."""
    check_metrics(metrics)
    per_image = {}
    for image in images:
        sr_y = super_resolve(runner, color, image.lr_rgb, scale, tile=tile)
        hr_y = rgb_to_y_matlab(image.hr_rgb.double())[0]
        per_image[image.name] = score_y(sr_y, hr_y, scale, metrics)
    return EvalResult(per_image)


def bicubic(scale: int) -> Runner:
    """The baseline upscaler: the registry's bicubic in PyTorch on the CPU, the same on every machine."""
    from vidrestore.backends.torch_backend import TorchBackend
    from vidrestore.models import load

    return TorchBackend(load("bicubic", scale=scale), device="cpu")


def evaluate_bicubic(images: Sequence[EvalImage], scale: int, *, metrics: Sequence[str] = METRICS) -> EvalResult:
    """The baseline's scores, same protocol."""
    return evaluate(bicubic(scale), "y", images, scale, metrics=metrics)


def score_photo(runner: Runner, color: ColorSpace, scale: int, path: Path, *, name: str,
                tile: int | None = None, metrics: Sequence[str] = METRICS) -> dict[str, ImageScores]:
    """One photo's scores for every answer of `LAYOUT`: bicubic's and the model's."""
    image = load_image(path, scale, name=name)
    return {"bicubic": evaluate_bicubic([image], scale, metrics=metrics).per_image[name],
            "model": evaluate(runner, color, [image], scale, metrics=metrics, tile=tile).per_image[name]}
