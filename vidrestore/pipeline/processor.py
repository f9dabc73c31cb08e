"""Processors turn one `FrameBatch` into another: the model stages (super-resolution,
deblurring). The colour maths they use lives in `vidrestore.frames`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import torch

from vidrestore.backends.base import Backend
from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.frames.codes import levels, pack
from vidrestore.frames.color import codes_to_rgb, rgb_to_codes, upsample_chroma
from vidrestore.ops.color import Matrix, rgb_to_ycbcr, ycbcr_to_rgb
from vidrestore.ops.resize import imresize
from vidrestore.pipeline.staging import Pending, Staging


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
        black, span, _, _ = levels(fmt)
        # In place on the fresh float copy: one frame-sized float tensor, not three.
        out = self.backend.run_device(luma.float().unsqueeze(1).sub_(black).div_(span)).squeeze(1)
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
        rgb = self.process_rgb(codes_to_rgb(luma, chroma, fmt), fmt.matrix).clamp_(0.0, 1.0)  # run_device's: ours
        return rgb_to_codes(rgb, fmt)


# Keyed by `ModelSpec.color`: what the model sees.
MODEL_STAGES: dict[str, type[_ModelStage]] = {"y": SuperResolution, "rgb": RGBModel}
