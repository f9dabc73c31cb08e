"""Training photos: finding them, the fixed validation split, and LR making.

An LR image is made as SR papers make theirs: MATLAB bicubic downscaling of the
HR RGB image (antialiased), rounded to 8 bits as a saved image or a decoded
video frame would be. Training pairs and validation use this one routine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vidrestore.errors import InputError
from vidrestore.ops.resize import imresize

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# The held-out photos of the shipped weights: four wallpapers from
# photos-hr (a close-up, wood grain, a busy still life, a landscape) and two
# photos-extra images with hard edges (a cat's fur, a motorcycle). Chosen by
# hand for variety before any training; never trained on.
BUILTIN_VAL = (
    "mate-ladybird.jpg",
    "mate-wood.jpg",
    "plasma-colorfulcups.jpg",
    "plasma-kite.jpg",
    "skimage-chelsea.png",
    "skimage-motorcycle_left.png",
)


@dataclass(frozen=True)
class Split:
    train: tuple[Path, ...]
    val: tuple[Path, ...]


def find_images(folders: list[Path]) -> list[Path]:
    """The jpg/png files directly in `folders`, sorted by file name."""
    paths: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"data folder not found: {folder}")
        paths += [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    if not paths:
        raise InputError(f"no {'/'.join(IMAGE_SUFFIXES)} images in {', '.join(map(str, folders))}")
    names = [p.name for p in paths]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"file names must be unique across data folders (the split uses them): {duplicates}")
    return sorted(paths, key=lambda p: p.name)


def read_val_list(spec: str) -> tuple[str, ...]:
    """'builtin' or a text file with one file name per line ('#' starts a comment)."""
    if spec == "builtin":
        return BUILTIN_VAL
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"validation list not found: {spec} (give a file, or 'builtin')")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    names = tuple(line for line in lines if line)
    if not names:
        raise InputError(f"validation list {spec} names no files")
    return names


def split(paths: list[Path], val_names: tuple[str, ...]) -> Split:
    by_name = {p.name: p for p in paths}
    missing = [n for n in val_names if n not in by_name]
    if missing:
        raise InputError(f"validation files not in the data folders: {missing}")
    train = tuple(p for p in paths if p.name not in val_names)
    if not train:
        raise InputError("every image is held out for validation; nothing is left to train on")
    return Split(train=train, val=tuple(by_name[n] for n in val_names))


def load_rgb(path: Path, scale: int) -> torch.Tensor:
    """(3, H, W) float RGB in [0, 1], cropped at the bottom/right to a multiple of `scale`."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.array(im.convert("RGB"))
    h, w = rgb.shape[0] // scale * scale, rgb.shape[1] // scale * scale
    return torch.from_numpy(rgb[:h, :w].copy()).permute(2, 0, 1).float() / 255.0


def quantize8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255.0).round().clamp(0, 255) / 255.0


def make_lr(hr_rgb: torch.Tensor, scale: int) -> torch.Tensor:
    """The LR RGB image: antialiased MATLAB bicubic downscale, rounded to 8 bits."""
    return quantize8(imresize(hr_rgb, scale=1 / scale, kernel="bicubic", antialias=True))
