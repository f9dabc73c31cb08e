"""Shared fixtures: running the CLI in-process and as a subprocess, building processors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from vidrestore.cli import cli
from vidrestore.models.registry import get_spec

@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exported ONNX graphs and engines go to a folder of this test session, not ~/.cache."""
    os.environ["VIDRESTORE_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def upscale() -> Callable[..., Result]:
    """`vidrestore upscale ARGS...` through click's CliRunner (stdout and stderr apart)."""
    runner = CliRunner()

    def run(*args: object) -> Result:
        return runner.invoke(cli, ["upscale", *map(str, args)])

    return run


@pytest.fixture
def upscale_process() -> Callable[..., subprocess.CompletedProcess]:
    """`python -m vidrestore upscale ARGS...` as a child process, as users run it."""

    def run(*args: object, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "vidrestore", "upscale", *map(str, args)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    return run


@pytest.fixture
def espcn_weights() -> Callable[[int], Path]:
    """The shipped ESPCN weights for a scale (they ship with the package: missing is a failure)."""

    def weights(scale: int) -> Path:
        path = get_spec("espcn").weights_path(scale)
        assert path is not None and path.is_file(), f"shipped ESPCN weights missing: {path}"
        return path

    return weights


@pytest.fixture
def bicubic() -> Callable[[int], object]:
    """A CPU super-resolution processor with the bicubic resampler at a scale."""
    from vidrestore.backends import open_backend
    from vidrestore.models import load
    from vidrestore.pipeline.processor import SuperResolution

    def make(scale: int) -> SuperResolution:
        model = load("bicubic", scale=scale)
        return SuperResolution(open_backend("torch", model, "cpu"), scale)

    return make


_HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`needs_cuda` / `needs_tensorrt` tests skip here and run on a GPU machine."""
    no_cuda = pytest.mark.skip(reason="needs a CUDA GPU")
    no_trt = pytest.mark.skip(reason="needs TensorRT and a CUDA GPU")
    for item in items:
        if "needs_cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(no_cuda)
        if "needs_tensorrt" in item.keywords and not (_HAS_TENSORRT and torch.cuda.is_available()):
            item.add_marker(no_trt)
