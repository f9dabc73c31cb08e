"""The TensorRT engine cache: keys, shapes, folders and cache hits (CPU), and a real build (GPU)."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from vidrestore.errors import BackendUnavailable, UsageError
from vidrestore.export.cache import CacheFolder
from vidrestore.export.tensorrt import (
    EngineSpec,
    build_engine,
    cache_key,
    engine_cache_dir,
    profile_shapes,
    spec_for,
)

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def needs_tensorrt(test: Callable[..., Any]) -> Callable[..., Any]:
    """The `needs_tensorrt` mark with its skip applied here, whether or not conftest registers it."""
    skip = pytest.mark.skipif(not (HAS_TENSORRT and torch.cuda.is_available()), reason="needs TensorRT and a CUDA GPU")
    return pytest.mark.needs_tensorrt(skip(test))


def make_spec(**changes: Any) -> EngineSpec:
    fields: dict[str, Any] = dict(
        onnx_sha256="ab" * 32,
        input_name="input",
        channels=1,
        min_shape=(1, 1, 16, 16),
        opt_shape=(2, 1, 48, 64),
        max_shape=(4, 1, 96, 128),
        precision="fp16",
        trt_version="10.3.0",
        gpu_name="NVIDIA H100 80GB HBM3",
        workspace_mb=4096,
    )
    return EngineSpec(**{**fields, **changes})


def other_value(name: str, value: Any) -> Any:
    """A different value for a field that still makes a valid spec."""
    if name == "precision":
        return "bf16" if value != "bf16" else "fp32"
    if isinstance(value, str):
        return value + "-other"
    if isinstance(value, int):
        return value + 1
    return (*value[:-1], value[-1] + 1)  # a shape: one pixel wider keeps min <= opt <= max


@pytest.fixture
def no_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import tensorrt` fail, as on a machine without it (also where it is installed)."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


def test_equal_specs_have_equal_keys() -> None:
    key = cache_key(make_spec())
    assert key == cache_key(make_spec())
    assert len(key) == 64 and int(key, 16) >= 0


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(EngineSpec)])
def test_any_changed_field_changes_the_key(field: str) -> None:
    spec = make_spec()
    changed = dataclasses.replace(spec, **{field: other_value(field, getattr(spec, field))})
    assert changed != spec
    assert cache_key(changed) != cache_key(spec)


def test_a_spec_rejects_an_unknown_precision_and_unordered_shapes() -> None:
    with pytest.raises(UsageError, match="unknown precision 'int8'; expected one of fp32, fp16, bf16"):
        make_spec(precision="int8")
    with pytest.raises(UsageError, match="min <= opt <= max"):
        make_spec(min_shape=(1, 1, 64, 64), opt_shape=(2, 1, 48, 48))


@pytest.mark.parametrize(("channels", "width", "height", "batch"), [(1, 1920, 1080, 4), (3, 640, 360, 1), (1, 12, 8, 2)])
def test_profile_covers_the_video_and_smaller_batches(channels: int, width: int, height: int, batch: int) -> None:
    lo, opt, hi = profile_shapes(channels, width, height, batch)
    assert opt == hi == (batch, channels, height, width)
    assert lo[:2] == (1, channels)
    assert all(a <= b <= c for a, b, c in zip(lo, opt, hi))
    make_spec(channels=channels, min_shape=lo, opt_shape=opt, max_shape=hi)  # a valid spec


def test_profile_rejects_an_empty_video() -> None:
    with pytest.raises(UsageError, match="must be positive"):
        profile_shapes(1, 0, 720, 4)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("VIDRESTORE_CACHE", raising=False)
    assert engine_cache_dir() == tmp_path / "xdg" / "vidrestore" / "tensorrt"
    monkeypatch.setenv("VIDRESTORE_CACHE", str(tmp_path / "mine"))
    assert engine_cache_dir() == tmp_path / "mine" / "tensorrt"


def test_a_cached_engine_needs_no_tensorrt(no_tensorrt: None, tmp_path: Path) -> None:
    spec = make_spec()
    cached = CacheFolder(tmp_path).write(f"{cache_key(spec)}.engine", b"engine")
    assert cached == tmp_path / f"{cache_key(spec)}.engine"
    assert build_engine(tmp_path / "missing.onnx", spec, cache_dir=tmp_path) == cached


def test_the_default_cache_dir_is_used(no_tensorrt: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDRESTORE_CACHE", str(tmp_path))
    spec = make_spec()
    cached = CacheFolder(tmp_path / "tensorrt").write(f"{cache_key(spec)}.engine", b"engine")
    assert cached == tmp_path / "tensorrt" / f"{cache_key(spec)}.engine"
    assert build_engine(tmp_path / "missing.onnx", spec) == cached


def test_building_without_tensorrt_names_the_extra(no_tensorrt: None, tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match=r"TensorRT is not installed; pip install 'vidrestore\[gpu\]'") as caught:
        build_engine(tmp_path / "model.onnx", make_spec(), cache_dir=tmp_path / "cache")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "cache").exists()
    with pytest.raises(BackendUnavailable, match=r"vidrestore\[gpu\]"):
        spec_for(tmp_path / "model.onnx", 1, 64, 48, 2, "fp16")


def test_the_backend_without_tensorrt_names_the_extra(no_tensorrt: None, tmp_path: Path) -> None:
    from vidrestore.backends.tensorrt_backend import TensorRTBackend

    with pytest.raises(BackendUnavailable, match=r"vidrestore\[gpu\]"):
        TensorRTBackend(tmp_path / "x.engine", scale=2)


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    cache = CacheFolder(tmp_path)
    cache.write("a.engine", b"old")
    cache.write("a.engine", b"new engine")
    assert (tmp_path / "a.engine").read_bytes() == b"new engine" == CacheFolder(tmp_path).read("a.engine")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.engine", "a.engine.sha256"]


@needs_tensorrt
@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export")
def test_fp16_engine_matches_torch(tmp_path: Path) -> None:
    from vidrestore.backends.tensorrt_backend import TensorRTBackend

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1), nn.PixelShuffle(2)).eval()
    onnx_path = tmp_path / "tiny.onnx"
    axes = {0: "batch", 2: "height", 3: "width"}
    out_axes = {0: "batch", 2: "out_height", 3: "out_width"}  # twice the input's: not the same symbols
    torch.onnx.export(
        model,
        (torch.rand(2, 1, 48, 64),),
        str(onnx_path),
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": axes, "output": out_axes},
        opset_version=17,
        dynamo=False,
    )
    spec = spec_for(onnx_path, channels=1, width=64, height=48, batch=2, precision="fp16")
    lines: list[str] = []
    engine = build_engine(onnx_path, spec, cache_dir=tmp_path / "cache", progress=lines.append)
    assert engine == tmp_path / "cache" / f"{cache_key(spec)}.engine"
    assert lines and "building a TensorRT fp16 engine" in lines[0]
    assert len(list((tmp_path / "cache").glob("timing-*.cache"))) == 1
    assert not list((tmp_path / "cache").glob(".*"))  # no temporaries left
    assert build_engine(onnx_path, spec, cache_dir=tmp_path / "cache") == engine  # now a cache hit

    backend = TensorRTBackend(engine, scale=2)
    for shape in [(2, 1, 48, 64), (1, 1, 48, 64), (1, 1, 16, 24), (2, 1, 5, 7)]:  # full, partial batch, tiles
        batch = torch.rand(shape)
        with torch.inference_mode():
            expected = model(batch)
        got = backend.run(batch)
        assert got.device.type == "cpu" and got.dtype == torch.float32 and got.shape == expected.shape
        assert (got - expected).abs().max().item() < 1e-2
    with pytest.raises(UsageError, match="outside the engine's range"):
        backend.run(torch.rand(4, 1, 48, 64))
