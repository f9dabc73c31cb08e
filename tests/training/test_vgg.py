"""VGG19 features: torchvision's layout, safe loading, truncation and the perceptual loss."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vidrestore.errors import WeightsError
from vidrestore.training.vgg import LAYER_NAMES, PerceptualLoss, VGG19Features, load_vgg19

# Where torchvision's vgg19().features keeps its convolutions (cfg "E").
TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)



def _random_vgg(upto: str = "relu5_4", seed: int = 0) -> VGG19Features:
    """Random weights that keep activations near unit scale through 16 layers."""
    with torch.device("meta"):
        model = VGG19Features(upto=upto)
    gen = torch.Generator().manual_seed(seed)
    for module in model.features:
        if isinstance(module, torch.nn.Conv2d):
            fan_in = module.weight[0].numel()
            module.weight = torch.nn.Parameter(torch.randn(module.weight.shape, generator=gen) * (2 / fan_in) ** 0.5)
            module.bias = torch.nn.Parameter(torch.randn(module.bias.shape, generator=gen) * 0.01)
    return model.eval()


def _torchvision_style(model: VGG19Features) -> dict[str, torch.Tensor]:
    """A whole vgg19 state dict: features plus classifier keys (small: they are ignored)."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state.update({"classifier.0.weight": torch.zeros(8, 16), "classifier.0.bias": torch.zeros(8), "classifier.6.weight": torch.zeros(4, 8)})
    return state


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    return _random_vgg()


