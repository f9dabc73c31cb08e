"""Processors turn one `FrameBatch` into another: the model stages (super-resolution,
deblurring) and the Y'CbCr <-> R'G'B' conversions they and the filters need."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from vidrestore.backends import Backend
from vidrestore.ops.color import Matrix, rgb_to_ycbcr, ycbcr_to_rgb
from vidrestore.ops.resize import chroma_shift, imresize
from vidrestore.pipeline.frames import FrameBatch, PlaneFormat
from vidrestore.pipeline.staging import Pending, Staging, pack, to_tensor


class Processor(Protocol):
    def output_size(self, width: int, height: int) -> tuple[int, int]: ...

    def process(self, batch: FrameBatch) -> FrameBatch: ...


@runtime_checkable
class AsyncProcessor(Processor, Protocol):
    """A processor that can queue a batch and hand back a `Pending` at once
    (the model stages: on CUDA their work runs while the caller moves on)."""

    def submit(self, batch: FrameBatch) -> Pending: ...


def submit(processor: Processor, batch: FrameBatch) -> Pending:
    """`processor.submit(batch)` where it can queue work, else the finished batch."""
    if isinstance(processor, AsyncProcessor):
        return processor.submit(batch)
    return Pending(processor.process(batch))


def _levels(fmt: PlaneFormat) -> tuple[float, float, float, float]:
    """(black, luma span, chroma zero, chroma span) in code values, as BT.601/709/2020
    define them at any bit depth: Y' = (code - black) / span, Cb = (code - zero) / span."""
    depth = fmt.bit_depth
    if fmt.full_range:
        top = float((1 << depth) - 1)
        return 0.0, top, float(1 << (depth - 1)), top
    unit = float(1 << (depth - 8))
    return 16.0 * unit, 219.0 * unit, 128.0 * unit, 224.0 * unit


def to_codes(x: torch.Tensor, fmt: PlaneFormat) -> np.ndarray:
    """Code values (float, or already packed) as the numpy plane `fmt` stores."""
    if x.is_floating_point():
        x = pack(x, fmt)
    return x.numpy().astype(fmt.dtype)


