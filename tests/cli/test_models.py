"""`vidrestore models`: the registry as a table and as JSON."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner, Result

from vidrestore.cli import cli
from vidrestore.models import MODELS, get_spec
from vidrestore.models.edsr import EDSR
from vidrestore.models.weights import read_metadata, save_weights


def models(*args: str) -> Result:
    return CliRunner().invoke(cli, ["models", *args])


def rows(table: str) -> dict[str, str]:
    return {line.split()[0]: line for line in table.splitlines()[1:]}


def cells(table: str) -> dict[str, dict[str, str]]:
    """Each model's cells by column heading (columns start where their headings do)."""
    header, *lines = table.splitlines()
    names = re.split(r"\s{2,}", header.strip())
    starts = [header.index(name) for name in names] + [None]
    return {line.split()[0]: {n: line[a:b].strip() for n, a, b in zip(names, starts, starts[1:])} for line in lines}


def test_table_has_one_row_per_model_with_its_description():
    result = models()
    assert result.exit_code == 0, result.stderr
    table = rows(result.stdout)
    assert list(table) == list(MODELS)
    for name, spec in MODELS.items():
        assert table[name].endswith(spec.description)
    by_column = cells(result.stdout)
    assert by_column["edsr"]["PARAMS"] == "1.37M"  # the paper's EDSR-baseline size at x2
    assert by_column["bicubic"]["HELD-OUT PSNR-Y GAIN"] == "baseline"
    assert by_column["lanczos"]["SHIPPED WEIGHTS"] == by_column["lanczos"]["HELD-OUT PSNR-Y GAIN"] == "-"


def test_espcn_shows_its_measured_gains_from_the_weights_metadata():
    spec = get_spec("espcn")
    gains = [float(read_metadata(spec.weights_path(s))["val_gain_db"]) for s in spec.scales]
    expected = ", ".join(f"x{s} +{g:.2f}" for s, g in zip(spec.scales, gains)) + " dB vs bicubic"
    espcn = cells(models().stdout)["espcn"]
    assert espcn["HELD-OUT PSNR-Y GAIN"] == expected
    assert espcn["SHIPPED WEIGHTS"].startswith("x2 x3 x4 (") and espcn["SHIPPED WEIGHTS"].endswith(" KB)")


def test_json_has_exact_parameter_counts_and_the_shipped_files():
    result = models("--json")
    assert result.exit_code == 0, result.stderr
    listed = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(listed) == list(MODELS)
    for name, spec in MODELS.items():
        model = spec.build(scale=spec.scales[0], **spec.options)
        assert listed[name]["parameters"] == sum(p.numel() for p in model.parameters()), name
        assert listed[name]["scales"] == list(spec.scales)
    espcn = listed["espcn"]["weights"]
    assert [w["scale"] for w in espcn] == [2, 3, 4]
    for w in espcn:
        path = get_spec("espcn").weights_path(w["scale"])
        assert (w["file"], w["bytes"]) == (path.name, path.stat().st_size)
        assert w["val_gain_db"] == float(read_metadata(path)["val_gain_db"])
    assert listed["lanczos"]["weights"] == []


def test_newly_trained_weights_appear_with_their_figures(tmp_path, monkeypatch):
    monkeypatch.setattr("vidrestore.models.registry.WEIGHTS_DIR", tmp_path)
    save_weights(EDSR(scale=3, blocks=1, features=4), tmp_path / "edsr_x3.safetensors", arch="edsr", scale=3, options={}, extra={"val_gain_db": "2.0512", "val_psnr_y": "36.5"})
    save_weights(EDSR(scale=4, blocks=1, features=4), tmp_path / "edsr_x4.safetensors", arch="edsr", scale=4, options={})
    table = cells(models().stdout)
    assert table["edsr"]["SHIPPED WEIGHTS"].startswith("x3 x4 (")
    assert table["edsr"]["HELD-OUT PSNR-Y GAIN"] == "x3 +2.05 dB vs bicubic"  # x4 has no figure yet
    assert table["espcn"]["SHIPPED WEIGHTS"] == "-"  # none in this folder
    edsr = next(row for row in json.loads(models("--json").stdout) if row["name"] == "edsr")
    assert [(w["scale"], w["val_gain_db"], w["val_psnr_y"]) for w in edsr["weights"]] == [(3, 2.0512, 36.5), (4, None, None)]


def test_deblurring_models_show_their_gain_over_the_blurry_input():
    table = cells(models().stdout)
    for name in ("srn", "deepdeblur"):
        meta = read_metadata(get_spec(name).weights_path(1))
        assert table[name]["TASK"] == "deblur" and table[name]["SCALES"] == "x1"
        assert table[name]["HELD-OUT PSNR-Y GAIN"] == f"{float(meta['val_gain_db']):+.2f} dB vs blurry"
