"""`vidrestore weights import`: foreign EDSR checkpoints in, safetensors weights out."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from tests.media import make_image
from tests.models.test_convert import (
    Opener,
    basicsr_layout,
    reference_forward,
    reference_layout,
    small_edsr,
)
from tests.runs import assert_one_error
from vidrestore.cli import cli
from vidrestore.models import build_model, get_spec
from vidrestore.models.srresnet import SRResNet
from vidrestore.models.weights import read_metadata, read_weights


def import_weights(*args: object) -> Result:
    return CliRunner().invoke(cli, ["weights", "import", *map(str, args)])


# How each foreign tool saves its checkpoints: the reference a plain state dict, BasicSR inside params_ema.
LAYOUTS = {
    "edsr-reference": reference_layout,
    "basicsr": lambda model: {"params_ema": basicsr_layout(model)},
}


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_imported_checkpoint_gives_the_original_models_output(tmp_path, layout, scale):
    model = small_edsr(scale)
    torch.save(LAYOUTS[layout](model), tmp_path / "ckpt.pth")
    out = tmp_path / "edsr.safetensors"
    result = import_weights(tmp_path / "ckpt.pth", "--arch", "edsr", f"--x{scale}", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert f"wrote {out}: edsr x{scale}, 2 blocks, 8 features, rgb_range 255, " in result.stderr
    assert result.stderr.splitlines()[-1].endswith(("EDSR-PyTorch (reference) layout", "BasicSR layout (params_ema)"))
    loaded = build_model(get_spec("edsr"), scale, out)
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    metadata = read_metadata(out)
    assert (metadata["arch"], metadata["scale"], metadata["source"], metadata["source_format"]) == ("edsr", str(scale), "ckpt.pth", layout)
    assert json.loads(metadata["options"]) == {"blocks": 2, "features": 8, "res_scale": 1.0, "rgb_range": 255.0}


def test_imported_reference_weights_match_the_reference_forward_pass(tmp_path):
    sd = reference_layout(small_edsr(4))
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "edsr_x4.pt")  # saved from DataParallel
    out = tmp_path / "edsr.safetensors"
    result = import_weights(tmp_path / "edsr_x4.pt", "--arch", "edsr", "--scale", "4", "-o", out)
    assert result.exit_code == 0, result.stderr
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        ours = build_model(get_spec("edsr"), 4, out)(x) * 255
    torch.testing.assert_close(ours, reference_forward(sd, x * 255, scale=4), atol=2e-3, rtol=1e-4)


def test_upscale_runs_with_imported_weights(tmp_path):
    torch.save({"params": basicsr_layout(small_edsr(2))}, tmp_path / "basicsr.pth")
    weights = tmp_path / "edsr_x2.safetensors"
    assert import_weights(tmp_path / "basicsr.pth", "--arch", "edsr", "--x2", "-o", weights).exit_code == 0
    src = make_image(tmp_path / "in.png", (12, 10))
    result = CliRunner().invoke(cli, ["upscale", str(src), "--x2", "--model", "edsr", "--weights", str(weights), "-q"])
    assert result.exit_code == 0, result.stderr
    with Image.open(tmp_path / "in.x2.png") as out:
        assert out.size == (24, 20) and out.mode == "RGB"


def test_wrong_scale_is_one_error_and_writes_nothing(tmp_path):
    torch.save(reference_layout(small_edsr(3)), tmp_path / "x3.pt")
    result = import_weights(tmp_path / "x3.pt", "--arch", "edsr", "--x2", "-o", tmp_path / "w.safetensors")
    assert_one_error(result.exit_code, result.stderr, contains="x3.pt holds x3 weights (by its upsampler); x2 was asked for")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x3.pt"]


@pytest.mark.parametrize(
    ("args", "contains"),
    [
        (("--arch", "srresnet", "--x4"), "cannot import weights for 'srresnet'; importable: edsr, edsr-large"),
        (("--arch", "edsr"), "give a scale: --x2, --x3, --x4 or --scale N"),
        (("--arch", "edsr", "--x2", "--x4"), "give one scale, not x2 and x4"),
        (("--arch", "edsr", "--scale", "8"), "model 'edsr' does not support x8"),
    ],
)
def test_bad_options_are_one_error(tmp_path, args, contains):
    torch.save(reference_layout(small_edsr(4)), tmp_path / "x4.pt")
    result = import_weights(tmp_path / "x4.pt", *args, "-o", tmp_path / "w.safetensors")
    assert_one_error(result.exit_code, result.stderr, contains=contains)
    assert result.exit_code == 2


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    torch.save(SRResNet(scale=4, blocks=1, features=8).state_dict(), tmp_path / "srresnet.pth")
    result = import_weights(tmp_path / "srresnet.pth", "--arch", "edsr", "--x4", "-o", tmp_path / "w.safetensors")
    assert_one_error(result.exit_code, result.stderr, contains="srresnet.pth is not an EDSR checkpoint in a layout vidrestore knows")


def test_misshapen_tensor_is_named(tmp_path):
    sd = basicsr_layout(small_edsr(2))
    sd["conv_last.weight"] = torch.zeros(1, 8, 3, 3)
    sd["conv_last.bias"] = torch.zeros(1)
    torch.save(sd, tmp_path / "grey.pth")
    result = import_weights(tmp_path / "grey.pth", "--arch", "edsr", "--x2", "-o", tmp_path / "w.safetensors")
    assert_one_error(result.exit_code, result.stderr, contains="tail.weight has shape (1, 8, 3, 3), not (3, 8, 3, 3)")


def test_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"params": basicsr_layout(small_edsr(2)), "hook": Opener(marker)}, tmp_path / "evil.pth")
    result = import_weights(tmp_path / "evil.pth", "--arch", "edsr", "--x2", "-o", tmp_path / "w.safetensors")
    assert_one_error(result.exit_code, result.stderr, contains="it holds a pickled Python object (io.open)")
    assert not marker.exists() and not (tmp_path / "w.safetensors").exists()


def test_existing_output_is_kept_without_overwrite_and_replaced_with_it(tmp_path):
    torch.save(reference_layout(small_edsr(2)), tmp_path / "a.pt")
    out = tmp_path / "w.safetensors"
    out.write_bytes(b"precious")
    result = import_weights(tmp_path / "a.pt", "--arch", "edsr", "--x2", "-o", out)
    assert_one_error(result.exit_code, result.stderr, contains="already exists; pass --overwrite")
    assert out.read_bytes() == b"precious"
    result = import_weights(tmp_path / "a.pt", "--arch", "edsr", "--x2", "-o", out, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert read_metadata(out)["source_format"] == "edsr-reference"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "w.safetensors"]


def test_output_must_be_safetensors(tmp_path):
    torch.save(reference_layout(small_edsr(2)), tmp_path / "a.pt")
    result = import_weights(tmp_path / "a.pt", "--arch", "edsr", "--x2", "-o", tmp_path / "w.pth")
    assert_one_error(result.exit_code, result.stderr, contains="give -o a .safetensors name")


def test_large_arch_key_half_and_res_scale(tmp_path):
    model = small_edsr(2, res_scale=0.1)
    other = {k: torch.zeros_like(v) for k, v in basicsr_layout(model).items()}
    torch.save({"params": basicsr_layout(model), "params_ema": other}, tmp_path / "large.pth")
    out = tmp_path / "large.safetensors"
    result = import_weights(tmp_path / "large.pth", "--arch", "edsr-large", "--x2", "--key", "params", "--half", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.strip().endswith("from the BasicSR layout (params)")
    tensors, metadata = read_weights(out)
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    assert (metadata["arch"], json.loads(metadata["options"])["res_scale"], metadata["source_key"]) == ("edsr-large", 0.1, "params")
    x = torch.rand(1, 3, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(build_model(get_spec("edsr-large"), 2, out)(x), model(x), atol=5e-3, rtol=0)
    result = import_weights(tmp_path / "large.pth", "--arch", "edsr-large", "--x2", "--key", "params", "--res-scale", "0.2", "-o", out, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert json.loads(read_metadata(out)["options"])["res_scale"] == 0.2


def test_the_other_presets_size_brings_a_warning(tmp_path):
    model = small_edsr(2, blocks=16, features=64)
    torch.save(reference_layout(model), tmp_path / "baseline.pt")
    result = import_weights(tmp_path / "baseline.pt", "--arch", "edsr-large", "--x2", "-o", tmp_path / "w.safetensors")
    assert result.exit_code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("vidrestore: warning:")]
    assert warning == [
        (
            "vidrestore: warning: 16 blocks and 64 features is edsr's size, trained with res_scale 1; "
            "importing with edsr-large's 0.1 (pass --arch edsr or --res-scale if that is wrong)"
        )
    ]
    assert "1.37M parameters" in result.stderr


def test_missing_input_is_one_error(tmp_path):
    result = import_weights(tmp_path / "nope.pth", "--arch", "edsr", "--x2", "-o", tmp_path / "w.safetensors")
    assert_one_error(result.exit_code, result.stderr, contains="nope.pth: no such file")
