"""Restoration chains: deblur -> super-resolution -> filters in one pass.

A `Chain` is a processor made of stages. Alone, a stage works on the batch's
own planes (luma models never leave Y'CbCr). In a chain of several, the
batch is converted to R'G'B' once, every stage works on float frames (no
rounding to code values and no chroma subsampling between stages), and the
result is converted back once. Running the stages one after another through
files gives the same picture up to that rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from vidrestore.filters import Filter
from vidrestore.ops.color import Matrix
from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.frames.color import codes_to_rgb, planes_to_rgb, rgb_to_codes, rgb_to_planes
from vidrestore.pipeline.processor import submit
from vidrestore.pipeline.staging import Pending, Staging


class Stage(Protocol):
    def output_size(self, width: int, height: int) -> tuple[int, int]: ...

    def process(self, batch: FrameBatch) -> FrameBatch: ...

    def process_rgb(self, rgb: torch.Tensor, matrix: Matrix) -> torch.Tensor: ...


class FilterStage:
    """Classical filters, applied in the order given, on R'G'B' frames."""

    def __init__(self, filters: Sequence[Filter]) -> None:
        if not filters:
            raise ValueError("a filter stage needs at least one filter")
        self.filters = tuple(filters)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    def process_rgb(self, rgb: torch.Tensor, matrix: Matrix) -> torch.Tensor:
        for f in self.filters:
            rgb = f(rgb, matrix)
        return rgb

    def process(self, batch: FrameBatch) -> FrameBatch:
        rgb = self.process_rgb(planes_to_rgb(batch), batch.fmt.matrix).clamp(0.0, 1.0)
        return rgb_to_planes(rgb, batch.fmt, batch.pts)


class Chain:
    """Stages run in order on each batch: one conversion in, one out, all on
    the device of the chain's models (the CPU for filters alone)."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        if not stages:
            raise ValueError("a chain needs at least one stage")
        self.stages = tuple(stages)
        devices = {stage.backend.device for stage in self.stages if hasattr(stage, "backend")}
        self.staging = Staging("cuda" if "cuda" in devices else "cpu")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        for stage in self.stages:
            width, height = stage.output_size(width, height)
        return width, height

    def submit(self, batch: FrameBatch) -> Pending:
        if len(self.stages) == 1:
            return submit(self.stages[0], batch)
        return self.staging.submit(batch, self.step)

    def process(self, batch: FrameBatch) -> FrameBatch:
        return self.submit(batch).detach()

    def step(self, luma: torch.Tensor, chroma: torch.Tensor, fmt: PlaneFormat) -> tuple[torch.Tensor, torch.Tensor]:
        rgb = codes_to_rgb(luma, chroma, fmt)
        for stage in self.stages:
            # Out of place: backends may hand back inference tensors.
            rgb = stage.process_rgb(rgb, fmt.matrix).clamp(0.0, 1.0)
        return rgb_to_codes(rgb, fmt)
