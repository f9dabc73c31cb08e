"""Training data: photo folders and the DIV2K layout, as random LR/HR patches.

Two layouts are understood, per ``--data`` folder:

- a folder of HR images (jpg/png): the LR image is made from each HR photo
  when the data is loaded, by MATLAB-compatible antialiased bicubic
  downscaling rounded to 8 bits (`eval.photos.make_lr`), the papers' "bicubic"
  degradation;
- the DIV2K layout: a folder holding ``<name>_HR/`` and
  ``<name>_LR_bicubic/X<scale>/`` (files ``0001.png`` and ``0001x2.png``), as
  the DIV2K, Flickr2K and DF2K downloads unpack. The given LR images are used.

With a ``degradation`` table in the recipe the LR patch is instead made from
the HR patch on every draw (blur, downscale, noise, JPEG, H.264; see
`degrade.py`), which is slower but matches what video sources look like.

Photos are held in memory as uint8. A patch is drawn by index: the index
seeds its own random generator, so a run draws the same patches whatever the
number of data workers or GPUs, and resuming continues the same sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from vidrestore.errors import InputError, UsageError
from vidrestore.eval.photos import load_rgb, make_lr
from vidrestore.ops.color import rgb_to_y
from vidrestore.io.paths import is_image
from vidrestore.training.photos import BUILTIN_VAL, read_val_list


@dataclass(frozen=True)
class Source:
    hr: Path
    lr: Path | None  # a given LR image (DIV2K layout); None = made from the HR


@dataclass(frozen=True)
class Photo:
    name: str
    hr: torch.Tensor  # (3, H, W) uint8, H and W multiples of the scale
    lr: torch.Tensor | None  # (3, H / scale, W / scale) uint8; None when degraded on the fly


def _images(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and is_image(p)), key=lambda p: p.name)


def find_sources(folders: list[Path], scale: int) -> list[Source]:
    sources: list[Source] = []
    for folder in folders:
        if not folder.is_dir():
            raise InputError(f"data folder not found: {folder}")
        hr_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and d.name.endswith("_HR"))
        if not hr_dirs:
            sources += [Source(p, None) for p in _images(folder)]
            continue
        for hr_dir in hr_dirs:
            lr_dir = folder / f"{hr_dir.name[:-3]}_LR_bicubic" / f"X{scale}"
            if not lr_dir.is_dir():
                raise InputError(f"{hr_dir} has no LR folder {lr_dir} for x{scale} (DIV2K layout)")
            lr_files = {p.stem: p for p in _images(lr_dir)}
            for hr in _images(hr_dir):
                lr = lr_files.get(f"{hr.stem}x{scale}")
                if lr is None:
                    raise InputError(f"no x{scale} LR image for {hr.name} in {lr_dir}")
                sources.append(Source(hr, lr))
    if not sources:
        raise InputError(f"no images in {', '.join(map(str, folders))}")
    names = [s.hr.name for s in sources]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"file names must be unique across data folders (the split uses them): {duplicates[:5]}")
    return sorted(sources, key=lambda s: s.hr.name)


def held_out_names(names: list[str], val: str) -> tuple[str, ...]:
    """The held-out file names among `names`. ``val``: "auto" (the built-in list
    when the data holds all of it, else every tenth file by name, none when
    there is a single source), "builtin", "none", or a file listing names."""
    if val == "none":
        return ()
    if val == "auto":
        if set(BUILTIN_VAL) <= set(names):
            return BUILTIN_VAL
        return tuple(names[5::10] or names[:1]) if len(names) > 1 else ()
    held = read_val_list(val)
    missing = [n for n in held if n not in names]
    if missing:
        raise InputError(f"held-out files not in the data folders: {missing[:5]}")
    return held


def split_sources(sources: list[Source], val: str) -> tuple[list[Source], list[Source]]:
    """(train, held-out) by `held_out_names`."""
    held = held_out_names([s.hr.name for s in sources], val)
    train = [s for s in sources if s.hr.name not in held]
    if not train:
        raise InputError("every image is held out; nothing is left to train on")
    return train, [s for s in sources if s.hr.name in held]


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round_().clamp_(0, 255).to(torch.uint8)


def load_photo(source: Source, scale: int, *, with_lr: bool = True) -> Photo:
    from PIL import Image, UnidentifiedImageError

    try:
        hr = load_rgb(source.hr, scale)
        if not with_lr:
            return Photo(source.hr.name, _to_uint8(hr), None)
        if source.lr is None:
            lr = make_lr(hr, scale)
        else:
            with Image.open(source.lr) as im:
                lr = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).float() / 255
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"cannot read training image: {exc}") from None
    h, w = lr.shape[-2:]
    if hr.shape[-2] < h * scale or hr.shape[-1] < w * scale:
        raise InputError(f"{source.lr} is {w}x{h}, too large for x{scale} of {source.hr.name}")
    return Photo(source.hr.name, _to_uint8(hr[:, : h * scale, : w * scale]), _to_uint8(lr))


class PatchDataset(Dataset):
    """Aligned random LR/HR patch pairs in one of the 8 flips/rotations."""

    def __init__(self, photos: list[Photo], *, scale: int, patch: int, color: str, seed: int,
                 sampling: str = "image", degradation: dict[str, Any] | None = None) -> None:
        self.degradation = None
        # LR pixels of context kept around a patch that is degraded on the fly,
        # so blur and the downscale's kernel see real neighbours, not an edge.
        self.margin = 0
        if degradation is not None:
            from vidrestore.training.degrade import Degradation, context_margin

            try:
                self.degradation = Degradation.from_dict(degradation)
            except ValueError as exc:
                raise UsageError(f"recipe [data] degradation: {exc}") from None
            self.margin = context_margin(self.degradation, scale)
        need = patch + 2 * self.margin
        small = [p.name for p in photos if min(p.hr.shape[-2:]) < need * scale]
        if small:
            raise InputError(f"training images smaller than the {patch}-pixel LR patch: {small[:3]}; lower the patch")
        self.photos, self.scale, self.patch, self.color, self.seed = photos, scale, patch, color, seed
        area = np.array([p.hr.shape[-1] * p.hr.shape[-2] for p in photos], dtype=np.float64)
        self.cumulative = np.cumsum(area / area.sum()) if sampling == "area" else None

    def __len__(self) -> int:
        return 2**62

    def _photo(self, rng: np.random.Generator) -> Photo:
        if self.cumulative is None:
            return self.photos[int(rng.integers(len(self.photos)))]
        return self.photos[min(int(np.searchsorted(self.cumulative, rng.random())), len(self.photos) - 1)]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        photo = self._photo(rng)
        s, p = self.scale, self.patch
        if self.degradation is None:
            h, w = photo.lr.shape[-2:]
            y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
            lr = photo.lr[:, y : y + p, x : x + p].float() / 255
            hr = photo.hr[:, y * s : (y + p) * s, x * s : (x + p) * s].float() / 255
        else:
            from vidrestore.training.degrade import degrade

            m = self.margin
            h, w = photo.hr.shape[-2] // s, photo.hr.shape[-1] // s
            y, x = int(rng.integers(h - p - 2 * m + 1)), int(rng.integers(w - p - 2 * m + 1))
            wide = photo.hr[:, y * s : (y + p + 2 * m) * s, x * s : (x + p + 2 * m) * s].float() / 255
            lr = degrade(wide, s, self.degradation, rng, margin=m)
            hr = wide[:, m * s : (m + p) * s, m * s : (m + p) * s]
        k = int(rng.integers(8))
        lr, hr = torch.rot90(lr, k % 4, (-2, -1)), torch.rot90(hr, k % 4, (-2, -1))
        if k >= 4:
            lr, hr = lr.flip(-1), hr.flip(-1)
        if self.color == "y":
            lr, hr = rgb_to_y(lr), rgb_to_y(hr)
        return lr.contiguous(), hr.contiguous()


class StepSampler(Sampler[int]):
    """Patch indices for steps ``start`` onwards; each rank draws its own."""

    def __init__(self, *, start_step: int, batch: int, rank: int = 0, world: int = 1) -> None:
        self.start, self.batch, self.rank, self.world = start_step, batch, rank, world

    def __iter__(self) -> Iterator[int]:
        step = self.start
        while True:
            base = (step * self.world + self.rank) * self.batch
            yield from range(base, base + self.batch)
            step += 1

    def __len__(self) -> int:
        return 2**62


def describe_layout(sources: list[Source]) -> str:
    given = sum(s.lr is not None for s in sources)
    if given == len(sources):
        return "DIV2K layout (given LR images)"
    if given == 0:
        return "HR folders (LR by MATLAB bicubic)"
    return f"mixed: {given} given LR, {len(sources) - given} made by MATLAB bicubic"


