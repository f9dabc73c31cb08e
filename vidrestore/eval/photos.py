"""Photos as the scoring protocols read them, and LR images made as the papers make them.

A photo is 8-bit RGB, cropped at the bottom/right to a multiple of the scale.
Its LR image is a MATLAB bicubic downscale of the HR RGB photo (antialiased),
rounded to 8 bits as a saved image or a decoded video frame would be. Scoring
and the training data (`training.data`) make LR images with this one routine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from vidrestore.errors import InputError
from vidrestore.ops.resize import imresize


def load_rgb(path: Path, scale: int) -> torch.Tensor:
    """(3, H, W) float RGB in [0, 1] at 8 bits, cropped at the bottom/right to a multiple of
    `scale`. Read as every command reads images (`io.images.read_rgb`: upright, grey as RGB,
    the same limits); a 16-bit or float photo is rounded to 8 bits, the protocols' depth."""
    from vidrestore.io.images import read_rgb

    rgb, _, depth, _ = read_rgb(path)
    if depth != "8-bit":
        rgb = quantize8(rgb)
    h, w = rgb.shape[1] // scale * scale, rgb.shape[2] // scale * scale
    return rgb[:, :h, :w].contiguous()


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """Rounded to 8-bit code values, still in [0, 1] units."""
    return (x * 255.0).round().clamp(0, 255) / 255.0


def make_lr(hr_rgb: torch.Tensor, scale: int) -> torch.Tensor:
    """The LR RGB image: antialiased MATLAB bicubic downscale, rounded to 8 bits."""
    return quantize8(imresize(hr_rgb, scale=1 / scale, kernel="bicubic", antialias=True))


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """A missing or unreadable photo as one `InputError` line."""
    from PIL import UnidentifiedImageError

    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from None


def read_photo(path: Path, scale: int) -> torch.Tensor:
    """`load_rgb`, with `InputError` for a missing or unreadable file."""
    with _reading(path):
        return load_rgb(path, scale)


def photo_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding the picture."""
    from PIL import Image

    with _reading(path), Image.open(path) as im:
        return im.size


def centre_crop(x: torch.Tensor, crop: int, multiple: int = 1) -> torch.Tensor:
    """At most crop x crop from the middle of x (C, H, W), sides kept multiples of `multiple`."""
    size = crop // multiple * multiple
    h, w = x.shape[-2:]
    ch, cw = min(h, size), min(w, size)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[:, top : top + ch, left : left + cw]


def display_names(paths: Sequence[Path]) -> list[str]:
    """File names, or whole paths for names that occur more than once."""
    names = [p.name for p in paths]
    return [n if names.count(n) == 1 else str(p) for n, p in zip(names, paths, strict=True)]


def _kinds() -> str:
    """The image types every command reads, as an error names them: "bmp, jpeg, jpg, ... or webp"."""
    from vidrestore.io.paths import IMAGE_SUFFIXES

    kinds = sorted(s.lstrip(".") for s in IMAGE_SUFFIXES)
    return f"{', '.join(kinds[:-1])} or {kinds[-1]}"


def find_photos(paths: Iterable[Path]) -> list[Path]:
    """The image files in the given folders (sorted by name) and the image files given directly.

    Images are what every command reads (`vidrestore.io.paths.is_image`).
    """
    from vidrestore.io.paths import is_image

    found: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_dir():
            photos = sorted(p for p in path.iterdir() if p.is_file() and is_image(p))
            if not photos:
                raise InputError(f"{path}: folder holds no images ({_kinds()})")
            found += photos
        elif is_image(path):
            found.append(path)
        else:
            raise InputError(f"{path}: not an image ({_kinds()})")
    return found
