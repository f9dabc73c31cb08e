"""Weights files from strangers: metadata is checked against the tensors before anything is built.

A weights file's header says which options to build the architecture with.
Believed blindly, 150 bytes asking for 300000 blocks took 5.7 GB in 30 s.
The runs that could exhaust memory before the checks existed go through a
child process with an address-space limit and a timeout, so a regression
fails here instead of taking the machine down.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from tests.media import make_image
from tests.models.test_convert import random_reference
from tests.runs import assert_one_error
from vidrestore.cli import cli
from vidrestore.errors import OutputError, WeightsError
from vidrestore.models import build_model, get_spec
from vidrestore.models.edsr import EDSR
from vidrestore.models.espcn import ESPCN
from vidrestore.models.registry import ModelSpec
from vidrestore.models.weights import save_weights

# Far below the 5.7 GB the 300000-block model takes, well above a CLI run's own need (~1.2 GB here).
MEMORY_LIMIT = 2 << 30


def run_limited(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m vidrestore ARGS...` with at most MEMORY_LIMIT of address space and 120 s."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run([sys.executable, "-m", "vidrestore", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, preexec_fn=limit, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def tiny_edsr_file(path: Path, **metadata: str) -> Path:
    """A genuine x2 EDSR of 1 block and 4 features whose metadata fields are replaced by `metadata`."""
    torch.manual_seed(0)
    model = EDSR(scale=2, blocks=1, features=4)
    header = {"arch": "edsr", "scale": "2", "options": json.dumps({"blocks": 1, "features": 4}), **metadata}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=header)
    return path


def only_meta_builds(spec: ModelSpec) -> tuple[ModelSpec, list[str]]:
    """`spec` whose builder records the device of every build and refuses real ones:
    a real build before the checks is the failure (and is never paid for here)."""
    devices: list[str] = []

    def build(**options: object) -> torch.nn.Module:
        device = torch.empty(0).device.type
        devices.append(device)
        if device != "meta":
            raise AssertionError(f"{spec.name} built for real with {options} before the checks")
        return spec.build(**options)

    return dataclasses.replace(spec, build=build), devices


# --- the reported attacks, through the real CLI -------------------------------------------


@pytest.mark.slow
def test_upscale_with_a_300000_block_header_is_one_error_not_gigabytes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.safetensors"
    save_file({"head.bias": torch.zeros(4)}, str(bad), metadata={"arch": "edsr", "scale": "2", "options": '{"blocks": 300000}'})
    assert bad.stat().st_size < 200
    make_image(tmp_path / "x.png", (8, 8))
    result = run_limited("upscale", "x.png", "--x2", "--model", "edsr", "--weights", bad, cwd=tmp_path)
    line = assert_one_error(result.returncode, result.stderr, contains="bad.safetensors")
    assert "blocks" in line and "300000" in line and "internal error" not in line
    assert not (tmp_path / "x.x2.png").exists()


@pytest.mark.slow
def test_weights_import_with_a_far_block_index_is_one_error_not_gigabytes(tmp_path: Path) -> None:
    sd = random_reference(2, blocks=1, features=4)
    sd["body.300000.body.0.weight"] = torch.zeros(4, 4, 3, 3)
    torch.save(sd, tmp_path / "evil.pt")
    result = run_limited("weights", "import", "evil.pt", "--arch", "edsr", "--x2", "-o", "w.safetensors", cwd=tmp_path)
    line = assert_one_error(result.returncode, result.stderr, contains="evil.pt")
    assert "300000" in line and "internal error" not in line
    assert not (tmp_path / "w.safetensors").exists()


# --- malformed metadata: one WeightsError naming the problem, and nothing built for real ---

EDSR_MALFORMED = [
    ({"options": "blocks=16"}, "not a JSON object"),
    ({"options": "[16, 64]"}, "not a JSON object"),
    ({"options": '"{}"'}, "not a JSON object"),
    ({"options": "[" * 100_000}, "not a JSON object"),
    ({"options": '{"blocks": 1, "blocks": 300000}'}, "sets 'blocks' twice"),
    ({"options": '{"blocks": 300000}'}, "blocks is 300000"),
    ({"options": '{"blocks": -1}'}, "blocks is -1"),
    ({"options": '{"blocks": "16"}'}, "blocks is '16'"),
    ({"options": '{"blocks": true}'}, "blocks is True"),
    ({"options": '{"blocks": 1.5}'}, "blocks is 1.5"),
    ({"options": '{"features": 1e400}'}, "features is inf"),
    ({"options": '{"res_scale": NaN}'}, "res_scale is nan"),
    ({"options": '{"rgb_range": 0}'}, "rgb_range is 0"),
    ({"options": '{"mean": [0.5, 0.5]}'}, "mean is [0.5, 0.5]"),
    ({"options": '{"mean": [0.5, 0.5, "x"]}'}, "mean is [0.5, 0.5, 'x']"),
    ({"options": '{"wings": 2}'}, "edsr takes no option 'wings'"),
    ({"options": '{"scale": 4}'}, "edsr takes no option 'scale'"),
    ({"scale": "2.5"}, "scale '2.5'"),
    ({"scale": "x2"}, "scale 'x2'"),
    ({"scale": ""}, "scale ''"),
    ({"scale": "99999999999999999999999"}, "x99999999999999999999999 weights; x2 was asked for"),
    ({"arch": "edsr\n"}, "holds 'edsr\\n' weights, not 'edsr'"),
]


@pytest.mark.parametrize(("metadata", "message"), EDSR_MALFORMED, ids=[m for _, m in EDSR_MALFORMED])
def test_malformed_metadata_is_a_weights_error_naming_the_problem(tmp_path: Path, metadata: dict[str, str], message: str) -> None:
    path = tiny_edsr_file(tmp_path / "w.safetensors", **metadata)
    spec, devices = only_meta_builds(get_spec("edsr"))
    with pytest.raises(WeightsError) as caught:
        build_model(spec, 2, path)
    text = str(caught.value)
    assert message in text and str(path) in text and "\n" not in text
    assert len(text) < 300, text  # one readable line, even for a huge header
    assert all(device == "meta" for device in devices)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"features": [64]}, "features is [64]"),
        ({"features": [64, 0]}, "features is [64, 0]"),
        ({"activation": "gelu"}, "activation is 'gelu'"),
        ({"residual": 1}, "residual is 1"),
        ({"channels": 3}, "channels is 3"),
    ],
)
def test_malformed_espcn_options_are_named(tmp_path: Path, options: dict, message: str) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(ESPCN(scale=2), path, arch="espcn", scale=2, options=options)
    spec, devices = only_meta_builds(get_spec("espcn"))
    with pytest.raises(WeightsError, match="espcn") as caught:
        build_model(spec, 2, path)
    assert message in str(caught.value)
    assert all(device == "meta" for device in devices)


@pytest.mark.parametrize("blocks", [2, 200])
def test_options_that_disagree_with_the_tensors_are_refused_before_building(tmp_path: Path, blocks: int) -> None:
    """In bounds, but the file holds one block: only a shape-only (meta) model is ever built."""
    path = tiny_edsr_file(tmp_path / "w.safetensors", options=json.dumps({"blocks": blocks, "features": 4}))
    spec, devices = only_meta_builds(get_spec("edsr"))
    with pytest.raises(WeightsError, match=rf"does not fit edsr x2 with options .*blocks.: {blocks}.*missing body\.1\.conv1\.bias"):
        build_model(spec, 2, path)
    assert devices == ["meta"]


def test_features_that_disagree_with_the_head_are_refused_before_building(tmp_path: Path) -> None:
    path = tiny_edsr_file(tmp_path / "w.safetensors", options=json.dumps({"blocks": 1, "features": 1000}))
    spec, devices = only_meta_builds(get_spec("edsr"))
    with pytest.raises(WeightsError, match=r"head.weight has shape \(4, 3, 3, 3\), not \(1000, 3, 3, 3\)"):
        build_model(spec, 2, path)
    assert devices == ["meta"]


def test_sound_files_still_load_and_match(tmp_path: Path) -> None:
    path = tiny_edsr_file(tmp_path / "w.safetensors", options=json.dumps({"blocks": 1, "features": 4, "res_scale": 0.5, "mean": [0.4, 0.4, 0.4]}))
    model = build_model(get_spec("edsr"), 2, path)
    assert len(model.body) == 1 and model.body[0].res_scale == 0.5
    assert all(p.device.type == "cpu" for p in model.parameters())
    torch.manual_seed(0)
    reference = EDSR(scale=2, blocks=1, features=4, res_scale=0.5, mean=(0.4, 0.4, 0.4)).eval()
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_a_file_without_metadata_takes_the_architectures_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file(ESPCN(scale=3).state_dict(), str(path))
    assert build_model(get_spec("espcn"), 3, path).scale == 3


@pytest.mark.parametrize("command", ["upscale", "eval"])
def test_malformed_metadata_is_one_line_from_the_cli(tmp_path: Path, command: str) -> None:
    bad = tiny_edsr_file(tmp_path / "bad.safetensors", options="{not json")
    (tmp_path / "photos").mkdir()
    make_image(tmp_path / "photos" / "a.png", (40, 40))
    where = tmp_path / "photos" / "a.png" if command == "upscale" else tmp_path / "photos"
    result = CliRunner().invoke(cli, [command, str(where), "--x2", "--model", "edsr", "--weights", str(bad)])
    assert_one_error(result.exit_code, result.stderr, contains="bad.safetensors: its options metadata is not a JSON object")


def test_eval_takes_the_architecture_from_checked_metadata(tmp_path: Path) -> None:
    bad = tiny_edsr_file(tmp_path / "bad.safetensors", options='{"blocks": "16"}')
    (tmp_path / "photos").mkdir()
    make_image(tmp_path / "photos" / "a.png", (40, 40))
    result = CliRunner().invoke(cli, ["eval", str(tmp_path / "photos"), "--x2", "--weights", str(bad)])
    assert_one_error(result.exit_code, result.stderr, contains="blocks is '16'; edsr takes an integer")


# --- weights import: foreign checkpoints are held to the same bounds -----------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda sd: sd.update({"body.7.body.0.weight": torch.zeros(4, 4, 3, 3)}), "blocks are numbered 0, 7;"),
        (lambda sd: sd.update({"body.300000.body.0.weight": torch.zeros(4, 4, 3, 3)}), "blocks are numbered 0, 300000;"),
    ],
)
def test_import_refuses_block_numbers_with_gaps(tmp_path: Path, change, message: str) -> None:
    from vidrestore.models.convert import import_edsr

    sd = random_reference(2, blocks=1, features=4)
    change(sd)
    torch.save(sd, tmp_path / "c.pt")
    spec, devices = only_meta_builds(get_spec("edsr"))
    with pytest.raises(WeightsError, match=message):
        import_edsr(tmp_path / "c.pt", spec, 2)
    assert all(device == "meta" for device in devices)


def test_import_refuses_more_blocks_than_the_bound(tmp_path: Path) -> None:
    """300 contiguous blocks of one feature: a small file, and still more than EDSR takes."""
    from vidrestore.models.convert import import_edsr

    sd = random_reference(2, blocks=300, features=1)
    torch.save(sd, tmp_path / "c.pt")
    spec, devices = only_meta_builds(get_spec("edsr"))
    with pytest.raises(WeightsError, match="blocks is 300; edsr takes an integer from 1 to 256"):
        import_edsr(tmp_path / "c.pt", spec, 2)
    assert devices == []


def test_import_checks_the_tensors_on_a_meta_model_first(tmp_path: Path) -> None:
    from vidrestore.models.convert import import_edsr

    sd = random_reference(2, blocks=2, features=4)
    del sd["body.1.body.2.weight"]
    torch.save(sd, tmp_path / "c.pt")
    spec, devices = only_meta_builds(get_spec("edsr"))
    with pytest.raises(WeightsError, match="missing body.1.conv2.weight"):
        import_edsr(tmp_path / "c.pt", spec, 2)
    assert devices == ["meta"]


# --- item 13: the weights file is written through a unique temporary -----------------------


def test_import_leaves_an_unrelated_tmp_file_alone(tmp_path: Path) -> None:
    torch.save(random_reference(2, blocks=1, features=4), tmp_path / "c.pt")
    out = tmp_path / "o.safetensors"
    bystander = tmp_path / "o.safetensors.tmp"
    bystander.write_bytes(b"someone else's work \x00\xff")
    result = CliRunner().invoke(cli, ["weights", "import", str(tmp_path / "c.pt"), "--arch", "edsr", "--x2", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert bystander.read_bytes() == b"someone else's work \x00\xff"
    assert build_model(get_spec("edsr"), 2, out).scale == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "o.safetensors", "o.safetensors.tmp"]
    assert out.stat().st_mode & 0o777 == 0o644


def test_save_weights_without_overwrite_keeps_a_file_that_appeared(tmp_path: Path) -> None:
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"arrived first")
    with pytest.raises(OutputError, match="already exists"):
        save_weights(ESPCN(scale=2), out, arch="espcn", scale=2, options={}, overwrite=False)
    assert out.read_bytes() == b"arrived first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.safetensors"]
    save_weights(ESPCN(scale=2), out, arch="espcn", scale=2, options={}, overwrite=True)
    assert build_model(get_spec("espcn"), 2, out).scale == 2


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("head.0.weight", torch.zeros(()), r"first convolution's weight has shape \(\), not \(features, 3, k, k\)"),
        ("head.0.weight", torch.zeros(0, 3, 3, 3), r"first convolution's weight has shape \(0, 3, 3, 3\)"),
        ("tail.0.0.weight", torch.zeros(()), r"upsampler \(1 stage, output channels 0 for 4 features\)"),
    ],
)
def test_import_refuses_degenerate_shapes_with_one_line(tmp_path: Path, key: str, value: torch.Tensor, message: str) -> None:
    from vidrestore.models.convert import import_edsr

    sd = random_reference(2, blocks=1, features=4)
    sd[key] = value
    torch.save(sd, tmp_path / "c.pt")
    with pytest.raises(WeightsError, match=message):
        import_edsr(tmp_path / "c.pt", get_spec("edsr"), 2)


def test_every_option_a_weights_file_may_set_is_one_the_architecture_takes() -> None:
    from vidrestore.models.registry import MODELS, builder_parameters

    for spec in MODELS.values():
        assert set(spec.accepts) <= builder_parameters(spec), spec.name
        assert all(spec.accepts[k].accepts(v) for k, v in spec.options.items()), spec.name
