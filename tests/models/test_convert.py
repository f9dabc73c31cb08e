"""Foreign EDSR checkpoints (EDSR-PyTorch reference, BasicSR) read into our EDSR.

The foreign layouts are written out by hand here, key by key, and the
reference forward pass is re-implemented with F.conv2d over the reference's
own key names, so the mapping is pinned independently of `convert.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidrestore.errors import WeightsError
from vidrestore.models import get_spec
from vidrestore.models.convert import import_edsr, read_checkpoint, state_dict_of
from vidrestore.models.edsr import DIV2K_MEAN, EDSR
from vidrestore.models.srresnet import SRResNet

SMALL = {"blocks": 2, "features": 8}


def upsampler_stages(scale: int) -> list[int]:
    """Pixel-shuffle factor of each upsampler stage, as both foreign layouts build them."""
    return [2, 2] if scale == 4 else [scale]


def mean_shift(rgb_range: float, mean: tuple[float, float, float]) -> dict[str, torch.Tensor]:
    """The reference's MeanShift convolutions (std 1): x - rgb_range * mean, and back."""
    shift = rgb_range * torch.tensor(mean)
    eye = torch.eye(3).view(3, 3, 1, 1)
    return {"sub_mean.weight": eye, "sub_mean.bias": -shift, "add_mean.weight": eye.clone(), "add_mean.bias": shift.clone()}


