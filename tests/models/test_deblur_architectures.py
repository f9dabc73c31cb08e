"""DeepDeblur and SRN-DeblurNet: any frame size in, the same size out; the
multi-scale outputs and targets the training loss compares; the designs'
defining traits (weights shared across scales, a pyramid coarse to fine)."""

from __future__ import annotations

import pytest
import torch

from vidrestore.models.deepdeblur import DeepDeblur, gaussian_down, gaussian_pyramid
from vidrestore.models.registry import MODELS
from vidrestore.models.srn import SRN, ConvLSTM

SMALL = {"deepdeblur": dict(blocks=1, features=8, kernel=3), "srn": dict(blocks=1, features=4, kernel=3)}
CLASSES = {"deepdeblur": DeepDeblur, "srn": SRN}


def small(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return CLASSES[name](**SMALL[name], **kwargs).eval()


@pytest.mark.parametrize("name", ["deepdeblur", "srn"])
@pytest.mark.parametrize("size", [(37, 53), (16, 16), (5, 3), (64, 48)])
def test_any_size_comes_back_the_same_size(name: str, size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = small(name)(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["deepdeblur", "srn"])
def test_padding_is_invisible_inside_the_frame(name: str) -> None:
    """A frame that needs padding gives what the network computes on the mirrored,
    padded frame, cropped: the pad is the network's own business."""
    model = small(name)
    x = torch.rand(1, 3, 30, 45)
    m = model.multiple
    padded = torch.nn.functional.pad(x, (0, -45 % m, 0, -30 % m), mode="reflect")
    with torch.no_grad():
        assert torch.allclose(model(x), model(padded)[..., :30, :45], atol=1e-6)


@pytest.mark.parametrize("name", ["deepdeblur", "srn"])
def test_all_scales_are_coarse_to_fine_and_match_the_targets(name: str) -> None:
    model = small(name, levels=3)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        outputs = model(x, all_scales=True)
        targets = model.targets(x)
        final = model(x)
    assert [o.shape[-2:] for o in outputs] == [t.shape[-2:] for t in targets] == [(16, 24), (32, 48), (64, 96)]
    assert torch.allclose(outputs[-1], final, atol=1e-6)
    with pytest.raises(ValueError, match="multiples of"):
        model(torch.rand(1, 3, 62, 96), all_scales=True)


@pytest.mark.parametrize("name", ["deepdeblur", "srn"])
def test_residual_network_starts_as_the_identity(name: str) -> None:
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (small(name, residual=True)(x) - x).abs().max() < 0.05
        assert (small(name, residual=False)(x) - x).abs().max() > 0.05


def test_srn_shares_its_weights_across_scales_and_deepdeblur_does_not() -> None:
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(SRN(levels=1, **SMALL["srn"])) == count(SRN(levels=3, **SMALL["srn"]))
    one, three = count(DeepDeblur(levels=1, **SMALL["deepdeblur"])), count(DeepDeblur(levels=3, **SMALL["deepdeblur"]))
    assert three > 2.9 * one  # a network per level, plus the up-convolutions


def test_paper_configurations() -> None:
    """The papers' sizes: DeepDeblur 3 levels x 19 blocks of 64 5x5 features; SRN 32/64/128 features, 5x5."""
    dd = DeepDeblur()
    assert (dd.levels, len(dd.nets[0].body), dd.nets[0].head.out_channels, dd.nets[0].head.kernel_size) == (3, 19, 64, (5, 5))
    srn = SRN()
    assert [srn.enc1[0].out_channels, srn.enc2[0].out_channels, srn.enc3[0].out_channels] == [32, 64, 128]
    assert srn.enc1[0].kernel_size == (5, 5) and srn.enc2[0].stride == (2, 2)
    assert isinstance(srn.lstm, ConvLSTM) and srn.lstm.hidden == 128


def test_registry_entries_are_deblurring_models_at_scale_one() -> None:
    for name in ("deepdeblur", "srn"):
        spec = MODELS[name]
        assert spec.task == "deblur" and spec.scales == (1,) and spec.color == "rgb"
        model = spec.build(scale=1, **spec.options)
        assert model(torch.rand(1, 3, 21, 19)).shape == (1, 3, 21, 19)
    with pytest.raises(ValueError, match="scale must be 1"):
        SRN(scale=2)


def test_gaussian_pyramid_halves_and_keeps_brightness() -> None:
    x = torch.rand(1, 3, 64, 48)
    pyramid = gaussian_pyramid(x, 3)
    assert [p.shape[-2:] for p in pyramid] == [(64, 48), (32, 24), (16, 12)]
    assert torch.allclose(pyramid[1].mean(), x.mean(), atol=0.01)
    flat = torch.full((1, 3, 8, 8), 0.7)
    assert torch.allclose(gaussian_down(flat), torch.full((1, 3, 4, 4), 0.7))


def test_conv_lstm_remembers_through_its_cell() -> None:
    cell = ConvLSTM(4, 6)
    x = torch.rand(1, 4, 5, 5)
    h, c = cell(x, None)
    assert h.shape == c.shape == (1, 6, 5, 5) and (h.abs() < 1).all()
    h2, c2 = cell(x, (h, c))
    assert not torch.allclose(c2, c)  # the state carries over