@pytest.fixture(scope="module")
def saved(vgg: VGG19Features, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vgg")
    state = _torchvision_style(vgg)
    torch.save(state, folder / "vgg19.pth")
    save_file(state, str(folder / "vgg19.safetensors"))
    return {"pth": folder / "vgg19.pth", "safetensors": folder / "vgg19.safetensors"}


def test_keys_are_torchvisions() -> None:
    with torch.device("meta"):
        keys = list(VGG19Features().state_dict())
    assert keys == [f"features.{i}.{p}" for i in TORCHVISION_CONVS for p in ("weight", "bias")]
    assert [n for n in LAYER_NAMES if n.startswith("pool")] == ["pool1", "pool2", "pool3", "pool4", "pool5"]
    assert [LAYER_NAMES.index(f"pool{b}") for b in range(1, 6)] == [4, 9, 18, 27, 36]


def test_pth_and_safetensors_load_alike(vgg: VGG19Features, saved: dict[str, Path]) -> None:
    x = torch.rand(1, 3, 16, 16)  # 1x1 at relu5_4: enough to compare, cheap on a busy CPU
    with torch.no_grad():
        reference = vgg(x)
        outputs = [load_vgg19(saved["pth"])(x), load_vgg19(saved["safetensors"])(x)]
    assert reference.abs().mean() > 1e-3  # a real signal, not vanished activations
    assert torch.equal(outputs[0], reference) and torch.equal(outputs[1], reference)


def test_loaded_model_is_frozen_in_eval_mode(saved: dict[str, Path]) -> None:
    model = load_vgg19(saved["safetensors"], upto="relu1_2")
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_bare_features_dict_and_truncation(vgg: VGG19Features, tmp_path: Path) -> None:
    bare = {k.removeprefix("features."): v for k, v in vgg.state_dict().items()}
    save_file(bare, str(tmp_path / "features.safetensors"))
    model = load_vgg19(tmp_path / "features.safetensors", upto="relu2_2")
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        assert torch.equal(model(x), vgg.features[:9](x))


@pytest.mark.parametrize(
    ("upto", "channels", "size"),
    [("conv1_1", 64, 32), ("relu2_2", 128, 16), ("pool2", 128, 8), ("relu3_4", 256, 8), ("conv4_4", 512, 4), ("relu5_4", 512, 2), ("pool5", 512, 1)],
)
def test_upto_truncates(upto: str, channels: int, size: int) -> None:
    with torch.device("meta"):  # shapes only: no weights, no arithmetic
        model = VGG19Features(upto=upto)
        assert model(torch.empty(1, 3, 32, 32)).shape == (1, channels, size, size)
    assert len(model.features) == LAYER_NAMES.index(upto) + 1
    assert model.out_channels == channels


def test_unknown_layer_lists_the_names() -> None:
    with pytest.raises(ValueError, match="unknown VGG19 layer 'relu5_5'; expected one of conv1_1, relu1_1, "):
        VGG19Features(upto="relu5_5")


def test_wrong_shape_is_refused(vgg: VGG19Features, tmp_path: Path) -> None:
    state = _torchvision_style(vgg)
    state["features.5.weight"] = torch.zeros(128, 32, 3, 3)
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(WeightsError, match=r"features\.5\.weight has shape \(128, 32, 3, 3\), vgg19 needs \(128, 64, 3, 3\)"):
        load_vgg19(tmp_path / "bad.safetensors")


def test_missing_and_foreign_keys_are_refused(vgg: VGG19Features, tmp_path: Path) -> None:
    state = _torchvision_style(vgg)
    del state["features.34.bias"]
    torch.save(state, tmp_path / "short.pth")
    with pytest.raises(WeightsError, match=r"lacks 1 vgg19 tensors up to relu5_4: \['features\.34\.bias'\]"):
        load_vgg19(tmp_path / "short.pth")
    # Truncated before conv5_4, the missing tensor is not needed.
    assert load_vgg19(tmp_path / "short.pth", upto="relu5_3").out_channels == 512
    state["features.1.running_mean"] = torch.zeros(64)
    torch.save(state, tmp_path / "bn.pth")
    with pytest.raises(WeightsError, match="unexpected keys .*vgg19_bn weights do not fit"):
        load_vgg19(tmp_path / "bn.pth")


class _Payload:
    """Unpickling this would create a folder: the test checks that it never happens."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.target),))


@pytest.mark.parametrize("writer", ["torch.save", "pickle"])
def test_pickled_objects_are_refused(vgg: VGG19Features, tmp_path: Path, writer: str) -> None:
    state = {"features.0.weight": vgg.features[0].weight.detach(), "extra": _Payload(tmp_path / "pwned")}
    path = tmp_path / "evil.pth"
    if writer == "torch.save":
        torch.save(state, path)
        refused = "posix.mkdir"
    else:
        path.write_bytes(pickle.dumps(state, protocol=2))  # torch.load's own protocol
        refused = "torch.storage._load_from_bytes"  # plain pickle's tensor loader is itself refused first
    with pytest.raises(WeightsError, match=rf"refused to load .*evil\.pth: it holds a pickled Python object \({re.escape(refused)}\)") as info:
        load_vgg19(path)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="VGG19 weights file not found"):
        load_vgg19(tmp_path / "none.pth")
    for junk in (b"not a checkpoint", b"junk", b""):
        (tmp_path / "junk.pth").write_bytes(junk)
        with pytest.raises(WeightsError, match=r"junk\.pth (is not a readable PyTorch checkpoint|cannot be read as a weights-only checkpoint)"):
            load_vgg19(tmp_path / "junk.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(WeightsError, match=r"junk\.safetensors is not a readable safetensors file"):
        load_vgg19(tmp_path / "junk.safetensors")
    (tmp_path / "vgg.bin").write_bytes(b"")
    with pytest.raises(WeightsError, match="must be .safetensors, .pth or .pt"):
        load_vgg19(tmp_path / "vgg.bin")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="does not hold a state dict"):
        load_vgg19(tmp_path / "list.pt")


@pytest.mark.parametrize("criterion", ["mse", "l1"])
def test_perceptual_loss(criterion: str) -> None:
    loss = PerceptualLoss(_random_vgg("relu2_2"), criterion=criterion)
    target = torch.rand(2, 3, 16, 16)
    assert loss(target.clone(), target).item() == 0
    x = (target + 0.1 * torch.randn_like(target)).clamp(0, 1).requires_grad_(True)
    value = loss(x, target)
    assert value.item() > 0
    value.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in loss.features.parameters())


def test_perceptual_loss_normalises_and_rescales() -> None:
    features = _random_vgg("relu1_1")
    a, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        fa, fb = features((a - mean) / std), features((b - mean) / std)
        expected = torch.nn.functional.mse_loss(fa / 12.75, fb / 12.75)
        assert torch.allclose(PerceptualLoss(features)(a, b), expected)
        assert torch.allclose(PerceptualLoss(features, rescale=1.0)(a, b), expected * 12.75**2)


def test_perceptual_loss_checks_its_arguments() -> None:
    features = _random_vgg("relu1_1")
    with pytest.raises(ValueError, match="unknown criterion 'l2'; expected one of l1, mse"):
        PerceptualLoss(features, criterion="l2")  # type: ignore[arg-type]
    loss = PerceptualLoss(features)
    with pytest.raises(ValueError, match="must both be"):
        loss(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    assert not loss.train().features.training
