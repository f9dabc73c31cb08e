"""`vidrestore train`: recipes, data layouts, the loop, resume, GAN, DDP, export.

Runs are tiny (1-block models, 8-pixel patches, a handful of steps) on small
images the tests write themselves, so the whole file takes seconds; what is
checked is behaviour: the exported file loads and upscales, a resumed run
ends where an uninterrupted one does, training lowers the loss.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from tests.media import textured_photo
from vidrestore.cli import cli
from vidrestore.errors import UsageError
from vidrestore.models import get_spec
from vidrestore.models.weights import build_model, read_weights
from vidrestore.training.data import PatchDataset, StepSampler, find_sources, load_photo, split_sources
from vidrestore.training.recipe import load_recipe, recipe_from_dict, shipped_recipes
from vidrestore.training.trainer import EMA, RunConfig, learning_rate, train

TINY_EDSR = {"blocks": 1, "features": 8}


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(textured_photo(i)).save(folder / f"img{i}.png")
    return folder


def _recipe(**changes) -> dict:
    raw = {
        "model": "edsr", "scale": 2, "options": dict(TINY_EDSR), "steps": 6, "amp": "off", "ema": 0.9,
        "val_every": 3, "checkpoint_every": 3, "loss": {"l1": 1.0},
        "data": {"patch": 8, "batch": 4, "val_crop": None},
        "optim": {"lr": 1e-3, "schedule": "constant"},
    }
    for key, value in changes.items():
        if key in ("data", "optim") and isinstance(value, dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def _run(tmp_path: Path, photos: Path, name: str = "run", resume: bool = False, vgg: Path | None = None, **changes):
    recipe = recipe_from_dict(_recipe(**changes))
    config = RunConfig(recipe=recipe, data=(photos,), run_dir=tmp_path / name, device="cpu", resume=resume,
                       vgg=vgg, progress=False)
    messages: list[str] = []
    return train(config, log=messages.append), messages, config


# -- recipes -----------------------------------------------------------------------------------------

def test_every_shipped_recipe_loads_and_names_a_real_starting_point() -> None:
    names = shipped_recipes()
    assert {"edsr_x2", "edsr_x3", "edsr_x4", "srresnet_x4", "srgan_x4", "espcn_x3"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.scale in get_spec(recipe.model).scales
        # Weights record where their recipe came from, never this machine's install directory.
        assert recipe.source == f"training/recipes/{name}.toml"
        if recipe.init and recipe.init.startswith("shipped:"):
            _, model, scale = recipe.init.split(":")
            assert get_spec(model).weights_path(int(scale[1:])).is_file()


@pytest.mark.parametrize("change, message", [
    ({"lr_typo": 1}, r"unknown keys \['lr_typo'\]"),
    ({"data": {"pach": 4}}, r"\[data\]: unknown keys \['pach'\]"),
    ({"model": "nope"}, "unknown model 'nope'"),
    ({"scale": 3, "model": "srresnet", "options": {}}, "supports scales"),
    ({"loss": {"l2": 1.0}}, "loss terms must be among"),
    ({"loss": {"l1": 1.0, "adversarial": 1e-3}}, r"needs a \[gan\] table"),
    ({"amp": "fp8"}, "amp must be one of"),
    ({"steps": None}, "give steps or minutes"),
    ({"options": {"blockz": 2}}, "edsr does not take the option"),
])
def test_recipe_mistakes_are_named(change: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        recipe_from_dict(_recipe(**change))


def test_learning_rate_schedules() -> None:
    cosine = recipe_from_dict(_recipe(optim={"lr": 1e-3, "lr_final": 1e-5, "schedule": "cosine", "warmup": 10}))
    assert learning_rate(cosine, 0.0, 0) == pytest.approx(1e-4)  # warm-up: first of 10 steps
    assert learning_rate(cosine, 0.0, 10) == pytest.approx(1e-3)
    assert learning_rate(cosine, 0.5, 100) == pytest.approx(0.5 * (1e-3 + 1e-5))
    assert learning_rate(cosine, 1.0, 200) == pytest.approx(1e-5)
    step = recipe_from_dict(_recipe(optim={"lr": 1e-3, "schedule": "step", "milestones": [0.5, 0.75], "gamma": 0.1}))
    assert [learning_rate(step, p, 100) for p in (0.1, 0.6, 0.9)] == pytest.approx([1e-3, 1e-4, 1e-5])


# -- data ----------------------------------------------------------------------------------------------

def test_patches_are_aligned_and_repeatable(photos: Path) -> None:
    sources = find_sources([photos], 2)
    data = [load_photo(s, 2) for s in sources]
    dataset = PatchDataset(data, scale=2, patch=8, color="rgb", seed=1)
    lr, hr = dataset[17]
    assert lr.shape == (3, 8, 8) and hr.shape == (3, 16, 16)
    assert torch.equal(dataset[17][0], lr)  # the index fixes the draw
    assert not torch.equal(dataset[18][0], lr)
    # The LR patch is the HR patch's antialiased bicubic downscale, up to 8-bit rounding
    # and the patch edge, where the whole-photo downscale saw more pixels.
    from vidrestore.ops.resize import imresize

    inner = (imresize(hr, scale=0.5, kernel="bicubic", antialias=True) - lr)[:, 2:-2, 2:-2]
    assert inner.abs().max() < 2.5 / 255
    luma = PatchDataset(data, scale=2, patch=8, color="y", seed=1)
    assert luma[17][0].shape == (1, 8, 8)


def test_ranks_draw_disjoint_patches() -> None:
    def first(sampler: StepSampler, n: int) -> list[int]:
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    a = first(StepSampler(start_step=0, batch=4, rank=0, world=2), 8)
    b = first(StepSampler(start_step=0, batch=4, rank=1, world=2), 8)
    assert not set(a) & set(b)
    resumed = first(StepSampler(start_step=1, batch=4, rank=0, world=2), 4)
    assert resumed == a[4:]


def test_div2k_layout_uses_the_given_lr_images(tmp_path: Path) -> None:
    root = tmp_path / "DIV2K"
    (root / "DIV2K_train_HR").mkdir(parents=True)
    (root / "DIV2K_train_LR_bicubic" / "X2").mkdir(parents=True)
    for i in range(2):
        Image.fromarray(textured_photo(i, (40, 48))).save(root / "DIV2K_train_HR" / f"{i:04d}.png")
        # A flat grey LR: visibly not what bicubic would make of the photo.
        Image.fromarray(np.full((20, 24, 3), 77, np.uint8)).save(root / "DIV2K_train_LR_bicubic" / "X2" / f"{i:04d}x2.png")
    sources = find_sources([root], 2)
    assert [s.lr.name for s in sources] == ["0000x2.png", "0001x2.png"]
    photo = load_photo(sources[0], 2)
    assert photo.lr.shape == (3, 20, 24) and int(photo.lr.float().mean()) == 77
    from vidrestore.errors import InputError

    with pytest.raises(InputError, match="no LR folder"):
        find_sources([root], 3)


def test_held_out_split(photos: Path) -> None:
    sources = find_sources([photos], 2)
    train_set, held = split_sources(sources, "auto")
    assert len(held) == 1 and held[0] not in train_set and len(train_set) == 4
    assert split_sources(sources, "none") == (sources, [])
    listing = photos.parent / "val.txt"
    listing.write_text("img3.png  # a comment\n")
    assert [s.hr.name for s in split_sources(sources, str(listing))[1]] == ["img3.png"]


# -- the loop --------------------------------------------------------------------------------------------

def test_training_lowers_the_loss_and_exports_fp16_weights_that_upscale(tmp_path: Path, photos: Path) -> None:
    summary, messages, config = _run(tmp_path, photos, steps=60, val_every=20, checkpoint_every=30,
                                     optim={"lr": 3e-3, "schedule": "cosine", "lr_final": 1e-4})
    records = [json.loads(line) for line in (config.run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [20, 40, 60]
    assert records[-1]["psnr"] > records[0]["psnr"] + 1.0  # it learns
    assert records[-1]["loss"] < records[0]["loss"]
    tensors, meta = read_weights(summary.output)
    assert all(t.dtype == torch.float16 for t in tensors.values())
    assert meta["arch"] == "edsr" and json.loads(meta["options"])["blocks"] == 1
    assert float(meta["val_gain_db"]) == pytest.approx(float(meta["val_psnr_y"]) - float(meta["val_psnr_y_bicubic"]), abs=1e-3)
    assert meta["train_steps"] == "60" and json.loads(meta["val_files"]) == ["img0.png"]
    # The file says what it was trained on: the folders by name and the photo counts.
    data = json.loads(meta["train_data"])
    assert data["folders"] == [f"{photos.parent.name}/{photos.name}"]
    assert data["images"].startswith("4 training and 1 held-out images")
    # The best held-out checkpoint is exported, and its number is the final whole-photo score.
    best = max(records, key=lambda r: r["psnr"])
    assert meta["exported_step"] == str(best["step"])
    assert list((config.run_dir / "tb").glob("events.out.tfevents.*"))
    # The file is what `upscale --weights` takes.
    model = build_model(get_spec("edsr"), 2, summary.output)
    assert model(torch.rand(1, 3, 10, 12)).shape == (1, 3, 20, 24)
    image = tmp_path / "small.png"
    Image.fromarray(textured_photo(9, (20, 24))).save(image)
    result = CliRunner().invoke(cli, ["upscale", str(image), "--x2", "--model", "edsr", "--weights", str(summary.output),
                                      "-o", str(tmp_path / "big.png"), "-q"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "big.png").size == (48, 40)


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path: Path, photos: Path) -> None:
    whole, _, whole_config = _run(tmp_path, photos, name="whole", steps=6)
    _run(tmp_path, photos, name="parts", steps=3)
    parts, messages, parts_config = _run(tmp_path, photos, name="parts", steps=6, resume=True)
    assert any("resumed" in m and "step 3" in m for m in messages)
    a = torch.load(whole_config.run_dir / "checkpoint.pt", weights_only=True)
    b = torch.load(parts_config.run_dir / "checkpoint.pt", weights_only=True)
    assert a["step"] == b["step"] == 6
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(a["ema"][key], b["ema"][key], rtol=1e-5, atol=1e-6)


def test_a_run_folder_is_never_overwritten(tmp_path: Path, photos: Path) -> None:
    _run(tmp_path, photos, steps=2)
    with pytest.raises(UsageError, match="already holds a run"):
        _run(tmp_path, photos, steps=2)
    with pytest.raises(UsageError, match="no checkpoint"):
        _run(tmp_path, photos, name="empty", steps=2, resume=True)
    with pytest.raises(UsageError, match="is a edsr x2 run, not edsr x3"):
        _run(tmp_path, photos, steps=4, scale=3, resume=True)


def test_ema_averages_and_copies_buffers() -> None:
    model = torch.nn.BatchNorm1d(2)
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(3.0)
        model.running_mean.fill_(7.0)
    ema.update(model, step=1000)
    assert torch.allclose(ema.module.weight, torch.full((2,), 2.0))  # 0.5 * 1 + 0.5 * 3
    assert torch.equal(ema.module.running_mean, torch.full((2,), 7.0))


def test_init_copies_what_fits(tmp_path: Path, photos: Path) -> None:
    x2, _, _ = _run(tmp_path, photos, name="x2", steps=2)
    x3, messages, config = _run(tmp_path, photos, name="x3", steps=1, scale=3, init=str(x2.output), ema=0.0)
    assert any("init:" in m and "left as initialised" in m for m in messages)
    a, _ = read_weights(x2.output)
    ckpt = torch.load(config.run_dir / "checkpoint.pt", weights_only=True)
    assert a["upsample.0.weight"].shape != ckpt["model"]["upsample.0.weight"].shape  # x3's upsampler is new


def test_a_run_from_other_weights_scores_them_first(tmp_path: Path, photos: Path) -> None:
    # The validation curve of a second stage starts where the first stage ended.
    first, _, _ = _run(tmp_path, photos, name="first", steps=3)
    _, messages, config = _run(tmp_path, photos, name="second", steps=3, init=str(first.output))
    records = [json.loads(line) for line in (config.run_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 3]
    assert records[0]["loss"] is None and math.isfinite(records[0]["psnr"])
    assert any(m.startswith("step       0") and "loss -" in m for m in messages)
    # A run from scratch has no such point.
    _, _, scratch = _run(tmp_path, photos, name="scratch", steps=3)
    assert json.loads((scratch.run_dir / "log.jsonl").read_text().splitlines()[0])["step"] == 3


def test_bf16_autocast_and_luma_models(tmp_path: Path, photos: Path) -> None:
    summary, messages, _ = _run(tmp_path, photos, steps=2, amp="bf16")
    assert any("autocast bfloat16" in m for m in messages)
    espcn, _, _ = _run(tmp_path, photos, name="espcn", steps=2, model="espcn", options={}, loss_border=2)
    assert build_model(get_spec("espcn"), 2, espcn.output)(torch.rand(1, 1, 8, 8)).shape == (1, 1, 16, 16)


def test_degraded_training_data(tmp_path: Path, photos: Path) -> None:
    degradation = {"blur_prob": 1.0, "noise_prob": 1.0, "jpeg_prob": 0.5, "h264_prob": 0.5}
    summary, _, _ = _run(tmp_path, photos, steps=2, data={"degradation": degradation})
    assert summary.steps == 2
    with pytest.raises(UsageError, match="degradation"):
        _run(tmp_path, photos, name="bad", steps=2, data={"degradation": {"blur": 1}})


def test_gan_phase_trains_the_discriminator_and_exports_the_last_step(tmp_path: Path, photos: Path) -> None:
    gan = {"model": "srgan", "scale": 4, "options": {"blocks": 1, "features": 8}, "steps": 3, "ema": 0.0,
           "select": "last", "loss": {"mse": 1.0, "adversarial": 1e-3}, "gan": {"d_features": 8},
           "data": {"patch": 6, "batch": 2, "val_crop": None}}
    summary, _, config = _run(tmp_path, photos, **gan)
    ckpt = torch.load(config.run_dir / "checkpoint.pt", weights_only=True)
    assert ckpt["disc"] is not None and ckpt["d_optimizer"]["state"]  # the discriminator stepped
    _, meta = read_weights(summary.output)
    assert meta["exported_step"] == "3"


def test_perceptual_loss_needs_vgg_weights(tmp_path: Path, photos: Path) -> None:
    with pytest.raises(UsageError, match="--vgg"):
        _run(tmp_path, photos, steps=1, loss={"l1": 1.0, "perceptual": 1.0})
    from safetensors.torch import save_file

    from vidrestore.training.vgg import VGG19Features

    vgg = VGG19Features(upto="relu2_2")
    path = tmp_path / "vgg.safetensors"
    save_file({f"features.{k}": v.contiguous() for k, v in vgg.features.state_dict().items()}, str(path))
    summary, _, _ = _run(tmp_path, photos, name="vgg", steps=2, vgg=path, perceptual_layer="relu2_2",
                         loss={"l1": 1.0, "perceptual": 0.1})
    assert summary.steps == 2


# -- the command ----------------------------------------------------------------------------------------

def test_cli_trains_from_a_recipe_file(tmp_path: Path, photos: Path) -> None:
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('model = "edsr"\nscale = 2\nsteps = 2\namp = "off"\noptions = { blocks = 1, features = 8 }\n'
                      "val_every = 2\n[data]\npatch = 8\nbatch = 2\n")
    out = tmp_path / "tiny.safetensors"
    result = CliRunner().invoke(cli, ["train", str(recipe), "--data", str(photos), "--run-dir", str(tmp_path / "r"),
                                      "-o", str(out), "-q", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and out.is_file()
    assert "held-out (whole photos)" in result.stderr
    again = CliRunner().invoke(cli, ["train", str(recipe), "--data", str(photos), "--run-dir", str(tmp_path / "r")])
    assert again.exit_code == 2 and again.stderr.count("\n") == 1 and "--resume" in again.stderr
    missing = CliRunner().invoke(cli, ["train", "no_such_recipe", "--data", str(photos)])
    assert missing.exit_code == 2 and "shipped: " in missing.stderr and "Traceback" not in missing.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("model = [\n")
    broken = CliRunner().invoke(cli, ["train", str(bad), "--data", str(photos)])
    assert broken.exit_code == 2 and "not valid TOML" in broken.stderr


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path, photos: Path) -> None:
    """DistributedDataParallel for real: two gloo processes on the CPU."""
    recipe = tmp_path / "tiny.toml"
    recipe.write_text('model = "edsr"\nscale = 2\nsteps = 3\namp = "off"\noptions = { blocks = 1, features = 8 }\n'
                      "val_every = 3\n[data]\npatch = 8\nbatch = 2\n")
    out = tmp_path / "ddp.safetensors"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:  # a free port for the rendezvous (torchrun's port 0 is not passed on to the workers)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
         "--master-port", str(port),
         "-m", "vidrestore", "train", str(recipe), "--data", str(photos), "--run-dir", str(tmp_path / "ddp"),
         "-o", str(out), "-q", "--device", "cpu"],
        capture_output=True, text=True, timeout=240, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 x " in proc.stderr  # the hardware line counts both processes
    assert proc.stderr.count("wrote ") == 1  # rank 0 alone exports
    _, meta = read_weights(out)
    assert meta["train_hardware"].startswith("2 x ")


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_to_resume_from(tmp_path: Path, photos: Path) -> None:
    """SIGINT to a real `vidrestore train` process: exit 130, checkpoint kept, --resume finishes."""
    import signal
    import time

    recipe = tmp_path / "slow.toml"
    recipe.write_text('model = "edsr"\nscale = 2\nsteps = 100000\namp = "off"\noptions = { blocks = 1, features = 8 }\n'
                      "val_every = 100000\ncheckpoint_every = 100000\n[data]\npatch = 8\nbatch = 2\n")
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "vidrestore", "train", str(recipe), "--data", str(photos), "--run-dir", str(run_dir),
            "-q", "--threads", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run_dir / "recipe.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # some steps
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted by SIGINT; checkpoint of step" in stderr and "Traceback" not in stderr
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert state["step"] > 0
    done = subprocess.run([*args, "--resume", "--steps", str(state["step"] + 2), "--no-final-eval"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"resumed {run_dir / 'checkpoint.pt'} at step {state['step']}" in done.stderr


def test_weights_name_their_training_folders_without_the_machines_directories(tmp_path: Path, monkeypatch) -> None:
    from vidrestore.training.tasks import folder_names

    (tmp_path / "sets" / "bsds500" / "train").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sets" / "bsds500" / "train")
    # `--data .` and `--data ../train` are the same folder: both name it by its last two parts.
    assert folder_names([Path("."), Path("../train")]) == ["bsds500/train", "bsds500/train"]
    assert folder_names([tmp_path / "sets" / "bsds500"]) == ["sets/bsds500"]