def upsample_chroma(chroma: torch.Tensor, fmt: PlaneFormat, factor: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Chroma planes (..., h, w) made factor = (rows, columns) times larger, bicubic,
    left-sited chroma kept left-sited, cropped to `size` (width, height)."""
    h, w = chroma.shape[-2:]
    fy, fx = factor
    shift = chroma_shift(fx, bool(fmt.subsampling[0])) if fmt.chroma_left else 0.0
    chroma = imresize(chroma, (h * fy, w * fx), kernel="bicubic", shift=(0.0, shift))
    # Odd sizes: the last chroma sample covers one luma column (row) only, so
    # s * ceil(w / 2) can exceed ceil(s * w / 2); drop what lies past the edge.
    return chroma[..., : size[1], : size[0]]


def subsample_chroma(chroma: torch.Tensor, fmt: PlaneFormat) -> torch.Tensor:
    """Full-resolution chroma planes (..., H, W) down to `fmt`'s subsampling,
    antialiased, each sample centred where `fmt` sites it."""
    sx, sy = fmt.subsampling
    if not (sx or sy):
        return chroma
    h, w = chroma.shape[-2:]
    pad_x, pad_y = w % (1 << sx), h % (1 << sy)
    if pad_x or pad_y:  # odd sizes: the last chroma sample's pair is its own luma column (row) again
        chroma = F.pad(chroma, (0, pad_x, 0, pad_y), mode="replicate")
    # Halving centres chroma sample c between luma columns 2c and 2c + 1; left-sited chroma sits on 2c.
    shift = -0.5 if fmt.chroma_left and sx else 0.0
    size = ((h + pad_y) >> sy, (w + pad_x) >> sx)
    return imresize(chroma, size, kernel="bicubic", shift=(0.0, shift))


def luma_input(batch: FrameBatch) -> torch.Tensor:
    """(N, 1, H, W) Y' in [0, 1]: what the Y-channel models take."""
    black, span, _, _ = _levels(batch.fmt)
    return (to_tensor(batch.luma, batch.fmt).float().unsqueeze(1) - black) / span


def model_input(batch: FrameBatch, color: str) -> torch.Tensor:
    """What a model of `color` ("y" or "rgb", `ModelSpec.color`) takes from `batch`."""
    return luma_input(batch) if color == "y" else planes_to_rgb(batch)


def planes_to_rgb(batch: FrameBatch) -> torch.Tensor:
    """(N, 3, H, W) R'G'B' in [0, 1]: chroma upsampled to the luma size, then the
    batch's own matrix and range undone."""
    return codes_to_rgb(to_tensor(batch.luma, batch.fmt), to_tensor(batch.chroma, batch.fmt), batch.fmt)


def codes_to_rgb(luma: torch.Tensor, chroma: torch.Tensor, fmt: PlaneFormat) -> torch.Tensor:
    """`planes_to_rgb` on code tensors (N, H, W) and (N, 2, Hc, Wc), on their device."""
    black, luma_span, zero, chroma_span = _levels(fmt)
    sx, sy = fmt.subsampling
    luma = (luma.float() - black) / luma_span
    chroma = (chroma.float() - zero) / chroma_span + 0.5
    chroma = upsample_chroma(chroma, fmt, (1 << sy, 1 << sx), (luma.shape[-1], luma.shape[-2]))
    rgb = ycbcr_to_rgb(torch.cat((luma.unsqueeze(1), chroma), dim=1), fmt.matrix)
    return rgb.clamp_(0.0, 1.0)


def rgb_to_codes(rgb: torch.Tensor, fmt: PlaneFormat) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `codes_to_rgb`: luma and chroma code tensors laid out as `fmt`."""
    black, luma_span, zero, chroma_span = _levels(fmt)
    ycc = rgb_to_ycbcr(rgb, fmt.matrix)
    luma = ycc[:, 0] * luma_span + black
    chroma = (subsample_chroma(ycc[:, 1:], fmt) - 0.5) * chroma_span + zero
    return pack(luma, fmt), pack(chroma, fmt)


def rgb_to_planes(rgb: torch.Tensor, fmt: PlaneFormat, pts: list[int]) -> FrameBatch:
    """Inverse of `planes_to_rgb`: (N, 3, H, W) R'G'B' in [0, 1] as code values laid out as `fmt`."""
    luma, chroma = rgb_to_codes(rgb.cpu(), fmt)
    return FrameBatch(luma=to_codes(luma, fmt), chroma=to_codes(chroma, fmt), pts=pts, fmt=fmt)


class _ModelStage(ABC):
    """A model behind a backend, usable alone (`process`/`submit`, on a batch's planes,
    on the backend's device) or inside a `Chain` (`process_rgb`, on R'G'B' frames
    another stage produced)."""

    def __init__(self, backend: Backend, scale: int) -> None:
        self.backend = backend
        self.scale = scale
        self.staging = Staging(backend.device)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width * self.scale, height * self.scale

    def submit(self, batch: FrameBatch) -> Pending:
        return self.staging.submit(batch, self.step)

    def process(self, batch: FrameBatch) -> FrameBatch:
        return self.submit(batch).detach()

    @abstractmethod
    def step(self, luma: torch.Tensor, chroma: torch.Tensor, fmt: PlaneFormat) -> tuple[torch.Tensor, torch.Tensor]:
        """Code tensors in, code tensors out, on the backend's device."""


class SuperResolution(_ModelStage):
    """Luma through the model, chroma bicubic: the eye is far less sensitive
    to chroma detail, and Y-channel SR models are trained on luma only."""

    def step(self, luma: torch.Tensor, chroma: torch.Tensor, fmt: PlaneFormat) -> tuple[torch.Tensor, torch.Tensor]:
        black, span, _, _ = _levels(fmt)
        out = self.backend.run_device((luma.float().unsqueeze(1) - black) / span).squeeze(1)
        h, w = out.shape[-2:]
        chroma = upsample_chroma(chroma.float(), fmt, (self.scale, self.scale), fmt.chroma_size(w, h))
        return pack(out.mul_(span).add_(black), fmt), pack(chroma, fmt)  # run_device's result is ours to change

    def process_rgb(self, rgb: torch.Tensor, matrix: Matrix) -> torch.Tensor:
        ycc = rgb_to_ycbcr(rgb, matrix)
        luma = self.backend.run_device(ycc[:, :1])
        chroma = imresize(ycc[:, 1:], scale=self.scale, kernel="bicubic") if self.scale != 1 else ycc[:, 1:]
        return ycbcr_to_rgb(torch.cat((luma, chroma), dim=1), matrix)


class RGBModel(_ModelStage):
    """The whole picture through an RGB model (super-resolution or deblurring),
    in the R'G'B' of the source's own matrix and range, and back into the
    source's layout: the encoder and the colour tags see the format that came in."""

    def process_rgb(self, rgb: torch.Tensor, matrix: Matrix) -> torch.Tensor:
        return self.backend.run_device(rgb)

    def step(self, luma: torch.Tensor, chroma: torch.Tensor, fmt: PlaneFormat) -> tuple[torch.Tensor, torch.Tensor]:
        rgb = self.process_rgb(codes_to_rgb(luma, chroma, fmt), fmt.matrix).clamp(0.0, 1.0)
        return rgb_to_codes(rgb, fmt)


# Keyed by `ModelSpec.color`: what the model sees.
MODEL_STAGES: dict[str, type[_ModelStage]] = {"y": SuperResolution, "rgb": RGBModel}
