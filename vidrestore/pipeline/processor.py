"""Processors turn one `FrameBatch` into another. Super-resolution lives here."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from vidrestore.backends import Backend
from vidrestore.ops.resize import chroma_shift, imresize
from vidrestore.pipeline.frames import FrameBatch, PlaneFormat


class Processor(Protocol):
    def output_size(self, width: int, height: int) -> tuple[int, int]: ...

    def process(self, batch: FrameBatch) -> FrameBatch: ...


def _luma_range(fmt: PlaneFormat) -> tuple[float, float]:
    """(black, white) code values of the luma plane."""
    top = (1 << fmt.bit_depth) - 1
    if fmt.full_range:
        return 0.0, float(top)
    unit = 1 << (fmt.bit_depth - 8)
    return 16.0 * unit, 235.0 * unit


def to_codes(x: torch.Tensor, fmt: PlaneFormat) -> np.ndarray:
    top = (1 << fmt.bit_depth) - 1
    return x.round_().clamp_(0, top).numpy().astype(fmt.dtype)


class SuperResolution:
    """Luma through the model, chroma bicubic: the eye is far less sensitive
    to chroma detail, and Y-channel SR models are trained on luma only."""

    def __init__(self, backend: Backend, scale: int) -> None:
        self.backend = backend
        self.scale = scale

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width * self.scale, height * self.scale

    def process(self, batch: FrameBatch) -> FrameBatch:
        fmt = batch.fmt
        black, white = _luma_range(fmt)
        luma = torch.from_numpy(batch.luma.astype(np.float32)).unsqueeze(1)
        luma = (luma - black) / (white - black)
        out = self.backend.run(luma).squeeze(1)
        out = out * (white - black) + black
        sx, sy = fmt.subsampling
        chroma = torch.from_numpy(batch.chroma.astype(np.float32))
        shift = (0.0, chroma_shift(self.scale, bool(sx)) if fmt.chroma_left else 0.0)
        chroma = imresize(chroma, scale=self.scale, kernel="bicubic", shift=shift)
        # Odd sizes: the last chroma sample covers one luma column (row) only, so
        # s * ceil(w / 2) can exceed ceil(s * w / 2); drop what lies past the edge.
        cw, ch = fmt.chroma_size(out.shape[-1], out.shape[-2])
        chroma = chroma[..., :ch, :cw]
        return FrameBatch(luma=to_codes(out, fmt), chroma=to_codes(chroma, fmt), pts=batch.pts, fmt=fmt)