def random_reference(scale: int, *, blocks: int = 2, features: int = 8, rgb_range: float = 255.0, mean=DIV2K_MEAN) -> dict[str, torch.Tensor]:
    """A reference-layout state dict of random tensors, shaped as EDSR-PyTorch's model/edsr.py."""
    g = torch.Generator().manual_seed(scale)

    def conv(cin: int, cout: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5, torch.randn(cout, generator=g) * 0.1

    sd = mean_shift(rgb_range, mean)
    sd["head.0.weight"], sd["head.0.bias"] = conv(3, features)
    for i in range(blocks):
        for j in (0, 2):
            sd[f"body.{i}.body.{j}.weight"], sd[f"body.{i}.body.{j}.bias"] = conv(features, features)
    sd[f"body.{blocks}.weight"], sd[f"body.{blocks}.bias"] = conv(features, features)
    for k, s in zip((0, 2), upsampler_stages(scale)):
        sd[f"tail.0.{k}.weight"], sd[f"tail.0.{k}.bias"] = conv(features, features * s * s)
    sd["tail.1.weight"], sd["tail.1.bias"] = conv(features, 3)
    return sd


def reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, *, scale: int, res_scale: float = 1.0) -> torch.Tensor:
    """EDSR-PyTorch's forward on 0..rgb_range pixels, straight from its keys."""

    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        weight = sd[f"{name}.weight"]
        return F.conv2d(t, weight, sd[f"{name}.bias"], padding=weight.shape[-1] // 2)

    blocks = sum(1 for k in sd if k.endswith(".body.0.weight"))
    x = conv("sub_mean", x)
    x = conv("head.0", x)
    res = x
    for i in range(blocks):
        res = res + conv(f"body.{i}.body.2", F.relu(conv(f"body.{i}.body.0", res))) * res_scale
    res = conv(f"body.{blocks}", res) + x
    for k, s in zip((0, 2), upsampler_stages(scale)):
        res = F.pixel_shuffle(conv(f"tail.0.{k}", res), s)
    return conv("add_mean", conv("tail.1", res))


def _conv_pairs(model: EDSR) -> list[tuple[str, nn.Conv2d]]:
    """(reference name, conv) for every convolution of our EDSR, by attribute, not by key."""
    blocks = len(model.body)
    pairs = [("head.0", model.head)]
    for i, block in enumerate(model.body):
        pairs += [(f"body.{i}.body.0", block.conv1), (f"body.{i}.body.2", block.conv2)]
    pairs.append((f"body.{blocks}", model.body_end))
    convs = [m for m in model.upsample if isinstance(m, nn.Conv2d)]
    pairs += [(f"tail.0.{k}", conv) for k, conv in zip((0, 2), convs)]
    pairs.append(("tail.1", model.tail))
    return pairs


def reference_layout(model: EDSR) -> dict[str, torch.Tensor]:
    """Our EDSR's weights under EDSR-PyTorch's names, with its mean shift tensors."""
    sd = mean_shift(model.rgb_range, tuple((model.mean.flatten() / model.rgb_range).tolist()))
    for name, conv in _conv_pairs(model):
        sd[f"{name}.weight"], sd[f"{name}.bias"] = conv.weight.detach().clone(), conv.bias.detach().clone()
    return sd


def basicsr_layout(model: EDSR) -> dict[str, torch.Tensor]:
    """Our EDSR's weights under BasicSR's names (its mean and range are not tensors)."""
    blocks = len(model.body)
    names = {"head.0": "conv_first", f"body.{blocks}": "conv_after_body", "tail.0.0": "upsample.0", "tail.0.2": "upsample.2", "tail.1": "conv_last"}
    names |= {f"body.{i}.body.{j}": f"body.{i}.conv{j // 2 + 1}" for i in range(blocks) for j in (0, 2)}
    sd = {}
    for name, conv in _conv_pairs(model):
        sd[f"{names[name]}.weight"], sd[f"{names[name]}.bias"] = conv.weight.detach().clone(), conv.bias.detach().clone()
    return sd


def small_edsr(scale: int, **options) -> EDSR:
    torch.manual_seed(scale)
    return EDSR(scale=scale, **{**SMALL, **options}).eval()


def save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reference_checkpoint_gives_the_reference_forward(tmp_path, scale):
    sd = random_reference(scale)
    imported = import_edsr(save(sd, tmp_path / "edsr.pt"), get_spec("edsr"), scale)
    assert imported.source_format == "edsr-reference"
    assert imported.options == {"blocks": 2, "features": 8, "res_scale": 1.0, "rgb_range": 255.0}
    x = torch.rand(1, 3, 7, 5)
    with torch.no_grad():
        ours = imported.model(x) * 255
    torch.testing.assert_close(ours, reference_forward(sd, x * 255, scale=scale), atol=2e-3, rtol=1e-4)
    assert ours.shape == (1, 3, 7 * scale, 5 * scale)


def test_large_preset_brings_its_residual_scaling(tmp_path):
    sd = random_reference(2, blocks=3)
    path = save(sd, tmp_path / "edsr.pt")
    x = torch.rand(1, 3, 6, 6)
    for arch, res_scale, given in (("edsr-large", 0.1, None), ("edsr", 0.5, 0.5)):
        imported = import_edsr(path, get_spec(arch), 2, res_scale=given)
        assert imported.options["res_scale"] == res_scale and imported.options["blocks"] == 3
        with torch.no_grad():
            torch.testing.assert_close(imported.model(x) * 255, reference_forward(sd, x * 255, scale=2, res_scale=res_scale), atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize(
    ("rgb_range", "mean", "options"),
    [
        (1.0, DIV2K_MEAN, {"rgb_range": 1.0}),
        (255.0, (0.5, 0.45, 0.4), {"rgb_range": 255.0, "mean": [0.5, 0.45, 0.4]}),
        (1.0, (0.3, 0.3, 0.3), {"rgb_range": 1.0, "mean": [0.3, 0.3, 0.3]}),
    ],
)
def test_range_and_mean_are_read_from_the_mean_shift(tmp_path, rgb_range, mean, options):
    sd = random_reference(3, rgb_range=rgb_range, mean=mean)
    imported = import_edsr(save(sd, tmp_path / "edsr.pt"), get_spec("edsr"), 3)
    found = {k: v for k, v in imported.options.items() if k in ("rgb_range", "mean")}
    assert found.keys() == options.keys() and found["rgb_range"] == options["rgb_range"]
    if "mean" in options:
        assert found["mean"] == pytest.approx(options["mean"], abs=1e-6)
    x = torch.rand(1, 3, 5, 5)
    with torch.no_grad():
        ours = imported.model(x) * rgb_range
    torch.testing.assert_close(ours, reference_forward(sd, x * rgb_range, scale=3), atol=2e-3 * rgb_range, rtol=1e-4)


def test_mean_shift_with_a_standard_deviation_is_refused(tmp_path):
    sd = random_reference(2)
    sd["sub_mean.weight"] = sd["sub_mean.weight"] / 0.5
    with pytest.raises(WeightsError, match="rgb_std other than 1"):
        import_edsr(save(sd, tmp_path / "edsr.pt"), get_spec("edsr"), 2)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_basicsr_checkpoint_gives_the_models_output(tmp_path, scale):
    model = small_edsr(scale)
    path = save({"params": basicsr_layout(model)}, tmp_path / "edsr.pth")
    imported = import_edsr(path, get_spec("edsr"), scale)
    assert (imported.source_format, imported.source_key) == ("basicsr", "params")
    x = torch.rand(2, 3, 6, 7)
    with torch.no_grad():
        torch.testing.assert_close(imported.model(x), model(x))


def test_params_ema_is_preferred_and_key_picks_another(tmp_path):
    a = basicsr_layout(small_edsr(2))
    b = {k: v + 1 for k, v in a.items()}
    checkpoint = {"params": a, "params_ema": b, "iter": 1000}
    assert state_dict_of(checkpoint, key=None, name="c")[0]["conv_first.weight"].equal(b["conv_first.weight"])
    tensors, key = state_dict_of(checkpoint, key="params", name="c")
    assert key == "params" and tensors["conv_first.weight"].equal(a["conv_first.weight"])
    with pytest.raises(WeightsError, match=r"no 'model' entry; its entries: params, params_ema, iter"):
        state_dict_of(checkpoint, key="model", name="c")
    with pytest.raises(WeightsError, match=r"no tensors at its top level; its entries: epoch, net; choose one with --key"):
        state_dict_of({"epoch": 3, "net": a}, key=None, name="c")


def test_dataparallel_prefix_is_dropped():
    sd = random_reference(2)
    tensors, key = state_dict_of({f"module.{k}": v for k, v in sd.items()}, key=None, name="c")
    assert key is None and tensors.keys() == sd.keys()


def test_scale_is_checked_against_the_upsampler(tmp_path):
    path = save(random_reference(4), tmp_path / "edsr.pt")
    with pytest.raises(WeightsError, match=r"edsr.pt holds x4 weights \(by its upsampler\); x2 was asked for"):
        import_edsr(path, get_spec("edsr"), 2)
    sd = random_reference(2)
    sd["tail.0.0.weight"] = torch.zeros(5 * 8, 8, 3, 3)
    sd["tail.0.0.bias"] = torch.zeros(5 * 8)
    with pytest.raises(WeightsError, match=r"upsampler \(1 stage, output channels 40 for 8 features\) is none of EDSR's"):
        import_edsr(save(sd, tmp_path / "odd.pt"), get_spec("edsr"), 2)


def test_missing_unexpected_and_misshapen_tensors_are_named(tmp_path):
    sd = random_reference(2, blocks=3)
    del sd["body.1.body.2.weight"]
    with pytest.raises(WeightsError, match=r"does not fit edsr x2 with 3 blocks and 8 features: missing body.1.conv2.weight$"):
        import_edsr(save(sd, tmp_path / "a.pt"), get_spec("edsr"), 2)
    sd = random_reference(2)
    sd["body.0.body.1.weight"] = torch.ones(8)
    with pytest.raises(WeightsError, match=r"unexpected body.0.body.1.weight"):
        import_edsr(save(sd, tmp_path / "b.pt"), get_spec("edsr"), 2)
    sd = random_reference(2)
    sd["body.1.body.0.weight"] = torch.zeros(8, 8, 5, 5)
    with pytest.raises(WeightsError, match=r"body.1.conv1.weight has shape \(8, 8, 5, 5\), not \(8, 8, 3, 3\)"):
        import_edsr(save(sd, tmp_path / "c.pt"), get_spec("edsr"), 2)


def test_other_architectures_are_not_taken_for_edsr(tmp_path):
    path = save(SRResNet(scale=4, blocks=1, features=8).state_dict(), tmp_path / "srresnet.pth")
    with pytest.raises(WeightsError, match=r"not an EDSR checkpoint in a layout vidrestore knows .*; its keys: head.0.weight"):
        import_edsr(path, get_spec("edsr"), 4)


class Opener:
    """Unpickling this would create a file: the classic pickle exploit, made harmless."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_objects_are_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = save({"params": {"w": torch.zeros(1)}, "hook": Opener(marker)}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match=r"refused to load .*evil.pth: it holds a pickled Python object \(io.open\)"):
        read_checkpoint(path)
    assert not marker.exists()


def test_damaged_or_unknown_files_are_clear_errors(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match=r"junk.pth cannot be read as a weights-only checkpoint \(Unsupported operand"):
        read_checkpoint(tmp_path / "junk.pth")
    whole = save(random_reference(2), tmp_path / "whole.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match=r"cut.pt is not a readable PyTorch checkpoint \(\w+: "):
        read_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "w.bin").write_bytes(b"")
    with pytest.raises(Exception, match=r"unknown checkpoint type '.bin'"):
        read_checkpoint(tmp_path / "w.bin")


def test_safetensors_checkpoints_are_read(tmp_path):
    from safetensors.torch import save_file

    sd = random_reference(3)
    save_file(sd, str(tmp_path / "edsr.safetensors"))
    imported = import_edsr(tmp_path / "edsr.safetensors", get_spec("edsr"), 3)
    x = torch.rand(1, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(imported.model(x) * 255, reference_forward(sd, x * 255, scale=3), atol=2e-3, rtol=1e-4)
