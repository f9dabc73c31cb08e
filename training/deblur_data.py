"""Training data for the deblurring models: blurry/sharp patch pairs.

Three kinds of ``--data`` are understood:

- the GOPRO layout (Nah et al. 2017): any folder below the given one that
  holds ``blur/`` and ``sharp/`` with the same file names (GOPRO_Large's
  ``train/GOPR0372_07_00/blur/000047.png`` and ``.../sharp/000047.png``);
  the given pairs are used as they are;
- a folder of sharp photos: every patch is blurred on the fly by a random
  kernel (`blur.SyntheticBlur`: camera shake, linear motion, defocus) with
  noise, using the real neighbours of the patch as the blur's context;
- a sharp video (any file PyAV opens): GOPRO-style blur made by averaging
  ``frames`` consecutive frames in linear light (R'G'B' decoded with gamma 2.2,
  the approximation Nah et al. use for a camera response), the sharp
  reference being the middle frame; windows do not overlap.

Patches are drawn by index as in `data.PatchDataset` (the index seeds the
draw), each in one of the 8 flips/rotations; images live in memory as uint8.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from vidrestore.errors import InputError, UsageError
from vidrestore.io.paths import is_image
from vidrestore.training.blur import SyntheticBlur, blur_valid

VIDEO_FRAMES = 7  # frames averaged per blurry frame (GOPRO used 7 to 13 at 240 fps)
_GAMMA = 2.2


@dataclass(frozen=True)
class Pair:
    name: str
    sharp: torch.Tensor  # (3, H, W) uint8
    blurry: torch.Tensor | None  # (3, H, W) uint8; None = blurred on the fly


def _rgb_u8(path: Path) -> torch.Tensor:
    """(3, H, W) uint8, read as every command reads images (16-bit ones rounded, not clipped)."""
    from vidrestore.eval.photos import load_rgb

    return (load_rgb(path, 1) * 255).round_().to(torch.uint8)  # an unreadable file: one InputError naming it


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image(p))


def gopro_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(blurry, sharp) paths of every ``blur/``-``sharp/`` folder pair under `folder`."""
    pairs = []
    for blur_dir in sorted(folder.rglob("blur")):
        sharp_dir = blur_dir.parent / "sharp"
        if not (blur_dir.is_dir() and sharp_dir.is_dir()):
            continue
        for blurry in _images(blur_dir):
            sharp = sharp_dir / blurry.name
            if not sharp.is_file():
                raise InputError(f"{blurry} has no sharp counterpart {sharp}")
            pairs.append((blurry, sharp))
    return pairs


def video_pairs(path: Path, frames: int = VIDEO_FRAMES, limit: int | None = None) -> list[Pair]:
    """GOPRO-style (blurry, sharp) pairs from a sharp video: non-overlapping windows of
    `frames` frames averaged in linear light, the middle frame as the reference."""
    import av

    if frames < 2:
        raise UsageError(f"averaging needs at least 2 frames, got {frames}")
    pairs: list[Pair] = []
    window: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                window.append(frame.to_ndarray(format="rgb24"))
                if len(window) < frames:
                    continue
                stack = torch.from_numpy(np.stack(window)).double() / 255.0
                blurry = stack.pow(_GAMMA).mean(dim=0).pow(1 / _GAMMA)
                sharp = stack[frames // 2]
                pairs.append(Pair(f"{path.name}#{len(pairs)}", _to_u8(sharp), _to_u8(blurry)))
                window = []
                if limit is not None and len(pairs) >= limit:
                    break
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot read training video {path}: {exc}") from None
    if not pairs:
        raise InputError(f"{path}: fewer than {frames} frames, no blurry frame can be made")
    return pairs


def _to_u8(hwc: torch.Tensor) -> torch.Tensor:
    return (hwc * 255.0).round().clamp(0, 255).to(torch.uint8).permute(2, 0, 1).contiguous()


def find_deblur_sources(folders: list[Path]) -> list[Any]:
    """Each item: a (blurry, sharp) path tuple, a sharp image Path, or a video Path."""
    from vidrestore.io.paths import VIDEO_SUFFIXES

    sources: list[Any] = []
    for folder in folders:
        if folder.is_file() and folder.suffix.lower() in VIDEO_SUFFIXES:
            sources.append(folder)
            continue
        if not folder.is_dir():
            raise InputError(f"data folder or video not found: {folder}")
        pairs = gopro_pairs(folder)
        if pairs:
            sources += pairs
            continue
        found = _images(folder) + sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if not found:
            raise InputError(f"{folder} holds no images, videos or GOPRO-layout blur/sharp folders")
        sources += found
    return sources


def source_name(source: Any) -> str:
    return source[1].name if isinstance(source, tuple) else source.name


def load_pairs(sources: list[Any]) -> list[Pair]:
    pairs: list[Pair] = []
    for source in sources:
        if isinstance(source, tuple):
            blurry, sharp = (_rgb_u8(p) for p in source)
            if blurry.shape != sharp.shape:
                raise InputError(f"{source[0]} and {source[1]} differ in size")
            pairs.append(Pair(f"{source[1].parent.parent.name}/{source[1].name}", sharp, blurry))
        elif is_image(source):
            pairs.append(Pair(source.name, _rgb_u8(source), None))
        else:
            pairs += video_pairs(source)
    return pairs


class BlurPatchDataset(Dataset):
    """(blurry, sharp) patch pairs of `patch` pixels, float in [0, 1]."""

    def __init__(self, pairs: list[Pair], *, patch: int, seed: int, blur: dict[str, Any] | None = None) -> None:
        try:
            self.blur = SyntheticBlur.from_dict(blur or {})
        except (TypeError, ValueError) as exc:
            raise UsageError(f"recipe [data] blur: {exc}") from None
        self.margin = self.blur.largest // 2 + 1
        small = [p.name for p in pairs if min(p.sharp.shape[-2:]) < patch + (2 * self.margin if p.blurry is None else 0)]
        if small:
            raise InputError(f"training images too small for {patch}-pixel patches with {self.margin} pixels of context "
                             f"for the blur: {small[:3]}; lower the patch or the blur's extent")
        self.pairs, self.patch, self.seed = pairs, patch, seed

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        pair = self.pairs[int(rng.integers(len(self.pairs)))]
        p = self.patch
        h, w = pair.sharp.shape[-2:]
        if pair.blurry is not None:
            y, x = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
            blurry = pair.blurry[:, y : y + p, x : x + p].float() / 255
            sharp = pair.sharp[:, y : y + p, x : x + p].float() / 255
        else:
            m = self.margin
            y, x = int(rng.integers(h - p - 2 * m + 1)), int(rng.integers(w - p - 2 * m + 1))
            wide = pair.sharp[:, y : y + p + 2 * m, x : x + p + 2 * m].float() / 255
            kernel, sigma = self.blur.sample(rng)
            blurry = blur_valid(wide, kernel, p, rng, sigma)
            sharp = wide[:, m : m + p, m : m + p]
        k = int(rng.integers(8))
        blurry, sharp = torch.rot90(blurry, k % 4, (-2, -1)), torch.rot90(sharp, k % 4, (-2, -1))
        if k >= 4:
            blurry, sharp = blurry.flip(-1), sharp.flip(-1)
        return blurry.contiguous(), sharp.contiguous()
