"""On a CPU the model stages run a batch through the backend in chunks of frames bounded
by a pixel budget: the backend sees those chunks, and the codes are those of one call."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.media import pattern
from vidrestore.backends import open_backend
from vidrestore.filters import parse_filter
from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.models import load, wrap
from vidrestore.models.deepdeblur import DeepDeblur
from vidrestore.pipeline.chain import Chain, FilterStage
from vidrestore.pipeline.processor import RGBModel, SuperResolution
from vidrestore.pipeline.staging import CPU_CHUNK_PIXELS, Staging, frames_per_chunk


class Recording:
    """A backend that passes every call on and keeps the batch shapes it was called with."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.device = backend.device
        self.calls: list[tuple[int, ...]] = []

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(batch.shape))
        return self.backend.run(batch)

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(batch.shape))
        return self.backend.run_device(batch)


def batch_of(width: int, height: int, frames: int, pix_fmt: str = "yuv420p") -> FrameBatch:
    planes = [pattern(i, width, height, pix_fmt) for i in range(frames)]
    luma = np.stack([p[0] for p in planes])
    chroma = np.stack([np.stack(p[1:]) for p in planes])
    return FrameBatch(luma, chroma, list(range(frames)), PlaneFormat(pix_fmt, False, chroma_left=True))


def _same(a: FrameBatch, b: FrameBatch) -> None:
    assert a.luma.dtype == b.luma.dtype and a.luma.shape == b.luma.shape and a.chroma.shape == b.chroma.shape
    assert np.array_equal(a.luma, b.luma) and np.array_equal(a.chroma, b.chroma)
    assert a.pts == b.pts and a.fmt == b.fmt


def test_the_budget_counts_whole_frames():
    assert CPU_CHUNK_PIXELS == 1 << 17
    assert frames_per_chunk(360, 640) == 1  # larger than the budget: still one frame a call
    assert frames_per_chunk(720, 1280) == 1
    assert frames_per_chunk(180, 320) == 2
    assert frames_per_chunk(90, 160) == 9
    assert frames_per_chunk(30, 40, pixels=2500) == 2
    assert frames_per_chunk(30, 40, pixels=None) is None


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_super_resolution_in_chunks_equals_one_call(backend: str, pix_fmt: str):
    recording = Recording(open_backend(backend, load("espcn", scale=3), "cpu"))
    stage = SuperResolution(recording, 3)
    src = batch_of(40, 30, 5, pix_fmt)
    stage.staging = Staging("cpu", chunk_pixels=2 * 40 * 30)
    chunked = stage.process(src)
    assert [c[0] for c in recording.calls] == [2, 2, 1]
    recording.calls.clear()
    stage.staging = Staging("cpu", chunk_pixels=None)
    whole = stage.process(src)
    assert [c[0] for c in recording.calls] == [5]
    _same(chunked, whole)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_an_rgb_model_in_chunks_equals_one_call(backend: str):
    torch.manual_seed(0)
    net = DeepDeblur(blocks=1, features=8, kernel=3, residual=True)
    for level in net.nets:  # a visible correction, not the near-identity of a fresh network
        torch.nn.init.normal_(level.tail.weight, std=0.05)
    recording = Recording(open_backend(backend, wrap(net, scale=1, color="rgb", task="deblur"), "cpu"))
    stage = RGBModel(recording, 1)
    src = batch_of(48, 32, 3)
    stage.staging = Staging("cpu", chunk_pixels=48 * 32)
    chunked = stage.process(src)
    assert [c[0] for c in recording.calls] == [1, 1, 1]
    stage.staging = Staging("cpu", chunk_pixels=None)
    _same(chunked, stage.process(src))


def test_a_chain_runs_in_chunks_too():
    sr = SuperResolution(Recording(open_backend("torch", load("bicubic", scale=2), "cpu")), 2)
    chain = Chain([sr, FilterStage([parse_filter("unsharp=0.8,radius=1.5")])])
    src = batch_of(40, 30, 4)
    chain.staging = Staging("cpu", chunk_pixels=3 * 40 * 30)
    chunked = chain.process(src)
    assert [c[0] for c in sr.backend.calls] == [3, 1]
    chain.staging = Staging("cpu", chunk_pixels=None)
    _same(chunked, chain.process(src))


def test_large_frames_reach_the_backend_one_at_a_time_by_default():
    recording = Recording(open_backend("torch", load("bicubic", scale=2), "cpu"))
    stage = SuperResolution(recording, 2)
    out = stage.process(batch_of(640, 360, 3))
    assert recording.calls == [(1, 1, 360, 640)] * 3
    assert out.luma.shape == (3, 720, 1280) and out.chroma.shape == (3, 2, 360, 640)


def test_small_frames_still_share_a_call():
    recording = Recording(open_backend("torch", load("bicubic", scale=2), "cpu"))
    SuperResolution(recording, 2).process(batch_of(64, 48, 4))
    assert recording.calls == [(4, 1, 48, 64)]
