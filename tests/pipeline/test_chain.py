"""Chains: one stage is exactly the stage alone; several stages equal running them
one after another, up to the rounding the chain saves between the steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vidrestore.backends import open_backend
from vidrestore.filters import parse_filter
from vidrestore.io.images import IMAGE_FORMAT, to_rgb
from vidrestore.models.deepdeblur import DeepDeblur
from vidrestore.models.interpolate import Interpolate
from vidrestore.pipeline.chain import Chain, FilterStage
from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.pipeline.processor import RGBModel, SuperResolution
from vidrestore.frames.color import rgb_to_planes
from vidrestore.models import wrap


def picture(h: int = 40, w: int = 56) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    rgb = torch.stack((x, y, 0.5 + 0.4 * torch.sin(9 * x * y)))
    rgb[:, 10:25, 12:30] = torch.tensor([0.9, 0.3, 0.2])[:, None, None]
    return (rgb + 0.1 * torch.rand(rgb.shape, generator=g)).clamp(0, 1)[None]


def deblur_stage() -> RGBModel:
    torch.manual_seed(0)
    net = DeepDeblur(blocks=1, features=8, kernel=3, residual=True)
    for level in net.nets:  # a visible correction, not the near-identity of a fresh network
        torch.nn.init.normal_(level.tail.weight, std=0.05)
    return RGBModel(open_backend("torch", wrap(net, scale=1, color="rgb", task="deblur"), "cpu"), 1)


def stages(scale: int = 2) -> list:
    sr = SuperResolution(open_backend("torch", wrap(Interpolate(scale=scale), scale=scale, color="y"), "cpu"), scale)
    filters = FilterStage([parse_filter("gamma=0.8"), parse_filter("unsharp=0.8,radius=1.5")])
    return [deblur_stage(), sr, filters]


def image_batch() -> FrameBatch:
    return rgb_to_planes(picture(), IMAGE_FORMAT, [0])


def test_one_stage_chain_is_the_stage_itself() -> None:
    batch = image_batch()
    for stage in stages():
        out_chain, out_alone = Chain([stage]).process(batch), stage.process(batch)
        assert np.array_equal(out_chain.luma, out_alone.luma) and np.array_equal(out_chain.chroma, out_alone.chroma)


def test_chain_equals_the_steps_one_after_another_within_rounding() -> None:
    batch = image_batch()
    deblur, sr, filters = stages()
    chained = to_rgb(Chain([deblur, sr, filters]).process(batch)).astype(int)
    stepwise = to_rgb(filters.process(sr.process(deblur.process(batch)))).astype(int)
    assert chained.shape == stepwise.shape == (80, 112, 3)
    # Step by step, each stage's result is rounded to 8-bit Y'CbCr (about 1 RGB code either
    # way); the unsharp mask and bicubic overshoot then amplify that up to about 2x.
    diff = np.abs(chained - stepwise)
    assert diff.max() <= 6 and diff.mean() < 1.0 and (diff > 2).mean() < 0.1
    # ... and the chain really did all three: it differs from each partial chain.
    assert np.abs(chained - to_rgb(Chain([sr, filters]).process(batch)).astype(int)).mean() > 1
    assert np.abs(chained - to_rgb(Chain([deblur, sr]).process(batch)).astype(int)).mean() > 1


def test_output_size_composes() -> None:
    chain = Chain(stages(3))
    assert chain.output_size(64, 48) == (192, 144)


def test_video_planes_go_through_a_chain_in_their_own_layout() -> None:
    fmt = PlaneFormat("yuv420p10le", full_range=False, chroma_left=True, matrix="bt709")
    batch = rgb_to_planes(picture(), fmt, [7])
    out = Chain(stages(2)).process(batch)
    assert out.fmt == fmt and out.pts == [7]
    assert out.luma.shape == (1, 80, 112) and out.chroma.shape == (1, 2, 40, 56)
    assert out.luma.dtype == np.uint16 and 64 <= out.luma.min() and out.luma.max() <= 940


def test_empty_chains_are_refused() -> None:
    with pytest.raises(ValueError):
        Chain([])
    with pytest.raises(ValueError):
        FilterStage([])
