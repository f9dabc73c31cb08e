"""Image-quality metrics (against scikit-image) and the papers' evaluation protocol."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from torch import nn

from vidrestore.errors import InputError
from vidrestore.metrics import MS_SSIM_MIN_SIZE, gradient_energy, ms_ssim, psnr, ssim
from vidrestore.models import build_model, get_spec
from vidrestore.ops.resize import imresize
from vidrestore.eval.photos import make_lr
from vidrestore.eval.runner import ModuleRunner
from vidrestore.eval.scores import EvalResult, ImageScores
from vidrestore.eval.sr import EvalImage, evaluate, evaluate_bicubic, load_image, prepare_images, super_resolve


def skimage_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    return structural_similarity(a, b, data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def camera(size: int = 256) -> np.ndarray:
    return data.camera()[:size, 100 : 100 + size].astype(np.float64) / 255.0


def noisy(x: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    return np.clip(x + np.random.default_rng(seed).normal(0, sigma, x.shape), 0, 1)


T = torch.from_numpy


# --- metrics -------------------------------------------------------------------


def test_identical_images_score_perfectly() -> None:
    x = T(camera(200))
    assert psnr(x, x) == math.inf
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(x, x) == pytest.approx(1.0, abs=1e-12)


def test_psnr_of_a_constant_error_is_known() -> None:
    a = torch.full((32, 48), 0.5, dtype=torch.float64)
    assert psnr(a, a + 0.1) == pytest.approx(20.0, abs=1e-9)  # MSE 0.01
    assert psnr(a * 255, a * 255 + 1, data_range=255.0) == pytest.approx(20 * math.log10(255), abs=1e-9)


@pytest.mark.parametrize("case", ["random", "camera-noise", "astronaut-blur", "values-0-255"])
def test_psnr_and_ssim_agree_with_scikit_image(case: str) -> None:
    rng = np.random.default_rng(1)
    data_range = 1.0
    if case == "random":
        a = rng.random((40, 57))
        b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    elif case == "camera-noise":
        a = camera(128)
        b = noisy(a, 0.05)
    elif case == "astronaut-blur":
        a = data.astronaut()[100:200, 150:280, 1].astype(np.float64) / 255.0
        b = gaussian_filter(a, 1.2)
    else:
        a = camera(96) * 255.0
        b = np.round(noisy(camera(96), 0.03) * 255.0)
        data_range = 255.0
    assert psnr(T(a), T(b), data_range) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=data_range), abs=1e-9)
    assert ssim(T(a), T(b), data_range) == pytest.approx(skimage_ssim(a, b, data_range), abs=1e-9)
    # float32 input is computed in float64 all the same.
    assert ssim(T(a).float(), T(b).float(), data_range) == pytest.approx(skimage_ssim(a, b, data_range), abs=1e-6)


def test_ssim_of_a_batch_is_the_mean_over_images_and_channels() -> None:
    rng = np.random.default_rng(2)
    a = rng.random((2, 3, 24, 30))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    expected = np.mean([skimage_ssim(a[n, c], b[n, c]) for n in range(2) for c in range(3)])
    assert ssim(T(a), T(b)) == pytest.approx(expected, abs=1e-9)
    one = structural_similarity(a[0], b[0], data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ssim(T(a[0]), T(b[0])) == pytest.approx(one, abs=1e-9)


def test_wrong_arguments_raise() -> None:
    x = torch.rand(16, 16)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(x, torch.rand(16, 17))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.rand(10, 20), torch.rand(10, 20))
    with pytest.raises(ValueError, match="data_range must be positive"):
        ssim(x, x, data_range=0)
    with pytest.raises(ValueError, match="shape"):
        psnr(torch.rand(16), torch.rand(16))


def test_ms_ssim_falls_with_noise_and_is_nan_below_its_size() -> None:
    x = camera(MS_SSIM_MIN_SIZE)
    light, heavy = ms_ssim(T(x), T(noisy(x, 0.02))), ms_ssim(T(x), T(noisy(x, 0.1)))
    assert 1.0 > light > heavy > 0.0
    # MS-SSIM weighs coarse scales, where noise averages away: it forgives noise more than SSIM.
    assert heavy > ssim(T(x), T(noisy(x, 0.1)))
    small = T(x[:-1, :])
    assert math.isnan(ms_ssim(small, small))
    assert MS_SSIM_MIN_SIZE == 176


def test_gradient_energy_measures_sharpness() -> None:
    ramp = torch.arange(20, dtype=torch.float64)[None, :].repeat(12, 1) * 0.5
    assert gradient_energy(ramp) == pytest.approx(0.25, abs=1e-12)  # slope 0.5 per pixel
    assert gradient_energy(ramp.t()) == pytest.approx(0.25, abs=1e-12)
    sharp = camera(128)
    assert gradient_energy(T(sharp)) > 2 * gradient_energy(T(gaussian_filter(sharp, 1.5)))
    assert gradient_energy(torch.full((8, 8), 0.3)) == 0.0


# --- the evaluation protocol --------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = [folder / "camera.png", folder / "chelsea.png"]
    Image.fromarray(data.camera()[100:228, 150:278]).save(paths[0])  # greyscale: converted to RGB
    Image.fromarray(data.chelsea()[60:160, 100:221]).save(paths[1])
    return paths


class RGBBicubic(nn.Module):
    """An "rgb" model: bicubic on each RGB channel; it records whether it ran in eval mode."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        assert x.shape[1] == 3
        return imresize(x, scale=self.scale)


