"""The evaluation library: photos of every image type, the runner for a network in
training, tiles, and one report for both protocols."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch import nn

from tests.media import textured_photo
from vidrestore.cli import cli
from vidrestore.errors import InputError
from vidrestore.eval import deblur, sr
from vidrestore.eval.photos import find_photos
from vidrestore.eval.report import Report
from vidrestore.eval.runner import ModuleRunner
from vidrestore.eval.scores import ImageScores


def test_eval_scores_a_webp_photo(tmp_path: Path) -> None:
    Image.fromarray(textured_photo(0, (64, 80))).save(tmp_path / "a.webp", lossless=True)
    Image.fromarray(textured_photo(1, (64, 80))).save(tmp_path / "b.bmp")
    assert [p.name for p in find_photos([tmp_path])] == ["a.webp", "b.bmp"]
    result = CliRunner().invoke(cli, ["eval", "--model", "bicubic", "--x2", str(tmp_path / "a.webp"), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2].startswith("a.webp ")
    report = json.loads((tmp_path / "r.json").read_text())
    assert [im["name"] for im in report["images"]] == ["a.webp"]
    assert report["mean"]["gain_db"] == 0.0


def test_errors_name_every_image_type(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("not a photo")
    with pytest.raises(InputError, match=r"a.txt: not an image \(bmp, jpeg, jpg, png, tif, tiff or webp\)$"):
        find_photos([tmp_path / "a.txt"])
    with pytest.raises(InputError, match=r"folder holds no images \(bmp, jpeg, jpg, png, tif, tiff or webp\)$"):
        find_photos([tmp_path])


class Recorder(nn.Module):
    """A 2x nearest-neighbour upscaler with batch norm and a parameter, recording its modes."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(1)
        self.weight = nn.Parameter(torch.ones(()))
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return nn.functional.interpolate(self.norm(x) * self.weight, scale_factor=2, mode="nearest")


def test_module_runner_leaves_a_training_network_as_it_was() -> None:
    model = Recorder().train()
    runner = ModuleRunner(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = runner.run(torch.rand(1, 1, 8, 8))
    assert out.dtype == torch.float32 and out.shape == (1, 1, 16, 16)
    assert model.modes == [False] and model.training  # eval mode for the call only
    assert model.weight.requires_grad and model.norm.num_batches_tracked == 0  # not frozen, no statistics updated


def test_tiled_deblurring_of_a_pointwise_model_equals_the_whole(tmp_path: Path) -> None:
    Image.fromarray(textured_photo(2, (80, 96))).save(tmp_path / "p.png")
    image = deblur.load_deblur_image(tmp_path / "p.png")
    runner = ModuleRunner(nn.Identity())
    whole = deblur.evaluate_deblur(runner, [image], metrics=("psnr",))
    tiled = deblur.evaluate_deblur(runner, [image], metrics=("psnr",), tile=32)
    assert tiled.per_image["p.png"].psnr == pytest.approx(whole.per_image["p.png"].psnr, abs=1e-9)
    assert whole == deblur.evaluate_blurry([image], metrics=("psnr",))


def scores(psnr: float, ssim: float = 0.9) -> ImageScores:
    return ImageScores(psnr, ssim, math.nan, 2.0)


def test_one_report_for_both_protocols(tmp_path: Path) -> None:
    srr = Report(sr.LAYOUT, "espcn", 2, Path("w/espcn_x2.safetensors"), "cpu", ["a.png", "b.png"])
    srr.add("a.png", {"bicubic": scores(30.0), "model": scores(31.5)})
    srr.add("b.png", {"bicubic": scores(32.0), "model": scores(32.5)})
    title, header, a, b, mean = srr.lines()
    assert title == "espcn x2 (espcn_x2.safetensors) on 2 photos, device cpu"
    assert header.split()[:5] == ["image", "bicubic", "PSNR-Y", "SSIM-Y", "espcn"]
    assert a.split() == ["a.png", "30.000", "0.9000", "31.500", "0.9000", "+1.500", "-", "1.000"]
    assert mean.split()[:1] + mean.split()[3:] == ["mean", "31.000", "0.9000", "32.000", "0.9000", "+1.000", "-", "1.000"]
    data = srr.to_json()
    assert list(data) == ["model", "scale", "weights", "device", "protocol", "metrics", "images", "mean"]
    assert data["images"][0]["model"] == {"psnr": 31.5, "ssim": 0.9, "ms_ssim": None, "grad_energy": 2.0}
    assert data["mean"]["gain_db"] == 1.0

    dbr = Report(deblur.LAYOUT, "srn", 1, None, "cpu", ["c.png"])
    dbr.add("c.png", {"blurry": scores(20.0), "richardson_lucy": scores(25.0), "model": scores(23.0)})
    assert dbr.title == "srn (no weights) on 1 blurred photos, device cpu"
    assert dbr.row("c.png").split() == ["c.png", "20.000", "0.9000", "25.000", "0.9000", "23.000", "0.9000", "+3.000"]
    dbr.write_json(tmp_path / "d.json")
    data = json.loads((tmp_path / "d.json").read_text())
    assert list(data) == ["task", "model", "weights", "device", "protocol", "images", "mean"]
    assert data["images"][0]["richardson_lucy"] == {"psnr": 25.0, "ssim": 0.9}
    assert data["mean"]["gain_db"] == 3.0
    with pytest.raises(ValueError, match="expected"):
        dbr.add("c.png", {"bicubic": scores(1.0), "model": scores(2.0)})


def test_a_sixteen_bit_photo_is_scored_as_its_eight_bit_values(tmp_path: Path) -> None:
    """16-bit samples are rounded to 8 bits, the protocol's depth, not clipped by an 8-bit conversion."""
    grey8 = textured_photo(4, (48, 40))[..., 1]
    Image.fromarray(grey8, "L").save(tmp_path / "eight.png")
    Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")  # 0..255 -> 0..65535
    scores = []
    for name in ("eight.png", "sixteen.png"):
        result = CliRunner().invoke(cli, ["eval", "--model", "bicubic", "--x2", str(tmp_path / name), "--json",
                                          str(tmp_path / f"{name}.json")])
        assert result.exit_code == 0, result.output
        scores.append(json.loads((tmp_path / f"{name}.json").read_text())["mean"])
    assert scores[0] == scores[1]
