"""ONNX export: the command, the graph's dynamic shapes, and ONNX Runtime against PyTorch."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from tests.runs import assert_one_error
from vidrestore.cli import cli
from vidrestore.models import build_model, get_spec


def run(*args: object):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


@pytest.mark.parametrize(("model", "scale", "channels"), [("espcn", 3, 1), ("edsr", 2, 3), ("srn", 1, 3), ("deepdeblur", 1, 3)])
def test_export_round_trips_at_two_sizes(tmp_path: Path, model: str, scale: int, channels: int) -> None:
    dst = tmp_path / "m.onnx"
    result = run(model, *([f"--x{scale}"] if scale > 1 else []), "-o", dst)
    assert result.exit_code == 0, result.output
    diff = float(re.search(r"max abs difference (\S+)", result.output).group(1))
    assert diff < 1e-4
    graph = onnx.load(str(dst))
    onnx.checker.check_model(graph)
    dims = [d.dim_param or d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", channels, "height", "width"]
    assert {p.key: p.value for p in graph.metadata_props}["model"] == model
    # Our own round trip, at sizes the command did not use (odd, and one of 1 row of tiles).
    session = ort.InferenceSession(str(dst), providers=["CPUExecutionProvider"])
    torch_model = build_model(get_spec(model), scale)
    for shape in [(1, channels, 29, 35), (3, channels, 16, 64)]:
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
        got = session.run(None, {"input": x.numpy()})[0]
        with torch.no_grad():
            want = torch_model(x).numpy()
        assert got.shape == (shape[0], channels, shape[2] * scale, shape[3] * scale)
        assert np.abs(got - want).max() < 1e-4


def test_fp16_export_keeps_float32_io_and_stays_close(tmp_path: Path) -> None:
    dst = tmp_path / "h.onnx"
    result = run("espcn", "--x2", "-o", dst, "--fp16")
    assert result.exit_code == 0, result.output
    assert float(re.search(r"max abs difference (\S+)", result.output).group(1)) < 5e-3
    graph = onnx.load(str(dst))
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.graph.initializer)
    full = tmp_path / "f.onnx"
    assert run("espcn", "--x2", "-o", full).exit_code == 0
    assert dst.stat().st_size < 0.6 * full.stat().st_size


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    assert_one_error(*_codes(run("nope", "-o", tmp_path / "x.onnx")), contains="unknown model 'nope'")
    assert_one_error(*_codes(run("edsr", "-o", tmp_path / "x.onnx")), contains="give one with --x2, --x3 or --x4")
    (tmp_path / "keep.onnx").write_bytes(b"keep")
    assert_one_error(*_codes(run("espcn", "--x2", "-o", tmp_path / "keep.onnx")), contains="pass --overwrite")
    assert (tmp_path / "keep.onnx").read_bytes() == b"keep"
    assert_one_error(*_codes(run("espcn", "--x2", "-o", tmp_path / "no" / "x.onnx")), contains="does not exist")


def test_tensorrt_format_without_tensorrt_says_why(tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    result = run("espcn", "--x2", "--format", "tensorrt", "-o", tmp_path / "e.engine")
    assert_one_error(*_codes(result), contains="vidrestore[gpu]")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _codes(result) -> tuple[int, str]:
    return result.exit_code, result.stderr
