"""The backends side by side on this CPU, and how commands choose among them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tests.media import make_image, make_video
from tests.runs import assert_one_error
from vidrestore.backends import auto_backend, open_backend
from vidrestore.errors import BackendUnavailable, UsageError
from vidrestore.models import load

# Both run fp32 graphs of the same weights; they differ only in summation order.
PARITY = 1e-4


@pytest.mark.parametrize(("name", "scale", "shape"), [("espcn", 3, (2, 1, 37, 50)), ("edsr", 2, (1, 3, 30, 41)),
                                                      ("srn", 1, (2, 3, 36, 52)), ("bicubic", 4, (1, 1, 9, 13))])
def test_torch_and_onnxruntime_agree_on_cpu(name: str, scale: int, shape: tuple[int, ...]) -> None:
    model = load(name, scale=scale, untrained_ok=True)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(3))
    a = open_backend("torch", model, "cpu").run(x)
    b = open_backend("onnxruntime", model, "cpu").run(x)
    assert a.shape == b.shape == (shape[0], shape[1], shape[2] * scale, shape[3] * scale)
    assert float((a - b).abs().max()) < PARITY


def test_auto_takes_onnxruntime_on_a_cpu_when_installed() -> None:
    assert auto_backend("cpu") == "onnxruntime"
    assert open_backend("auto", load("espcn", scale=2), "cpu").name == "onnxruntime"


def test_unsupported_combinations_say_why() -> None:
    model = load("espcn", scale=2)
    with pytest.raises(UsageError, match="fp16 needs a GPU"):
        open_backend("torch", model, "cpu", "fp16")
    with pytest.raises(UsageError, match="fp32 only"):
        open_backend("onnxruntime", model, "cpu", "fp16")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable):
            open_backend("tensorrt", model, "cpu")
        with pytest.raises(BackendUnavailable, match="no CUDA GPU"):
            open_backend("torch", model, "cuda")


def _run(*args: object):
    return CliRunner().invoke(cli_group(), [*map(str, args)])


def cli_group():
    from vidrestore.cli import cli

    return cli


def test_upscale_reports_the_auto_backend_and_matches_torch(tmp_path: Path) -> None:
    src = make_image(tmp_path / "in.png", size=(40, 30))
    auto = _run("upscale", src, "--x3", "-o", tmp_path / "auto.png")
    assert auto.exit_code == 0, auto.stderr
    assert "espcn: onnxruntime backend on cpu (fp32)" in auto.stderr
    torch_run = _run("upscale", src, "--x3", "-o", tmp_path / "torch.png", "--backend", "torch")
    assert torch_run.exit_code == 0 and "backend on" not in torch_run.stderr
    a = np.asarray(Image.open(tmp_path / "auto.png"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "torch.png"), dtype=np.int16)
    assert a.shape == b.shape == (90, 120, 3)
    assert np.abs(a - b).max() <= 1  # 8-bit rounding of values that differ by < 1e-4


def test_tiled_upscale_matches_whole_frames(tmp_path: Path) -> None:
    src = make_image(tmp_path / "in.png", size=(70, 50))
    assert _run("upscale", src, "--x2", "-o", tmp_path / "whole.png", "-q").exit_code == 0
    tiled = _run("upscale", src, "--x2", "-o", tmp_path / "tiled.png", "-q", "--tile", "24", "--tile-overlap", "8")
    assert tiled.exit_code == 0, tiled.stderr
    a = np.asarray(Image.open(tmp_path / "whole.png"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "tiled.png"), dtype=np.int16)
    assert np.abs(a - b).max() <= 1


def test_gpu_only_options_are_one_line_errors_on_a_cpu(tmp_path: Path) -> None:
    src = make_image(tmp_path / "in.png")
    result = _run("upscale", src, "--x2", "--precision", "fp16", "--device", "cpu")
    assert_one_error(result.exit_code, result.stderr, contains="fp16 needs a GPU")
    if not torch.cuda.is_available():
        result = _run("upscale", src, "--x2", "--backend", "tensorrt")
        assert_one_error(result.exit_code, result.stderr, contains="vidrestore[gpu]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]


def test_bench_measures_every_stage_and_writes_json(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size=(64, 48), frames=10)
    out = tmp_path / "bench.json"
    result = _run("bench", src, "--x2", "--frames", "12", "--size", "48x32", "--backend", "torch",
                  "--backend", "onnxruntime", "--batch", "2", "--batch", "4", "--json", out)
    assert result.exit_code == 0, result.stderr
    data = json.loads(out.read_text())
    for key in ("machine", "decode_fps", "encode_fps", "infer", "pipeline_fps", "naive_fps", "efficiency",
                "peak_rss_mb", "peak_gpu_mb"):
        assert key in data, key
    assert {"cpu", "gpu", "versions"} <= set(data["machine"])
    assert data["frames"] == 12 and data["size"] == "48x32"  # the 10-frame input looped to 12
    assert [(r["backend"], r["batch"]) for r in data["infer"]] == [("torch", 2), ("torch", 4), ("onnxruntime", 2), ("onnxruntime", 4)]
    assert all(r["fps"] > 0 for r in data["infer"])
    assert data["pipeline"]["backend"] == "torch" and data["pipeline"]["batch"] == 2
    assert data["pipeline_fps"] > 0 and data["naive_fps"] > 0 and data["efficiency"] > 0  # speed is measured, not asserted
    assert data["peak_rss_mb"] > 50
    cpu = data["cpu_ms_per_frame"]
    assert set(cpu) == {"decode", "process", "encode", "pipeline", "naive"} and all(v > 0 for v in cpu.values())
    assert data["cpu_ceiling_fps"] == pytest.approx(data["machine"]["cores"] * 1000 / (cpu["decode"] + cpu["process"] + cpu["encode"]))
    assert data["of_cpu_ceiling"] == pytest.approx(data["pipeline_fps"] / data["cpu_ceiling_fps"])
    assert data["other_encoders"] == ([] if not torch.cuda.is_available() else data["other_encoders"])
    assert all(fps > 0 for fps in data["pipeline_stages_fps"].values())
    assert "| pipeline (torch, batch 2) |" in result.stdout


@pytest.mark.slow
def test_torch_compile_matches_eager_and_pads_the_last_batch() -> None:
    model = load("espcn", scale=3)
    eager = open_backend("torch", model, "cpu")
    compiled = open_backend("torch-compile", model, "cpu")
    assert compiled.name == "torch-compile"
    x = torch.rand(3, 1, 24, 40, generator=torch.Generator().manual_seed(5))
    assert float((compiled.run(x) - eager.run(x)).abs().max()) < PARITY
    # The shorter last batch of a video runs padded to the compiled batch, cut back to its own frames.
    tail = compiled.run(x[:2])
    assert tail.shape == (2, 1, 72, 120) and compiled._shape == (3, 1, 24, 40)
    assert float((tail - eager.run(x[:2])).abs().max()) < PARITY


@pytest.mark.parametrize("name", ["torch", "onnxruntime"])
def test_frames_one_call_at_a_time_equal_the_whole_batch(name: str) -> None:
    """What the CPU staging relies on when it cuts a batch into chunks: bit for bit the same."""
    for model, scale in (("espcn", 3), ("bicubic", 2)):
        backend = open_backend(name, load(model, scale=scale), "cpu")
        x = torch.rand(4, 1, 30, 44, generator=torch.Generator().manual_seed(7))
        whole = backend.run_device(x.clone())
        assert torch.equal(torch.cat([backend.run_device(x[i : i + 1].clone()) for i in range(4)]), whole)


def test_onnxruntime_on_a_cpu_plans_no_memory_pattern_and_shares_one_arena() -> None:
    """No pattern block beside the arena's own chunks, and an arena grown by what is asked:
    about half the memory per call (figures in onnxruntime_backend)."""
    model = load("espcn", scale=2)
    first, second = (open_backend("onnxruntime", model, "cpu") for _ in range(2))
    for backend in (first, second):
        options = backend.session.get_session_options()
        assert options.enable_mem_pattern is False
        assert options.get_session_config_entry("session.use_env_allocators") == "1"
    x = torch.rand(2, 1, 20, 28, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first.run(x), second.run(x))
    assert float((first.run(x) - open_backend("torch", model, "cpu").run(x)).abs().max()) < PARITY


def test_the_cli_offers_exactly_the_backends_there_are() -> None:
    from vidrestore.backends import BACKEND_NAMES, BACKENDS
    from vidrestore.cli.options import BACKEND_NAMES as offered

    assert offered == BACKEND_NAMES and set(BACKEND_NAMES) == {"auto", *BACKENDS}
