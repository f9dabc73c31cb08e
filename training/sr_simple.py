"""A first, simple training loop for ESPCN on luma, within a time budget.

Recipe: HR photos are decoded once into memory; each is paired with its LR
image (MATLAB bicubic downscale of the RGB photo, 8-bit, see `photos.make_lr`)
and both are kept as full-range luma. Batches are aligned random LR/HR patch
pairs, each in one of the 8 flips/90-degree rotations (these commute with
the downscale, since the photos are cropped to a multiple of the scale).
ESPCN (ReLU, bicubic skip) trains on L1 loss with Adam (batch 32, lr 5e-4,
cosine decay over the budget). MSE and batch 16 at lr 1e-3 were tried and
lost: MSE chases the few sharp photos and makes the soft ones worse than
bicubic, and the noisier steps made x4 drift below bicubic on soft photos
(training/README.md has the numbers). The held-out photos (`photos.BUILTIN_VAL` unless
``--val-list`` says otherwise) are scored with the papers' protocol every
``--val-every`` seconds, and the best checkpoint by gain over bicubic is saved.

    python -m vidrestore.training.sr_simple --scale 3 \
        --data /work/shared/datasets/photos-hr --data /work/shared/datasets/photos-extra \
        --minutes 9 -o vidrestore/models/weights/espcn_x3.safetensors
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vidrestore.errors import InputError
from vidrestore.models import get_spec
from vidrestore.models.weights import save_weights
from vidrestore.ops.color import rgb_to_y
from vidrestore.training.eval_simple import Score, ValImage, bicubic, prepare, score
from vidrestore.training.photos import find_images, load_rgb, make_lr, read_val_list, split

OPTIONS = {"activation": "relu", "residual": True}
# LR pixels on each patch side left out of the loss: there the convolutions'
# zero padding and the bicubic skip's mirrored edges see a fake image border
# that full frames do not have. Covers the receptive field (radius 4).
LOSS_BORDER = 4

Loss = Literal["l1", "mse"]
# "image": each photo equally often; "area": each LR pixel equally often.
Sampling = Literal["image", "area"]


@dataclass(frozen=True)
class TrainConfig:
    scale: int
    data: tuple[Path, ...]
    output: Path
    val_list: str = "builtin"
    minutes: float | None = None
    steps: int | None = None
    loss: Loss = "l1"
    lr: float = 5e-4
    lr_final: float = 1e-5
    batch: int = 32
    patch: int = 32  # LR pixels; the HR patch is `patch * scale`
    sampling: Sampling = "image"
    val_every: float = 60.0  # seconds of training
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")
        if self.minutes is None and self.steps is None:
            raise ValueError("give minutes or steps (or both: whichever ends first)")
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"loss must be 'l1' or 'mse', got {self.loss!r}")
        if self.patch <= 2 * LOSS_BORDER:
            raise ValueError(f"patch must exceed {2 * LOSS_BORDER} LR pixels, got {self.patch}")


@dataclass(frozen=True)
class Pair:
    lr_y: torch.Tensor  # (1, h, w)
    hr_y: torch.Tensor  # (1, h * scale, w * scale)


@dataclass
class TrainResult:
    model: nn.Module  # holds the best weights
    bicubic: Score
    best: Score
    best_step: int
    best_seconds: float
    steps: int
    train_seconds: float
    losses: list[float]  # one per step

    @property
    def gain(self) -> float:
        return self.best.mean - self.bicubic.mean


def load_pairs(paths: tuple[Path, ...], scale: int) -> list[Pair]:
    pairs = []
    for path in paths:
        hr = load_rgb(path, scale)
        pairs.append(Pair(lr_y=rgb_to_y(make_lr(hr, scale)), hr_y=rgb_to_y(hr)))
    return pairs


class PatchSampler:
    """Aligned random LR/HR patches, each in a random flip/rotation."""

    def __init__(self, pairs: list[Pair], *, scale: int, patch: int, sampling: Sampling, seed: int) -> None:
        if any(min(p.lr_y.shape[-2:]) < patch for p in pairs):
            raise InputError(f"some training images are smaller than the {patch * scale}-pixel HR patch; lower --patch")
        self.pairs, self.scale, self.patch = pairs, scale, patch
        self.gen = torch.Generator().manual_seed(seed)
        self.area = torch.tensor([float(p.lr_y.shape[-2] * p.lr_y.shape[-1]) for p in pairs])
        self.sampling = sampling

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.gen))

    def _pick_photo(self) -> int:
        if self.sampling == "area":
            return int(torch.multinomial(self.area, 1, generator=self.gen))
        return self._randint(len(self.pairs))

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        s, p = self.scale, self.patch
        lrs, hrs = [], []
        for _ in range(batch):
            pair = self.pairs[self._pick_photo()]
            h, w = pair.lr_y.shape[-2:]
            y, x = self._randint(h - p + 1), self._randint(w - p + 1)
            lr = pair.lr_y[:, y : y + p, x : x + p]
            hr = pair.hr_y[:, y * s : (y + p) * s, x * s : (x + p) * s]
            k = self._randint(8)
            lr, hr = torch.rot90(lr, k % 4, (-2, -1)), torch.rot90(hr, k % 4, (-2, -1))
            if k >= 4:
                lr, hr = lr.flip(-1), hr.flip(-1)
            lrs.append(lr)
            hrs.append(hr)
        return torch.stack(lrs), torch.stack(hrs)


def cosine_lr(progress: float, start: float, end: float) -> float:
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * min(progress, 1.0)))


def _loss(pred: torch.Tensor, target: torch.Tensor, kind: Loss, border: int) -> torch.Tensor:
    pred = pred[..., border:-border, border:-border]
    target = target[..., border:-border, border:-border]
    return F.l1_loss(pred, target) if kind == "l1" else F.mse_loss(pred, target)


def _log(message: str) -> None:
    print(message, flush=True)


def train(config: TrainConfig) -> TrainResult:
    t0 = time.monotonic()
    data = split(find_images(list(config.data)), read_val_list(config.val_list))
    pairs = load_pairs(data.train, config.scale)
    val: list[ValImage] = prepare(data.val, config.scale)
    sampler = PatchSampler(pairs, scale=config.scale, patch=config.patch, sampling=config.sampling, seed=config.seed)
    base = score(bicubic(config.scale), val, config.scale)
    _log(f"loaded {len(pairs)} training and {len(val)} held-out photos in {time.monotonic() - t0:.1f}s; "
         f"bicubic PSNR-Y {base.mean:.3f} dB")

    torch.manual_seed(config.seed)
    model = get_spec("espcn").build(scale=config.scale, **OPTIONS)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    budget = config.minutes * 60 if config.minutes is not None else math.inf
    border = LOSS_BORDER * config.scale

    best, best_state, best_step, best_seconds = None, None, 0, 0.0
    losses: list[float] = []
    train_seconds, next_val, step = 0.0, config.val_every, 0

    def validate() -> None:
        nonlocal best, best_state, best_step, best_seconds
        model.eval()
        current = score(model, val, config.scale)
        model.train()
        improved = best is None or current.mean > best.mean
        if improved:
            best, best_state, best_step, best_seconds = current, copy.deepcopy(model.state_dict()), step, train_seconds
        recent = losses[-200:]
        _log(f"[{train_seconds:6.0f}s] step {step:6d}  loss {sum(recent) / len(recent):.3e}  "
             f"espcn {current.mean:.3f}  gain {current.mean - base.mean:+.3f} dB{'  (best)' if improved else ''}")
        _log("         per photo: " + "  ".join(
            f"{Path(name).stem} {current.per_image[name] - base.per_image[name]:+.2f}" for name in base.per_image))

    while True:
        progress = max(train_seconds / budget, step / config.steps if config.steps else 0.0)
        if progress >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(progress, config.lr, config.lr_final)
        t = time.monotonic()
        lr, hr = sampler.sample(config.batch)
        loss = _loss(model(lr), hr, config.loss, border)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        train_seconds += time.monotonic() - t
        losses.append(loss.item())
        step += 1
        if train_seconds >= next_val:
            validate()
            next_val += config.val_every
    validate()
    model.load_state_dict(best_state)
    return TrainResult(model.eval(), base, best, best_step, best_seconds, step, train_seconds, losses)


def save(result: TrainResult, config: TrainConfig) -> None:
    def fmt(x: float) -> str:
        return f"{x:.4f}"

    extra = {
        "val_psnr_y_espcn": fmt(result.best.mean),
        "val_psnr_y_bicubic": fmt(result.bicubic.mean),
        "val_gain_db": fmt(result.gain),
        "val_files": json.dumps(list(result.best.per_image)),
        "val_gain_per_photo_db": json.dumps(
            {name: round(psnr - result.bicubic.per_image[name], 4) for name, psnr in result.best.per_image.items()}),
        "val_protocol": "LR = 8-bit MATLAB bicubic downscale of HR RGB; model on full-range BT.601 luma; "
                        "PSNR on MATLAB rgb2ycbcr Y, border = scale px, mean over photos",
        "train_minutes": fmt(result.train_seconds / 60),
        "train_steps": str(result.steps),
        "best_step": str(result.best_step),
        "best_minutes": fmt(result.best_seconds / 60),
        "recipe": json.dumps({"loss": config.loss, "lr": config.lr, "lr_final": config.lr_final,
                              "schedule": "cosine", "batch": config.batch, "lr_patch": config.patch,
                              "sampling": config.sampling, "seed": config.seed,
                              "trainer": "vidrestore.training.sr_simple"}),
    }
    save_weights(result.model, config.output, arch="espcn", scale=config.scale, options=OPTIONS, extra=extra)


def parse_args(argv: list[str] | None) -> tuple[TrainConfig, int]:
    parser = argparse.ArgumentParser(
        prog="python -m vidrestore.training.sr_simple",
        description="Train ESPCN (luma, ReLU, bicubic skip) on photos for a time budget.",
    )
    parser.add_argument("--scale", type=int, required=True, choices=(2, 3, 4))
    parser.add_argument("--data", type=Path, action="append", required=True, help="image folder (jpg/png); repeatable")
    parser.add_argument("--val-list", default="builtin",
                        help="held-out file names: 'builtin' (photos.BUILTIN_VAL) or a text file, one name per line")
    parser.add_argument("--minutes", type=float, help="training time budget (validation not counted)")
    parser.add_argument("--steps", type=int, help="step budget; with --minutes, whichever ends first")
    parser.add_argument("-o", "--output", type=Path, required=True, help="weights file to write (.safetensors)")
    parser.add_argument("--loss", choices=("l1", "mse"), default="l1",
                        help="l1 (default) gains on every held-out photo; mse chases the few sharp ones")
    parser.add_argument("--lr", type=float, default=5e-4, help="initial learning rate (cosine decay to --lr-final)")
    parser.add_argument("--lr-final", type=float, default=1e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--patch", type=int, default=32, help="LR patch size in pixels")
    parser.add_argument("--sampling", choices=("image", "area"), default="image",
                        help="pick each patch's photo uniformly (image) or by size (area)")
    parser.add_argument("--val-every", type=float, default=60.0, help="seconds of training between validations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.minutes is None and args.steps is None:
        parser.error("give --minutes or --steps")
    config = TrainConfig(
        scale=args.scale, data=tuple(args.data), output=args.output, val_list=args.val_list,
        minutes=args.minutes, steps=args.steps, loss=args.loss, lr=args.lr, lr_final=args.lr_final,
        batch=args.batch, patch=args.patch, sampling=args.sampling, val_every=args.val_every, seed=args.seed,
    )
    return config, args.threads


def main(argv: list[str] | None = None) -> int:
    config, threads = parse_args(argv)
    torch.set_num_threads(threads)
    result = train(config)
    save(result, config)
    _log(f"saved {config.output}: x{config.scale} espcn {result.best.mean:.3f} dB, bicubic "
         f"{result.bicubic.mean:.3f} dB, gain {result.gain:+.3f} dB (step {result.best_step} of "
         f"{result.steps}, {result.train_seconds / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
