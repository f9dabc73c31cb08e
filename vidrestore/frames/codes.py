"""Code values: the integers a plane stores, as tensors, and their levels.

Codes travel as the narrowest integers that hold them: uint8, int16 for
10-bit (the same bits as a uint16 plane below 2^15), int32 for 16-bit
images (torch has no full uint16 arithmetic).
"""

from __future__ import annotations

import numpy as np
import torch

from vidrestore.frames.format import PlaneFormat


def to_tensor(plane: np.ndarray, fmt: PlaneFormat) -> torch.Tensor:
    """A plane of `fmt`'s codes as a tensor of `code_dtype(fmt)`: without a copy up to 15 bits
    (uint16 read as int16), copied to int32 at 16 bits (images)."""
    if plane.dtype != np.uint16:
        return torch.from_numpy(plane)
    if fmt.bit_depth > 15:
        return torch.from_numpy(plane.astype(np.int32))
    return torch.from_numpy(plane.view(np.int16))


def to_plane(codes: torch.Tensor) -> np.ndarray:
    """Inverse of `to_tensor` for a CPU tensor."""
    array = codes.numpy()
    if array.dtype == np.int32:
        return array.astype(np.uint16)
    return array.view(np.uint16) if array.dtype == np.int16 else array


def code_dtype(fmt: PlaneFormat) -> torch.dtype:
    if fmt.bit_depth == 8:
        return torch.uint8
    return torch.int16 if fmt.bit_depth <= 15 else torch.int32  # torch has no full uint16 arithmetic


def pack(values: torch.Tensor, fmt: PlaneFormat) -> torch.Tensor:
    """Float code values rounded and clamped to `fmt`'s range, in place, as `code_dtype(fmt)`."""
    return values.round_().clamp_(0, (1 << fmt.bit_depth) - 1).to(code_dtype(fmt))


def to_codes(x: torch.Tensor, fmt: PlaneFormat) -> np.ndarray:
    """Code values (float, or already packed) as the numpy plane `fmt` stores."""
    if x.is_floating_point():
        x = pack(x, fmt)
    return x.numpy().astype(fmt.dtype)


def levels(fmt: PlaneFormat) -> tuple[float, float, float, float]:
    """(black, luma span, chroma zero, chroma span) in code values, as BT.601/709/2020
    define them at any bit depth: Y' = (code - black) / span, Cb = (code - zero) / span."""
    depth = fmt.bit_depth
    if fmt.full_range:
        top = float((1 << depth) - 1)
        return 0.0, top, float(1 << (depth - 1)), top
    unit = float(1 << (depth - 8))
    return 16.0 * unit, 219.0 * unit, 128.0 * unit, 224.0 * unit
