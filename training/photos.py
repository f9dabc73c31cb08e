"""Training photos: the fixed validation split. Which files are photos is what every
command reads (`vidrestore.io.paths.is_image`).

LR images for training and for scoring come from one routine,
`vidrestore.eval.photos.make_lr`; it and `quantize8` are imported here too,
where `degrade.py` and the degradation tests have always found them.
"""

from __future__ import annotations

from pathlib import Path

from vidrestore.errors import InputError
from vidrestore.eval.photos import make_lr, quantize8

__all__ = ["BUILTIN_VAL", "make_lr", "quantize8", "read_val_list"]

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
