"""Every registered model through every benchmark and every command that takes a model,
on a tiny clip: a model a command or a bench cannot run is a bug users would meet first.

(The EDSR upscale bench once hard-coded the luma stage and crashed on any RGB
model; these runs are what catches that kind of assembly drift.)

Models that ship no weights (edsr-large) get a small weights file of their own
architecture with fewer blocks and features (the metadata may set those), so
every command runs them for real; the benchmarks time architectures and run
them as initialised.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.media import make_video, textured_photo
from vidrestore.cli import cli
from vidrestore.models.registry import MODELS

pytestmark = pytest.mark.slow

SR = sorted(n for n, s in MODELS.items() if s.task == "sr")
DEBLUR = sorted(n for n, s in MODELS.items() if s.task == "deblur")
ALL = sorted(MODELS)
SIZE = (24, 16)  # frames: tiny, so the large architectures stay quick on a CPU
PHOTO = (48, 48)  # photos for eval: the deblurring protocol needs 43 pixels a side


def scale_of(name: str) -> int:
    return MODELS[name].scales[0]


def scale_flags(name: str) -> list[str]:
    scale = scale_of(name)
    return [f"--x{scale}"] if scale > 1 else []


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("media")
    clip = make_video(folder / "clip.mp4", size=SIZE, frames=3)
    photo = folder / "photo.png"
    Image.fromarray(textured_photo(5, PHOTO)).save(photo)
    return {"clip": clip, "photo": photo, "folder": folder}


@pytest.fixture(scope="module")
def weights(media: dict[str, Path]) -> dict[str, Path]:
    """A small trained-looking weights file for every model that ships none."""
    import torch

    from vidrestore.models.weights import save_weights

    made = {}
    for name, spec in MODELS.items():
        if spec.weights is not None or not spec.accepts:
            continue
        options = {**spec.options, "blocks": 1, "features": 8}
        torch.manual_seed(0)
        model = spec.build(scale=scale_of(name), **options)
        path = media["folder"] / f"{name}-small.safetensors"
        save_weights(model, path, arch=name, scale=scale_of(name), options={"blocks": 1, "features": 8})
        made[name] = path
    return made


def cli_run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def weights_args(name: str, weights: dict[str, Path], flag: str = "--weights") -> list[str]:
    return [flag, str(weights[name])] if name in weights else []


def frame_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


def expected(name: str) -> tuple[int, int]:
    return SIZE[0] * scale_of(name), SIZE[1] * scale_of(name)


@pytest.mark.parametrize("name", ALL)
def test_the_processing_command_of_each_model(name: str, media, weights, tmp_path: Path) -> None:
    command = "upscale" if MODELS[name].task == "sr" else "deblur"
    out = tmp_path / "out.mp4"
    result = cli_run(command, media["clip"], "--model", name, *scale_flags(name), *weights_args(name, weights),
                     "--backend", "torch", "--preset", "ultrafast", "-q", "-o", out)
    assert result.exit_code == 0, result.output
    assert frame_size(out) == expected(name)


@pytest.mark.parametrize("name", ALL)
def test_restore_chains_each_model(name: str, media, weights, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    if MODELS[name].task == "sr":
        args = ["--sr", name, *scale_flags(name), *weights_args(name, weights, "--sr-weights")]
    else:
        args = ["--deblur", name, *weights_args(name, weights, "--deblur-weights")]
    result = cli_run("restore", media["clip"], *args, "--filter", "sharpen=0.5", "--backend", "onnxruntime",
                     "--preset", "ultrafast", "-q", "-o", out)
    assert result.exit_code == 0, result.output
    assert frame_size(out) == expected(name)


@pytest.mark.parametrize("name", ALL)
def test_eval_scores_each_model(name: str, media, weights, tmp_path: Path) -> None:
    report = tmp_path / "scores.json"
    result = cli_run("eval", media["photo"], "--model", name, *scale_flags(name), *weights_args(name, weights),
                     "--json", report)
    assert result.exit_code == 0, result.output
    assert "mean (1 photos)" in result.output
    assert report.is_file()


@pytest.mark.parametrize("name", ALL)
def test_export_writes_each_model(name: str, weights, tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    result = cli_run("export", name, *scale_flags(name), *weights_args(name, weights), "-o", out)
    assert result.exit_code == 0, result.output
    assert "max abs difference" in result.output and out.is_file()


@pytest.mark.parametrize("name", ALL)
def test_the_bench_command_times_each_model(name: str, media, tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = cli_run("bench", media["clip"], "--model", name, *scale_flags(name), "--frames", 2, "--backend", "torch",
                     "--no-naive", "--preset", "ultrafast", "--json", report)
    assert result.exit_code == 0, result.output
    assert report.is_file()


@pytest.mark.parametrize("name", SR)
def test_the_upscale_bench_runs_each_sr_model(name: str, media, capsys) -> None:
    from vidrestore.bench import upscale

    upscale.main([str(media["clip"]), f"--x{scale_of(name)}", "--models", name, "--no-record"])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {name} x"))
    assert row.count("|") == 5


@pytest.mark.parametrize("name", DEBLUR)
def test_the_restore_bench_runs_each_deblurring_model(name: str, media, capsys) -> None:
    from vidrestore.bench import restore

    restore.main([str(media["clip"]), "--size", "32x16", "--frames", "2", "--run", f"deblur:{name}", "--no-record"])
    assert any(line.startswith(f"| deblur:{name} |") for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize("name", SR)
def test_live_runs_each_sr_model(name: str, media, weights, tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    result = cli_run("live", "--source", media["clip"], "--sink", "null", "--model", name, *scale_flags(name),
                     *weights_args(name, weights), "--duration", 1, "--backend", "torch", "-q", "--stats-json", stats)
    assert result.exit_code == 0, result.output
    assert stats.is_file()
