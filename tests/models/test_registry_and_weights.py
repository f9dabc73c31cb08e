import pytest
import torch

from vidrestore.errors import UsageError, WeightsError
from vidrestore.models import MODELS, build_model, get_spec
from vidrestore.models.espcn import ESPCN
from vidrestore.models.registry import check_scale
from vidrestore.models.weights import save_weights


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(UsageError) as err:
        get_spec("nope")
    for name in MODELS:
        assert name in str(err.value)


def test_unsupported_scale_names_the_supported_ones():
    with pytest.raises(UsageError, match=r"supports x2, x3, x4"):
        check_scale(get_spec("espcn"), 5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_espcn_output_is_scale_times_input_at_odd_sizes(scale):
    model = ESPCN(scale=scale).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 13, 7))
    assert out.shape == (2, 1, 13 * scale, 7 * scale)


def test_residual_espcn_starts_close_to_bicubic():
    from vidrestore.ops.resize import imresize

    model = ESPCN(scale=3).eval()
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        gap = (model(x) - imresize(x, scale=3)).abs().max()
    assert float(gap) < 0.05


def test_weights_round_trip_with_options_in_metadata(tmp_path):
    model = ESPCN(scale=2, activation="tanh", residual=False)
    path = tmp_path / "w.safetensors"
    save_weights(model, path, arch="espcn", scale=2, options={"activation": "tanh", "residual": False})
    loaded = build_model(get_spec("espcn"), 2, path)
    assert isinstance(loaded.act, torch.nn.Tanh) and loaded.residual is False
    x = torch.rand(1, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))


def test_weights_for_another_scale_or_arch_are_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    save_weights(ESPCN(scale=3), path, arch="espcn", scale=3, options={})
    with pytest.raises(WeightsError, match="x3 weights; x2 was asked for"):
        build_model(get_spec("espcn"), 2, path)
    with pytest.raises(WeightsError, match="not 'bicubic'"):
        build_model(get_spec("bicubic"), 3, path)


def test_a_file_that_is_not_safetensors_is_a_clear_error(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x80\x04 this is a pickle, not safetensors")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        build_model(get_spec("espcn"), 3, path)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_espcn_weights_exist_and_load(scale):
    spec = get_spec("espcn")
    assert spec.weights_path(scale).is_file()
    model = build_model(spec, scale)
    assert model.scale == scale


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_loaded_model_keeps_the_contract_it_declares(name: str) -> None:
    """What a LoadedModel says (channels, scale, size multiple) is what its module does."""
    import torch

    from vidrestore.models import load

    scale = MODELS[name].scales[-1]
    loaded = load(name, scale=scale, untrained_ok=True)
    assert loaded.in_channels == loaded.out_channels == (1 if MODELS[name].color == "y" else 3)
    h, w = 2 * loaded.multiple + 3, 3 * loaded.multiple + 1  # not multiples: the module pads itself
    with torch.no_grad():
        out = loaded.module(torch.rand(1, loaded.in_channels, h, w))
    assert tuple(out.shape) == (1, loaded.out_channels, h * scale, w * scale)


def test_checking_a_weights_file_leaves_torch_dynamo_out() -> None:
    """The shape check builds the model on the meta device without drawing its random
    initial weights: drawing them there imports torch._dynamo (about 75 MB, 2 s)."""
    import subprocess
    import sys

    code = ("import sys; from vidrestore.models import load; loaded = load('espcn', scale=3); "
            "print(loaded.weights is not None, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


def test_a_model_checked_on_the_meta_device_still_starts_random() -> None:
    from vidrestore.models.registry import get_spec
    from vidrestore.models.weights import shape_only

    spec = get_spec("espcn")
    meta = shape_only(spec, 3, {})
    assert all(t.is_meta for t in meta.state_dict().values())
    built = spec.build(scale=3)  # outside the check, initialisation is untouched
    weight = next(t for k, t in built.state_dict().items() if k.endswith("weight"))
    assert weight.std() > 0