def test_prepare_images_crops_to_the_scale_and_makes_8bit_lr(photos: list[Path]) -> None:
    images = prepare_images(photos, 3)
    assert [im.name for im in images] == ["camera.png", "chelsea.png"]
    assert images[0].hr_rgb.shape == (3, 126, 126) and images[0].lr_rgb.shape == (3, 42, 42)
    assert images[1].hr_rgb.shape == (3, 99, 120)
    assert torch.equal(images[1].lr_rgb, make_lr(images[1].hr_rgb, 3))
    cropped = prepare_images(photos, 2, crop=65)
    assert cropped[0].hr_rgb.shape == (3, 64, 64) and cropped[1].hr_rgb.shape == (3, 64, 64)
    with pytest.raises(ValueError, match="crop 12 is too small"):
        prepare_images(photos, 2, crop=12)
    with pytest.raises(ValueError, match="shape"):
        EvalImage("bad", torch.rand(1, 4, 4), torch.rand(3, 8, 8))


def test_espcn_beats_bicubic_and_bicubic_model_equals_the_baseline(photos: list[Path]) -> None:
    torch.set_num_threads(2)
    images = prepare_images(photos, 2)
    base = evaluate_bicubic(images, 2)
    again = evaluate(ModuleRunner(build_model(get_spec("bicubic"), 2)), "y", images, 2)
    assert again == base
    ours = evaluate(ModuleRunner(build_model(get_spec("espcn"), 2)), "y", images, 2)
    assert ours.mean("psnr") > base.mean("psnr") + 0.3
    assert ours.mean("ssim") > base.mean("ssim")
    # Too small for MS-SSIM (128x128 and 100x120): NaN, and no mean.
    assert all(math.isnan(s.ms_ssim) for s in ours.per_image.values())
    assert math.isnan(ours.mean("ms_ssim"))
    assert ours.per_image["camera.png"].grad_energy > base.per_image["camera.png"].grad_energy


def test_rgb_models_see_rgb_in_eval_mode_and_match_luma_bicubic(photos: list[Path]) -> None:
    images = prepare_images(photos, 2)
    model = RGBBicubic(2).train()
    rgb = evaluate(ModuleRunner(model), "rgb", images, 2, metrics=("psnr",))
    assert model.modes == [False, False] and model.training  # eval mode for the call, then restored
    luma = evaluate_bicubic(images, 2, metrics=("psnr",))
    # Bicubic and the Y transform are both linear: only clamping and rounding differ.
    for name in rgb.per_image:
        assert rgb.per_image[name].psnr == pytest.approx(luma.per_image[name].psnr, abs=0.05)
        assert math.isnan(rgb.per_image[name].ssim) and math.isnan(rgb.per_image[name].grad_energy)


def test_tiled_super_resolution_matches_the_whole_image(photos: list[Path]) -> None:
    image = load_image(photos[1], 2)
    model = ModuleRunner(build_model(get_spec("espcn"), 2))
    whole = super_resolve(model, "y", image.lr_rgb, 2)
    tiled = super_resolve(model, "y", image.lr_rgb, 2, tile=20)
    assert whole.shape == (100, 120)
    assert torch.allclose(whole, tiled, atol=1e-6)
    # Limited-range Y: 16/255 .. 235/255.
    assert whole.min() >= 16 / 255 - 1e-9 and whole.max() <= 235 / 255 + 1e-9


def test_mean_leaves_out_nan_and_checks_names() -> None:
    result = EvalResult({"a": ImageScores(30.0, 0.9, math.nan, 1.0), "b": ImageScores(32.0, 0.8, 0.95, 3.0)})
    assert result.mean("psnr") == 31.0
    assert result.mean("ms_ssim") == 0.95
    with pytest.raises(ValueError, match="unknown metric"):
        result.mean("lpips")
    with pytest.raises(ValueError, match="unknown metrics"):
        evaluate(ModuleRunner(nn.Identity()), "y", [], 2, metrics=("psnr", "lpips"))


def test_unreadable_and_tiny_photos_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "text.png").write_text("not a png")
    with pytest.raises(InputError, match="text.png: not an image Pillow can read"):
        load_image(tmp_path / "text.png", 2)
    Image.fromarray(np.zeros((16, 40, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="too small to evaluate at x4; each side needs at least 20 pixels"):
        load_image(tmp_path / "tiny.png", 4)
