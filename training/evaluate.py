"""Scoring SR models the way SR papers do (EDSR, BasicSR), for any registry model.

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
  HR, scaled to 0-255 and rounded to integers, as ``rgb2ycbcr`` does on uint8
  images and as the papers' MATLAB scripts therefore score.
- `scale` pixels are cropped at each border; PSNR, SSIM and MS-SSIM
  (`vidrestore.metrics`, data range 255) compare the two Y planes, and
  gradient energy measures the output's sharpness.

Means are means of per-photo scores. `eval_simple` (the ESPCN trainer's
validation) scores the unrounded output instead, so its PSNR comes out slightly
higher (by up to 0.05 dB on photos that score 29 to 36 dB; more on cleaner ones).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn

from vidrestore import metrics as M
from vidrestore.errors import InputError
from vidrestore.models.registry import ColorSpace
from vidrestore.ops.color import rgb_to_y, rgb_to_y_matlab
from vidrestore.training.eval_simple import full_to_matlab_y
from vidrestore.training.photos import load_rgb, make_lr

PROTOCOL = (
    "LR = MATLAB bicubic downscale (antialiased) of the 8-bit HR RGB photo, rounded to 8 bits; "
    "output clamped to [0, 1]; MATLAB rgb2ycbcr Y (BT.601 limited range) of output and HR, "
    "rounded to 8 bits; scale pixels cropped at each border; PSNR/SSIM/MS-SSIM with data range 255; "
    "means over images"
)

METRICS = ("psnr", "ssim", "ms_ssim", "grad_energy")

# Low-resolution pixels of context around each tile: more than the receptive
# field of ESPCN (4) and the interpolators (2), so their tiled output is exact;
# deep RGB models see 16 pixels, enough that seams stay far below 8-bit steps.
TILE_PAD = 16


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


def read_photo(path: Path, scale: int) -> torch.Tensor:
    from PIL import UnidentifiedImageError

    try:
        return load_rgb(path, scale)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from None


def _centre_crop(hr: torch.Tensor, crop: int, scale: int) -> torch.Tensor:
    size = crop // scale * scale
    h, w = hr.shape[-2:]
    ch, cw = min(h, size), min(w, size)
    top, left = (h - ch) // 2, (w - cw) // 2
    return hr[:, top : top + ch, left : left + cw]


def display_names(paths: Sequence[Path]) -> list[str]:
    """File names, or whole paths for names that occur more than once."""
    names = [p.name for p in paths]
    return [n if names.count(n) == 1 else str(p) for n, p in zip(names, paths, strict=True)]


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
        hr = _centre_crop(hr, crop, scale)
    return EvalImage(name or path.name, make_lr(hr, scale), hr)


def prepare_images(paths: Sequence[Path], scale: int, *, crop: int | None = None) -> list[EvalImage]:
    """`load_image` for each path, named by `display_names`; for validation sets that fit in memory."""
    paths = [Path(p) for p in paths]
    return [load_image(p, scale, name=n, crop=crop) for p, n in zip(paths, display_names(paths), strict=True)]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the call (batch norm!), then the caller's mode again (a training loop's)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _tiled(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: int, tile: int) -> torch.Tensor:
    """`run` on tile x tile pieces of x (N, C, h, w), each with `TILE_PAD` pixels of context."""
    h, w = x.shape[-2:]
    out: torch.Tensor | None = None
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            bottom, right = min(top + tile, h), min(left + tile, w)
            t0, l0 = max(top - TILE_PAD, 0), max(left - TILE_PAD, 0)
            piece = run(x[..., t0 : min(bottom + TILE_PAD, h), l0 : min(right + TILE_PAD, w)])
            if out is None:
                out = piece.new_empty(*piece.shape[:-2], h * scale, w * scale)
            dy, dx = (top - t0) * scale, (left - l0) * scale
            out[..., top * scale : bottom * scale, left * scale : right * scale] = piece[
                ..., dy : dy + (bottom - top) * scale, dx : dx + (right - left) * scale
            ]
    assert out is not None
    return out


def super_resolve(
    model: nn.Module,
    color: ColorSpace,
    lr_rgb: torch.Tensor,
    scale: int,
    *,
    device: str | torch.device = "cpu",
    tile: int | None = None,
) -> torch.Tensor:
    """The model's output as MATLAB limited-range Y in [0, 1] units, (H, W) float64 on the CPU.

    `color` is the registry's `ModelSpec.color`: "rgb" models get (1, 3, h, w)
    RGB, "y" models (1, 1, h, w) full-range luma. The output is clamped to
    [0, 1] before the conversion and is not rounded. The model must already
    be on `device`; it runs in eval mode under `torch.inference_mode`, whole
    or, with `tile`, in tile x tile LR pieces (plus `TILE_PAD` of context).
    """
    if color not in ("rgb", "y"):
        raise ValueError(f"color must be 'rgb' or 'y', got {color!r}")
    if tile is not None and tile < 1:
        raise ValueError(f"tile must be positive, got {tile}")
    x = (lr_rgb if color == "rgb" else rgb_to_y(lr_rgb))[None].to(device)
    h, w = x.shape[-2:]
    with torch.inference_mode(), eval_mode(model):
        out = model(x) if tile is None else _tiled(model, x, scale, tile)
    expected = (1, 3 if color == "rgb" else 1, h * scale, w * scale)
    if tuple(out.shape) != expected:
        raise ValueError(f"the model returned shape {tuple(out.shape)}; expected {expected} for x{scale} {color} input")
    out = out.double().cpu().clamp(0.0, 1.0)[0]
    y = rgb_to_y_matlab(out) if color == "rgb" else full_to_matlab_y(out)
    return y[0]


@dataclass
class ImageScores:
    psnr: float
    ssim: float
    ms_ssim: float
    grad_energy: float


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


def _to_8bit(y: torch.Tensor, scale: int) -> torch.Tensor:
    """Y in [0, 1] units -> 0-255 integer values (as float64), `scale` pixels cropped at each border."""
    return (y.double() * 255.0).round()[..., scale:-scale, scale:-scale]


def score_y(sr_y: torch.Tensor, hr_y: torch.Tensor, scale: int, metrics: Sequence[str] = METRICS) -> ImageScores:
    """Scores of one SR Y plane against the HR one (both (H, W) in [0, 1] units, unrounded)."""
    sr, hr = _to_8bit(sr_y, scale), _to_8bit(hr_y, scale)
    compute = {
        "psnr": lambda: M.psnr(sr, hr, 255.0),
        "ssim": lambda: M.ssim(sr, hr, 255.0),
        "ms_ssim": lambda: M.ms_ssim(sr, hr, 255.0),
        "grad_energy": lambda: M.gradient_energy(sr),
    }
    return ImageScores(**{f.name: compute[f.name]() if f.name in metrics else math.nan for f in fields(ImageScores)})


def check_metrics(metrics: Sequence[str]) -> None:
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; expected some of {', '.join(METRICS)}")


def evaluate(
    model: nn.Module,
    color: ColorSpace,
    images: Sequence[EvalImage],
    scale: int,
    *,
    device: str | torch.device = "cpu",
    metrics: Sequence[str] = METRICS,
    tile: int | None = None,
) -> EvalResult:
    """Scores of `model` on every image; metrics not asked for are NaN (MS-SSIM is the slow one)."""
    check_metrics(metrics)
    per_image = {}
    for image in images:
        sr_y = super_resolve(model, color, image.lr_rgb, scale, device=device, tile=tile)
        hr_y = rgb_to_y_matlab(image.hr_rgb.double())[0]
        per_image[image.name] = score_y(sr_y, hr_y, scale, metrics)
    return EvalResult(per_image)


def evaluate_bicubic(images: Sequence[EvalImage], scale: int, *, metrics: Sequence[str] = METRICS) -> EvalResult:
    """The baseline: the registry's MATLAB-style bicubic upscaler on luma, same protocol."""
    from vidrestore.models import build_model, get_spec

    return evaluate(build_model(get_spec("bicubic"), scale), "y", images, scale, metrics=metrics)
