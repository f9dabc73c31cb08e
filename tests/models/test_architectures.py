"""The architectures match their papers' shapes and sizes."""

from __future__ import annotations

import pytest
import torch

from vidrestore.models import get_spec
from vidrestore.models.registry import builder_parameters
from vidrestore.models.srresnet import Discriminator, SRResNet
from vidrestore.ops.resize import imresize


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, scale, millions", [
    ("edsr", 2, 1.37),  # EDSR paper, Table 1: baseline 1.37 M (x2)
    ("edsr-large", 4, 43.09),  # EDSR paper: 43 M
    ("srresnet", 4, 1.55),
])
def test_parameter_counts(name: str, scale: int, millions: float) -> None:
    spec = get_spec(name)
    with torch.device("meta"):
        model = spec.build(scale=scale, **spec.options)
    assert _params(model) / 1e6 == pytest.approx(millions, abs=0.01)


@pytest.mark.parametrize("name, scale", [("edsr", 2), ("edsr", 3), ("edsr", 4), ("srresnet", 4), ("srgan", 4)])
def test_rgb_models_scale_rgb_images(name: str, scale: int) -> None:
    spec = get_spec(name)
    model = spec.build(scale=scale, blocks=1, features=8).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 7, 9)).shape == (2, 3, 7 * scale, 9 * scale)


def test_srresnet_with_a_bicubic_skip_starts_at_bicubic() -> None:
    torch.manual_seed(0)
    model = SRResNet(scale=4, blocks=2, features=16, residual=True).eval()
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        difference = (model(x) - imresize(x, scale=4, kernel="bicubic")).abs().max()
    assert difference < 0.05
    assert "residual" in builder_parameters(get_spec("srresnet"))


@pytest.mark.parametrize("side", [96, 128])
def test_discriminator_gives_one_logit_per_image(side: int) -> None:
    d = Discriminator(features=8)
    assert d(torch.rand(3, 3, side, side)).shape == (3,)
