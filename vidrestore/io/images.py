"""Still images: read with Pillow into the pipeline's planar form, and back.

An RGB image becomes full-range BT.601 YCbCr 4:4:4 (JPEG's convention), so
images go through exactly the processors that video frames do. The planes
hold 10 bits: 8-bit R'G'B' survives the trip to Y'CbCr and back exactly, and
filters that steepen tones (gamma, sharpening) do not magnify a rounding
step of the detour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from vidrestore.errors import InputError, UsageError
from vidrestore.io.probe import IMAGE_SUFFIXES, check_readable_file
from vidrestore.ops.resize import imresize
from vidrestore.pipeline.frames import FrameBatch, PlaneFormat

IMAGE_FORMAT = PlaneFormat(pix_fmt="yuv444p10le", full_range=True, chroma_left=False)
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}


def read_image(path: Path) -> tuple[FrameBatch, np.ndarray | None]:
    """The image as a one-frame batch, plus its alpha channel (H, W) if it has one."""
    check_readable_file(path)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("P", "PA", "LA") or "transparency" in img.info:
                img = img.convert("RGBA")  # palette/grey transparency becomes a real alpha band
            alpha = np.array(img.getchannel("A")) if "A" in img.getbands() else None
            rgb = np.array(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from None
    from vidrestore.pipeline.processor import rgb_to_planes

    t = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
    # JPEG's full-range BT.601 levels: neutral chroma is half-way (code 128 at 8 bits, 512 at 10).
    return rgb_to_planes(t[None], IMAGE_FORMAT, [0]), alpha


def resize_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(alpha.astype(np.float32))[None]
    out = imresize(t, (size[1], size[0]), kernel="bicubic")[0]
    return out.round_().clamp_(0, 255).to(torch.uint8).numpy()


def to_rgb(batch: FrameBatch) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a one-frame full-range 4:4:4 batch."""
    from vidrestore.pipeline.processor import planes_to_rgb

    rgb = planes_to_rgb(batch)[0].mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return rgb.permute(1, 2, 0).numpy()


def check_image_suffix(path: Path) -> None:
    if path.suffix.lower() not in _SAVE_FORMATS:
        raise UsageError(f"cannot write {path.suffix or 'files without an extension'}; image extensions: {', '.join(sorted(_SAVE_FORMATS))}")


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None, *, format_suffix: str) -> None:
    fmt = _SAVE_FORMATS[format_suffix.lower()]
    img = Image.fromarray(rgb, "RGB")
    if alpha is not None and fmt in ("PNG", "WEBP", "TIFF"):
        img.putalpha(Image.fromarray(alpha, "L"))
    options = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}.get(fmt, {})
    img.save(path, format=fmt, **options)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
