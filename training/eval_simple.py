"""Held-out PSNR-Y of an SR model against bicubic, with the papers' protocol.

Protocol: LR = MATLAB bicubic downscale of the HR RGB photo (antialiased,
rounded to 8 bits); the model upscales its full-range BT.601 luma (what video
Y planes look like); PSNR is computed on MATLAB rgb2ycbcr Y (limited range),
with `scale` pixels cropped at each border, on the unrounded output clamped to
[0, 1], and averaged over photos. Bicubic is the same pipeline with the model
replaced by ``imresize(lr_y, scale=scale)``. `evaluate` holds the full
protocol for every model (SSIM, MS-SSIM, 8-bit rounding as the papers do);
this lighter one stays as the ESPCN trainer's validation score.

Run it on the shipped weights:

    python -m vidrestore.training.eval_simple --scale 2 --scale 3 --scale 4 \
        --data /work/shared/datasets/photos-hr --data /work/shared/datasets/photos-extra
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from vidrestore import metrics
from vidrestore.ops.color import rgb_to_y, rgb_to_y_matlab
from vidrestore.ops.resize import imresize
from vidrestore.training.photos import find_images, load_rgb, make_lr, read_val_list, split

Upscaler = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ValImage:
    name: str
    lr_y: torch.Tensor  # (1, 1, h, w) full-range luma of the 8-bit LR image
    hr_y_matlab: torch.Tensor  # (1, 1, H, W) limited-range MATLAB Y of the HR image


@dataclass(frozen=True)
class Score:
    per_image: dict[str, float]

    @property
    def mean(self) -> float:
        return sum(self.per_image.values()) / len(self.per_image)


def prepare(paths: tuple[Path, ...] | list[Path], scale: int) -> list[ValImage]:
    images = []
    for path in paths:
        hr = load_rgb(path, scale)
        lr_y = rgb_to_y(make_lr(hr, scale))
        images.append(ValImage(path.name, lr_y[None], rgb_to_y_matlab(hr)[None]))
    return images


def full_to_matlab_y(y: torch.Tensor) -> torch.Tensor:
    """Full-range BT.601 luma -> MATLAB's limited-range Y (an exact affine map)."""
    return (16.0 + 219.0 * y) / 255.0


def psnr(a: torch.Tensor, b: torch.Tensor, border: int) -> float:
    if border:
        a = a[..., border:-border, border:-border]
        b = b[..., border:-border, border:-border]
    return metrics.psnr(a, b)


@torch.inference_mode()
def score(upscale: Upscaler, images: list[ValImage], scale: int) -> Score:
    per_image = {}
    for image in images:
        sr = upscale(image.lr_y).clamp(0.0, 1.0)
        per_image[image.name] = psnr(full_to_matlab_y(sr), image.hr_y_matlab, border=scale)
    return Score(per_image)


def bicubic(scale: int) -> Upscaler:
    return lambda lr_y: imresize(lr_y, scale=scale, kernel="bicubic")


def _table_row(scale: int, base: Score, model: Score, recorded: str) -> str:
    gain = model.mean - base.mean
    return f"| x{scale} | {base.mean:.3f} | {model.mean:.3f} | {gain:+.3f} | {recorded} |"


def main(argv: list[str] | None = None) -> int:
    from vidrestore.models import build_model, get_spec
    from vidrestore.models.weights import read_weights

    parser = argparse.ArgumentParser(
        prog="python -m vidrestore.training.eval_simple",
        description="PSNR-Y of ESPCN weights vs bicubic on the held-out photos.",
    )
    parser.add_argument("--scale", type=int, action="append", required=True, help="repeat for several scales")
    parser.add_argument("--data", type=Path, action="append", required=True, help="image folder; repeatable")
    parser.add_argument("--val-list", default="builtin", help="'builtin' or a file of held-out file names")
    parser.add_argument("--weights", type=Path, help="weights file (one --scale only); default: the shipped ones")
    parser.add_argument("--per-image", action="store_true", help="also print each photo's PSNR")
    args = parser.parse_args(argv)
    if args.weights is not None and len(args.scale) != 1:
        parser.error("--weights goes with exactly one --scale")

    torch.set_num_threads(2)
    spec = get_spec("espcn")
    val_paths = split(find_images(args.data), read_val_list(args.val_list)).val
    print(f"held out: {', '.join(p.name for p in val_paths)}")
    rows = []
    for scale in args.scale:
        images = prepare(val_paths, scale)
        weights = args.weights or spec.weights_path(scale)
        model = build_model(spec, scale, weights)
        base, ours = score(bicubic(scale), images, scale), score(model, images, scale)
        recorded = read_weights(weights)[1].get("val_gain_db", "-")
        rows.append(_table_row(scale, base, ours, recorded))
        if args.per_image:
            for name in base.per_image:
                b, m = base.per_image[name], ours.per_image[name]
                print(f"  x{scale} {name:32s} bicubic {b:.3f}  espcn {m:.3f}  gain {m - b:+.3f}")
    print("| scale | bicubic PSNR-Y | ESPCN PSNR-Y | gain (dB) | gain in metadata |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
