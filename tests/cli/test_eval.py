"""`vidrestore eval`: the table, the JSON report, and bad input as one error line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from skimage import data

from tests.runs import assert_one_error
from vidrestore.cli import cli

USAGE, INPUT = 2, 1  # exit codes of UsageError and InputError/OutputError/WeightsError


@pytest.fixture
def run_eval() -> Callable[..., Result]:
    runner = CliRunner()

    def run(*args: object) -> Result:
        return runner.invoke(cli, ["eval", *map(str, args)])

    return run


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two photos: one large enough for MS-SSIM at x2 (180 px), one not (96 px); and a non-image."""
    folder = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.camera()[60:240, 140:320]).save(folder / "camera.png")
    Image.fromarray(data.chelsea()[70:166, 120:216]).save(folder / "chelsea.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def rows(stdout: str) -> dict[str, list[str]]:
    """Table rows (after the title and the header) by their first cell; cells are 2+ spaces apart.

    Cells: bicubic PSNR-Y, SSIM-Y, model PSNR-Y, SSIM-Y, gain dB, MS-SSIM-Y, grad x bic.
    """
    cells = [re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines()[2:]]
    return {c[0]: c[1:] for c in cells}


def test_bicubic_scores_itself_with_no_gain(run_eval, photo_dir: Path, tmp_path: Path) -> None:
    result = run_eval(photo_dir, "--model", "bicubic", "--x2", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.stderr
    table = rows(result.stdout)
    assert set(table) == {"camera.png", "chelsea.png", "mean (2 photos)"}
    assert table["mean (2 photos)"][4] == "+0.000"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["model"] == "bicubic" and report["weights"] is None
    assert report["mean"]["gain_db"] == 0.0
    assert report["mean"]["bicubic"] == report["mean"]["model"]


def test_espcn_beats_bicubic_and_the_json_holds_the_table(run_eval, photo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "espcn.json"
    result = run_eval(photo_dir, "--model", "espcn", "--x2", "--json", out, "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"model", "scale", "weights", "device", "protocol", "metrics", "images", "mean"}
    assert (report["model"], report["scale"], report["device"]) == ("espcn", 2, "cpu")
    assert Path(report["weights"]).name == "espcn_x2.safetensors"
    assert "rgb2ycbcr" in report["protocol"] and "rounded to 8 bits" in report["protocol"]
    images = {im["name"]: im for im in report["images"]}
    assert list(images) == ["camera.png", "chelsea.png"]
    for im in images.values():
        assert set(im["model"]) == {"psnr", "ssim", "ms_ssim", "grad_energy"}
        assert im["gain_db"] == pytest.approx(im["model"]["psnr"] - im["bicubic"]["psnr"])
        assert im["gain_db"] > 0
    # MS-SSIM needs 176 px after the 2-px border crop: the 96-px photo has none.
    assert images["chelsea.png"]["model"]["ms_ssim"] is None
    assert 0.9 < images["camera.png"]["model"]["ms_ssim"] < 1.0
    mean = report["mean"]
    assert mean["model"]["ms_ssim"] == images["camera.png"]["model"]["ms_ssim"]
    assert mean["model"]["psnr"] == pytest.approx(np.mean([im["model"]["psnr"] for im in images.values()]))
    assert mean["gain_db"] > 0.3
    # The printed table shows the same figures.
    table = rows(result.stdout)
    assert float(table["camera.png"][2]) == pytest.approx(images["camera.png"]["model"]["psnr"], abs=5e-4)
    assert float(table["mean (2 photos)"][4]) == pytest.approx(mean["gain_db"], abs=5e-4)
    assert table["chelsea.png"][5] == "-"
    assert "espcn_x2.safetensors" in result.stdout.splitlines()[0]


def text_file(folder: Path) -> Path:
    (folder / "a.txt").write_text("not a photo")
    return folder / "a.txt"


def tiny_photo(folder: Path) -> Path:
    Image.fromarray(np.zeros((12, 40, 3), np.uint8)).save(folder / "tiny.png")
    return folder


def text_as_png(folder: Path) -> Path:
    (folder / "broken.png").write_text("not a png")
    return folder


def empty(folder: Path) -> Path:
    (folder / "empty").mkdir()
    (folder / "empty" / "notes.txt").write_text("no photos here")
    return folder / "empty"


def no_weights_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("vidrestore.models.registry.WEIGHTS_DIR", tmp_path / "not-installed")


# (name, input maker (None: the photo folder), arguments, exit code, text in the error line)
CASES = [
    ("missing-folder", lambda d: d / "nope", ("--x2",), INPUT, "nope: no such file or folder"),
    ("empty-folder", empty, ("--x2",), INPUT, "empty: folder holds no images (bmp, jpeg, jpg, png, tif, tiff or webp)"),
    ("not-a-photo", text_file, ("--x2",), INPUT, "a.txt: not an image (bmp, jpeg, jpg, png, tif, tiff or webp)"),
    ("unreadable-photo", text_as_png, ("--x2",), INPUT, "broken.png: not an image Pillow can read"),
    ("tiny-photo", tiny_photo, ("--x3",), INPUT, "tiny.png: 40x12 is too small to evaluate at x3; each side needs at least 18 pixels"),
    ("unknown-model", None, ("--x2", "--model", "waifu"), USAGE, "unknown model 'waifu'; available: "),
    ("unsupported-scale", None, ("--scale", "5"), USAGE, "does not support x5; it supports x2, x3, x4"),
    ("x2-srresnet", None, ("--x2", "--model", "srresnet"), USAGE, "model 'srresnet' does not support x2; it supports x4"),
    ("no-scale", None, (), USAGE, "give a scale: --x2, --x3, --x4 or --scale N"),
    ("two-scales", None, ("--x2", "--x4"), USAGE, "give one scale, not x2 and x4"),
    ("missing-weights-file", None, ("--x2", "--weights", "nope.safetensors"), INPUT, "weights file not found: nope.safetensors"),
    ("weights-of-another-model", None, ("--x2", "--model", "lanczos", "--weights", "SHIPPED"), INPUT, "holds 'espcn' weights, not 'lanczos'"),
    ("untrained-model", None, ("--x2", "--model", "edsr-large"), INPUT, "model 'edsr-large' ships no weights; give a weights file with --weights"),
    ("shipped-weights-missing", None, ("--x4", "--model", "srgan", "NO-WEIGHTS"), INPUT, "the shipped srgan x4 weights are not installed"),
    ("json-in-missing-folder", None, ("--x2", "--json", "missing/r.json"), INPUT, "output folder"),
    ("record-without-weights", None, ("--x2", "--model", "bicubic", "--record", "r.safetensors"), USAGE,
     "--record writes a copy of a safetensors weights file; bicubic has none here"),
    ("record-not-safetensors", None, ("--x2", "--record", "r.json"), USAGE, "r.json: --record writes safetensors"),
    ("record-over-its-weights", None, ("--x2", "--weights", "SHIPPED", "--record", "SHIPPED"), INPUT, "is the input"),
]


@pytest.mark.parametrize("name, make, args, code, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(run_eval, photo_dir, tmp_path, monkeypatch, name, make, args, code, message) -> None:
    from vidrestore.models import get_spec

    src = photo_dir if make is None else make(tmp_path)
    if "NO-WEIGHTS" in args:
        no_weights_dir(monkeypatch, tmp_path)
        args = tuple(a for a in args if a != "NO-WEIGHTS")
    shipped = str(get_spec("espcn").weights_path(2))
    args = tuple(shipped if a == "SHIPPED" else str(tmp_path / a) if a.startswith("missing/") else a for a in args)
    result = run_eval(src, *args)
    assert_one_error(result.exit_code, result.stderr, contains=message)
    assert result.exit_code == code
    assert result.stdout == ""


def test_shipped_weights_missing_also_for_espcn(run_eval, photo_dir, tmp_path, monkeypatch) -> None:
    no_weights_dir(monkeypatch, tmp_path)
    result = run_eval(photo_dir, "--x2")
    line = assert_one_error(result.exit_code, result.stderr, contains="the shipped espcn x2 weights are not installed")
    assert "--weights" in line


def test_debug_shows_the_traceback(run_eval, photo_dir) -> None:
    result = run_eval(photo_dir, "--x2", "--model", "waifu", "--debug")
    assert result.exit_code != 0
    assert result.exception is not None and "unknown model 'waifu'" in str(result.exception)


def test_record_writes_the_weights_with_these_figures(run_eval, photo_dir: Path, tmp_path: Path) -> None:
    from vidrestore.models import get_spec
    from vidrestore.models.weights import read_weights

    shipped = get_spec("espcn-lite").weights_path(2)
    before = shipped.read_bytes()
    out = tmp_path / "lite.safetensors"
    result = run_eval(photo_dir, "--x2", "--model", "espcn-lite", "--json", tmp_path / "r.json", "--record", out)
    assert result.exit_code == 0, result.stderr
    assert shipped.read_bytes() == before  # the input is never modified
    report = json.loads((tmp_path / "r.json").read_text())
    tensors, meta = read_weights(out)
    old_tensors, old_meta = read_weights(shipped)
    assert all(tensors[k].equal(v) for k, v in old_tensors.items()) and set(tensors) == set(old_tensors)
    assert float(meta["val_gain_db"]) == pytest.approx(report["mean"]["gain_db"], abs=1e-4)
    assert float(meta["val_psnr_y"]) == pytest.approx(report["mean"]["model"]["psnr"], abs=1e-4)
    assert float(meta["val_psnr_y_bicubic"]) == pytest.approx(report["mean"]["bicubic"]["psnr"], abs=1e-4)
    assert json.loads(meta["val_files"]) == ["camera.png", "chelsea.png"]
    assert meta["val_gain_db"] != old_meta["val_gain_db"]  # other photos, another figure
    assert meta["train_steps"] == old_meta["train_steps"]  # the rest of the record is kept
    # The file is a complete weights file: eval scores it to the same figure.
    again = run_eval(photo_dir, "--x2", "--weights", out)
    assert again.exit_code == 0, again.stderr
    assert rows(again.stdout)["mean (2 photos)"][4] == f"{report['mean']['gain_db']:+.3f}"
    # An existing file is never replaced.
    refused = run_eval(photo_dir, "--x2", "--model", "espcn-lite", "--record", out)
    assert_one_error(refused.exit_code, refused.stderr, contains="already exists; --record writes a new file and never replaces one")
