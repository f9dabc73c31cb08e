"""`vidrestore eval --onnx`: an exported graph scored with the papers' protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from PIL import Image

from tests.media import textured_photo
from tests.runs import assert_one_error
from vidrestore.cli import cli

pytest.importorskip("onnxruntime")


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [*map(str, args)])


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i, size in enumerate([(90, 124), (64, 80)]):
        Image.fromarray(textured_photo(i, size)).save(folder / f"photo{i}.png")
    return folder


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("graph") / "m.onnx"
    result = run("export", "espcn", "--x2", "-o", path)
    assert result.exit_code == 0, result.output
    return path


def test_a_graph_scores_as_its_model(photos: Path, graph: Path, tmp_path: Path) -> None:
    result = run("eval", "--onnx", graph, photos, "--json", tmp_path / "graph.json")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("espcn x2 (m.onnx) on 2 photos")
    model = run("eval", "--model", "espcn", "--x2", photos, "--json", tmp_path / "model.json")
    assert model.exit_code == 0, model.output
    ours, theirs = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("graph", "model"))
    assert (ours["model"], ours["scale"], Path(ours["weights"]).name) == ("espcn", 2, "m.onnx")
    assert len(ours["images"]) == 2
    for a, b in zip(ours["images"], theirs["images"], strict=True):
        assert a["model"]["psnr"] == pytest.approx(b["model"]["psnr"], abs=0.01)
        assert a["bicubic"] == b["bicubic"]
    assert ours["mean"]["model"]["psnr"] == pytest.approx(theirs["mean"]["model"]["psnr"], abs=0.01)


def test_a_graph_without_metadata_is_refused(photos: Path, tmp_path: Path) -> None:
    from vidrestore.export.onnx import onnx_bytes
    from vidrestore.models import load

    bare = tmp_path / "bare.onnx"
    bare.write_bytes(onnx_bytes(load("espcn", scale=2)))  # no graph_metadata: only the producer
    result = run("eval", "--onnx", bare, photos)
    assert_one_error(result.exit_code, result.stderr, contains="bare.onnx: the graph does not say its model, task, scale, color")
    text = tmp_path / "notes.onnx"
    text.write_text("not a graph")
    result = run("eval", "--onnx", text, photos)
    assert_one_error(result.exit_code, result.stderr, contains="notes.onnx: not an ONNX graph")


@pytest.mark.parametrize("args, message", [
    (("--x3",), "holds espcn x2, not x3: leave out the scale"),
    (("--task", "deblur"), "holds a super-resolution model (espcn): leave out --task deblur"),
    (("--model", "espcn"), "--onnx scores the graph it names: leave out --model and --weights"),
    (("--backend", "torch"), "an ONNX graph runs in ONNX Runtime: leave out --backend torch"),
])
def test_options_that_contradict_the_graph_are_one_line(photos: Path, graph: Path, args, message: str) -> None:
    result = run("eval", "--onnx", graph, photos, *args)
    assert_one_error(result.exit_code, result.stderr, contains=message)
    assert result.exit_code == 2 and result.stdout == ""
