"""Deblurring data and training: synthetic blur, GOPRO and video sources,
the multi-scale loss, the held-out protocol, and `eval --task deblur`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tests.media import make_video, textured_photo
from vidrestore.cli import cli
from vidrestore.errors import InputError, UsageError
from vidrestore.filters.deconv import convolve
from vidrestore.models.weights import read_metadata
from vidrestore.eval.deblur import protocol_blur, shake_kernel
from vidrestore.training.blur import SyntheticBlur, blur_valid
from vidrestore.training.deblur_data import BlurPatchDataset, Pair, find_deblur_sources, gopro_pairs, load_pairs, video_pairs
from vidrestore.training.recipe import recipe_from_dict
from vidrestore.training.trainer import RunConfig, train

TINY_SRN = {"blocks": 1, "features": 4, "kernel": 3, "residual": True}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "sharp"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(textured_photo(i, (96, 80))).save(folder / f"img{i}.png")
    return folder


# -- kernels and synthetic blur ------------------------------------------------------------------
def test_shake_kernels_are_normalised_centred_and_as_wide_as_asked() -> None:
    rng = np.random.default_rng(0)
    for extent in (3.0, 9.0, 19.0, 25.0):
        k = shake_kernel(rng, extent)
        assert k.sum().item() == pytest.approx(1.0) and (k >= 0).all()
        n = k.shape[0]
        r = torch.arange(n, dtype=torch.float64) - n // 2
        assert abs(float((k.sum(1) * r).sum())) < 1e-6 and abs(float((k.sum(0) * r).sum())) < 1e-6
        rows, cols = torch.nonzero(k > 1e-9, as_tuple=True)
        span = max(int(rows.max() - rows.min()), int(cols.max() - cols.min())) + 1
        assert extent - 1 <= span <= extent + 2


def test_synthetic_blur_mix_and_its_recipe_table() -> None:
    rng = np.random.default_rng(1)
    blur = SyntheticBlur(sharp_prob=0.2, noise_sigma=(1.0, 1.0))
    draws = [blur.sample(rng) for _ in range(200)]
    identity = sum(k.numel() == 1 for k, _ in draws)
    assert 20 < identity < 65
    assert all(s == pytest.approx(1 / 255) for _, s in draws)
    assert max(k.shape[0] for k, _ in draws) <= blur.largest
    with pytest.raises(ValueError, match="unknown blur keys"):
        SyntheticBlur.from_dict({"extnt": [1, 2]})
    with pytest.raises(ValueError, match="must not exceed 1"):
        SyntheticBlur(shake_prob=0.8, linear_prob=0.5)


def test_patch_blur_uses_real_context_like_blurring_the_whole_frame() -> None:
    rng = np.random.default_rng(2)
    frame = torch.from_numpy(textured_photo(5, (80, 80))).permute(2, 0, 1).double() / 255
    kernel = shake_kernel(rng, 11)
    whole = convolve(frame, kernel)
    m = kernel.shape[0] // 2
    patch = blur_valid(frame[:, 20 - m : 52 + m, 30 - m : 62 + m], kernel, 32, rng, 0.0)
    assert (patch - whole[:, 20:52, 30:62]).abs().max() <= 0.5 / 255 + 1e-9  # equal up to 8-bit rounding


def test_protocol_blur_depends_on_the_name_only() -> None:
    sharp = torch.from_numpy(textured_photo(0, (64, 64))).permute(2, 0, 1).float() / 255
    a1, k1 = protocol_blur("a.png", sharp)
    a2, k2 = protocol_blur("a.png", sharp)
    b, kb = protocol_blur("b.png", sharp)
    assert torch.equal(a1, a2) and torch.equal(k1, k2)
    assert not torch.equal(k1, kb)
    rows, cols = torch.nonzero(k1 > 1e-9, as_tuple=True)
    assert 8 <= max(int(rows.max() - rows.min()), int(cols.max() - cols.min())) + 1 <= 21
    assert torch.equal(a1, (a1 * 255).round() / 255)  # 8-bit values


# -- sources -------------------------------------------------------------------------------------
def test_gopro_layout_pairs_blurry_and_sharp_by_name(tmp_path: Path) -> None:
    for seq in ("GOPR0001_00", "GOPR0002_00"):
        for kind in ("blur", "sharp", "blur_gamma"):
            (tmp_path / "train" / seq / kind).mkdir(parents=True)
        for i in range(2):
            for kind in ("blur", "sharp", "blur_gamma"):
                Image.fromarray(textured_photo(i, (40, 48))).save(tmp_path / "train" / seq / kind / f"{i:06d}.png")
    pairs = gopro_pairs(tmp_path)
    assert len(pairs) == 4
    assert all(b.parent.name == "blur" and s.parent.name == "sharp" and b.name == s.name for b, s in pairs)
    loaded = load_pairs(find_deblur_sources([tmp_path]))
    assert len(loaded) == 4 and all(p.blurry is not None for p in loaded)
    (tmp_path / "train" / "GOPR0002_00" / "sharp" / "000001.png").unlink()
    with pytest.raises(InputError, match="has no sharp counterpart"):
        gopro_pairs(tmp_path)


def test_video_frames_averaged_in_linear_light(tmp_path: Path) -> None:
    src = make_video(tmp_path / "walk.mp4", size=(48, 32), frames=15, codec="libx264", pix_fmt="yuv444p",
                     options={"qp": "0"})
    pairs = video_pairs(src, frames=7)
    assert len(pairs) == 2  # two whole windows of 7 in 15 frames
    with av.open(str(src)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    window = torch.from_numpy(np.stack(frames[7:14])).double() / 255
    expected = (window.pow(2.2).mean(0).pow(1 / 2.2) * 255).round().to(torch.uint8).permute(2, 0, 1)
    assert torch.equal(pairs[1].blurry, expected)
    assert torch.equal(pairs[1].sharp, torch.from_numpy(frames[10]).permute(2, 0, 1))
    assert not torch.equal(pairs[1].blurry, pairs[1].sharp)  # the pattern moves: averaging blurs


def test_patches_are_aligned_repeatable_and_blurred(photos: Path) -> None:
    pairs = load_pairs(find_deblur_sources([photos]))
    data = BlurPatchDataset(pairs, patch=32, seed=0, blur={"sharp_prob": 0.0, "extent": [7.0, 9.0]})
    blurry, sharp = data[5]
    assert blurry.shape == sharp.shape == (3, 32, 32)
    again = data[5]
    assert torch.equal(blurry, again[0]) and torch.equal(sharp, again[1])
    assert (blurry - sharp).abs().mean() > 0.005
    given = BlurPatchDataset([Pair("p", pairs[0].sharp, pairs[0].sharp.flip(-1))], patch=16, seed=0)
    b, s = given[3]
    assert b.shape == (3, 16, 16) and not torch.equal(b, s)
    with pytest.raises(InputError, match="too small for 90-pixel patches with 27 pixels of context"):
        BlurPatchDataset(pairs, patch=90, seed=0)
    with pytest.raises(UsageError, match="unknown blur keys"):
        BlurPatchDataset(pairs, patch=16, seed=0, blur={"size": 3})


# -- recipes and training ------------------------------------------------------------------------
def _recipe(**changes) -> dict:
    raw = {"model": "srn", "scale": 1, "options": dict(TINY_SRN), "steps": 6, "amp": "off", "ema": 0.0,
           "val_every": 3, "checkpoint_every": 3, "loss": {"l1": 1.0},
           "data": {"patch": 32, "batch": 2, "val_crop": None, "val": "auto", "blur": {"extent": [3.0, 9.0]}},
           "optim": {"lr": 1e-3, "schedule": "constant"}}
    raw.update(changes)
    return raw


def test_recipe_blur_tables_belong_to_their_task() -> None:
    with pytest.raises(UsageError, match="deblurring recipes describe their blur"):
        recipe_from_dict(_recipe(data={"patch": 32, "degradation": {"blur_prob": 0.5}}))
    with pytest.raises(UsageError, match="is a super-resolution model"):
        recipe_from_dict({"model": "edsr", "scale": 2, "steps": 1, "data": {"blur": {}}})
    with pytest.raises(UsageError, match="supports scales"):
        recipe_from_dict(_recipe(scale=2))


@pytest.mark.parametrize("model, options", [("srn", TINY_SRN), ("deepdeblur", {"blocks": 1, "features": 4, "kernel": 3, "residual": True})])
def test_deblur_training_runs_multi_scale_and_exports_scored_weights(tmp_path: Path, photos: Path, model, options) -> None:
    recipe = recipe_from_dict(_recipe(model=model, options=options))
    messages: list[str] = []
    summary = train(RunConfig(recipe=recipe, data=(photos,), run_dir=tmp_path / "run", device="cpu", progress=False),
                    log=messages.append)
    assert summary.output is not None and summary.steps == 6
    meta = read_metadata(summary.output)
    assert meta["arch"] == model and meta["val_gain_over"] == "blurry"
    assert float(meta["val_gain_db"]) == pytest.approx(float(meta["val_psnr_y"]) - float(meta["val_psnr_y_blurry"]), abs=1e-3)
    assert json.loads(meta["val_files"]) == ["img0.png"]  # auto: every tenth name from the sixth, else the first
    assert any("vs blurry" in m for m in messages)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [3, 6] and all(math.isfinite(r["loss"]) for r in log)


def test_training_on_a_video_and_a_gopro_folder(tmp_path: Path) -> None:
    video = make_video(tmp_path / "v.mp4", size=(64, 48), frames=14)
    gopro = tmp_path / "gopro" / "seq" 
    for kind in ("blur", "sharp"):
        (gopro / kind).mkdir(parents=True)
        Image.fromarray(textured_photo(1, (48, 48))).save(gopro / kind / "0.png")
    recipe = recipe_from_dict(_recipe(data={"patch": 32, "batch": 2, "val": "none"}))
    summary = train(RunConfig(recipe=recipe, data=(video, tmp_path / "gopro"), run_dir=tmp_path / "run", device="cpu",
                              progress=False), log=lambda m: None)
    assert summary.steps == 6 and summary.final == {}


def test_eval_deblur_reports_blurry_richardson_lucy_and_model(tmp_path: Path, photos: Path) -> None:
    recipe = recipe_from_dict(_recipe(data={"patch": 32, "batch": 2, "val": "none", "blur": {"extent": [3.0, 9.0]}}))
    summary = train(RunConfig(recipe=recipe, data=(photos,), run_dir=tmp_path / "run", device="cpu", progress=False),
                    log=lambda m: None)
    result = CliRunner().invoke(cli, ["eval", "--task", "deblur", "--weights", str(summary.output), str(photos), "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[1]
    assert header.split() == ["image", "blurry", "PSNR-Y", "SSIM-Y", "R-L", "PSNR-Y", "SSIM-Y", "model", "PSNR-Y", "SSIM-Y", "gain", "dB"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["task"] == "deblur" and len(report["images"]) == 4
    mean = report["mean"]
    # Richardson-Lucy knows the kernel: it must beat the blurry input on these sharp-edged pictures.
    assert mean["richardson_lucy"]["psnr"] > mean["blurry"]["psnr"] + 1
    assert mean["gain_db"] == pytest.approx(mean["model"]["psnr"] - mean["blurry"]["psnr"])
    small = tmp_path / "small"
    small.mkdir()
    Image.fromarray(textured_photo(0, (40, 60))).save(small / "tiny.png")
    result = CliRunner().invoke(cli, ["eval", "--task", "deblur", "--weights", str(summary.output), str(small)])
    assert result.exit_code != 0 and "too small to evaluate deblurring" in result.stderr
