"""Training degradations: shapes, determinism, each stage's effect, margins, config checks."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pytest
import torch

from vidrestore.ops.resize import imresize
from vidrestore.training.degrade import Degradation, DegradationParams, apply, context_margin, degrade, gaussian_blur
from vidrestore.training.photos import make_lr

NONE = Degradation(blur_prob=0, noise_prob=0, jpeg_prob=0, h264_prob=0)
ALL = Degradation(blur_prob=1, noise_prob=1, jpeg_prob=1, h264_prob=1)



def _photo(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(3, h, w) RGB with edges, stripes and some texture, away from 0 and 1 so noise is not clipped."""
    rng = np.random.default_rng(seed)
    img = np.full((3, h, w), 0.5) + rng.uniform(-0.1, 0.1, (3, 1, 1))
    for _ in range(10):
        y, x = rng.integers(0, [h - 4, w - 4])
        dy, dx = rng.integers(4, [h // 2, w // 2])
        img[:, y : y + dy, x : x + dx] = rng.uniform(0.2, 0.8, (3, 1, 1))
    yy, xx = np.mgrid[:h, :w]
    img += 0.1 * np.sin((xx + 0.6 * yy) * 2 * np.pi / 7)
    img += rng.normal(0, 0.02, img.shape)
    return torch.from_numpy(np.clip(img, 0.1, 0.9)).float()


def _rms255(a: torch.Tensor, b: torch.Tensor) -> float:
    return 255 * ((a - b) ** 2).mean().sqrt().item()


def _gradient_energy(x: torch.Tensor) -> float:
    return ((x[:, 1:] - x[:, :-1]) ** 2).mean().item() + ((x[:, :, 1:] - x[:, :, :-1]) ** 2).mean().item()


@pytest.fixture(scope="module")
def hr() -> torch.Tensor:
    return _photo(96, 128)


@pytest.fixture(scope="module")
def clean(hr: torch.Tensor) -> torch.Tensor:
    return make_lr(hr, 2)


def test_shape_range_and_8_bits(hr: torch.Tensor) -> None:
    lr = degrade(hr, 4, ALL, np.random.default_rng(0))
    assert lr.shape == (3, 24, 32) and lr.dtype == torch.float32
    assert lr.min() >= 0 and lr.max() <= 1
    assert torch.equal(lr * 255, (lr * 255).round())


def test_no_stage_is_make_lr(hr: torch.Tensor) -> None:
    for scale in (2, 3, 4):
        x = hr[:, : 96 // scale * scale, : 128 // scale * scale]
        assert torch.equal(degrade(x, scale, NONE, np.random.default_rng(1)), make_lr(x, scale))


def test_deterministic_for_a_seed(hr: torch.Tensor) -> None:
    first = degrade(hr, 2, ALL, np.random.default_rng(7))
    assert torch.equal(first, degrade(hr, 2, ALL, np.random.default_rng(7)))
    assert not torch.equal(first, degrade(hr, 2, ALL, np.random.default_rng(8)))
    # The defaults fire stages at random; still the same for the same seed.
    assert torch.equal(degrade(hr, 2, Degradation(), np.random.default_rng(3)), degrade(hr, 2, Degradation(), np.random.default_rng(3)))


def test_draws_the_same_count_whatever_fires() -> None:
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    ALL.sample(a)
    NONE.sample(b)
    assert a.random() == b.random()


def test_blur_lowers_gradient_energy(hr: torch.Tensor, clean: torch.Tensor) -> None:
    deg = replace(NONE, blur_prob=1, blur_sigma=(1.5, 1.5))
    blurred = degrade(hr, 2, deg, np.random.default_rng(0))
    assert _gradient_energy(blurred) < 0.8 * _gradient_energy(clean)


@pytest.mark.parametrize("gray", [True, False])
def test_noise_has_the_drawn_sigma(hr: torch.Tensor, clean: torch.Tensor, gray: bool) -> None:
    noisy = apply(hr, 2, DegradationParams(noise_sigma=8.0, noise_gray=gray, noise_seed=3))
    diff = (noisy - clean) * 255
    assert 7.0 < diff.std().item() < 9.0
    # Gray noise is one field on R, G and B (each rounded on its own); colour noise is not.
    channel_spread = (diff - diff.mean(dim=0)).abs().max().item()
    assert channel_spread <= 1 + 1e-4 if gray else channel_spread > 10


@pytest.mark.parametrize(("stage", "strong", "weak"), [("jpeg", 10, 95), ("h264", 45, 10)])
def test_codecs_degrade_more_at_low_quality(hr: torch.Tensor, clean: torch.Tensor, stage: str, strong: int, weak: int) -> None:
    def error(value: int) -> float:
        deg = replace(NONE, **{f"{stage}_prob": 1, f"{stage}_{'quality' if stage == 'jpeg' else 'crf'}": (value, value)})
        return _rms255(degrade(hr, 2, deg, np.random.default_rng(0)), clean)

    low, high = error(strong), error(weak)
    assert high > 0.1
    assert low > 2 * high


def test_h264_keeps_the_aligned_frame_of_a_moving_clip() -> None:
    img = gaussian_blur(_photo(48, 64, seed=2), 1.0)
    shifted = imresize(img, size=(48, 64), shift=(0.7, -0.4))

    def coded(crf: int, motion: tuple[float, float]) -> float:
        return _rms255(apply(img, 1, DegradationParams(h264_crf=crf, h264_motion=motion)), img)

    # The kept frame is the patch itself, not a shifted copy...
    assert coded(10, (0.7, -0.4)) < 0.75 * _rms255(shifted, img)
    # ...and predicting it from moved frames costs quality, as in real video.
    assert coded(20, (0.7, -0.4)) > 1.1 * coded(20, (0.0, 0.0))


def test_h264_on_the_smallest_frame() -> None:
    assert apply(torch.full((3, 1, 1), 0.5), 1, DegradationParams(h264_crf=30)).shape == (3, 1, 1)


@pytest.mark.parametrize("size", [(33, 27), (5, 7)])
def test_odd_lr_sizes(size: tuple[int, int]) -> None:
    h, w = size
    lr = degrade(_photo(3 * h, 3 * w), 3, ALL, np.random.default_rng(0))
    assert lr.shape == (3, h, w)


def test_margin_matches_degrading_the_whole_frame() -> None:
    whole = _photo(96, 96, seed=4)
    deg = replace(NONE, blur_prob=1, blur_sigma=(1.5, 1.5))
    scale, m = 2, context_margin(deg, 2)
    assert m == 2 + 3  # bicubic reach + ceil(ceil(4.5) / 2)
    full = degrade(whole, scale, deg, np.random.default_rng(0))
    y, x, size = 10, 14, 16  # LR patch position and size
    patch = whole[:, (y - m) * scale : (y + size + m) * scale, (x - m) * scale : (x + size + m) * scale]
    lr = degrade(patch, scale, deg, np.random.default_rng(0), margin=m)
    assert lr.shape == (3, size, size)
    assert torch.equal(lr, full[:, y : y + size, x : x + size])
    # Without the margin, mirrored edges show.
    bare = degrade(patch[:, m * scale : -m * scale, m * scale : -m * scale], scale, deg, np.random.default_rng(0))
    assert not torch.equal(bare, lr)


def test_blur_keeps_constant_images_and_sums_to_one() -> None:
    flat = torch.full((3, 9, 11), 0.25)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat)


def test_bad_inputs_are_refused(hr: torch.Tensor) -> None:
    with pytest.raises(ValueError, match="not a multiple of scale 3"):
        degrade(hr[:, :95], 3, NONE, np.random.default_rng(0))
    with pytest.raises(ValueError, match="margin 30 leaves no LR pixels"):
        degrade(hr, 2, NONE, np.random.default_rng(0), margin=30)


def test_from_toml_table() -> None:
    table = tomllib.loads("blur_prob = 1.0\nnoise_sigma = [0, 4]\njpeg_quality = [30, 90]\nh264_crf = [20, 28]\n")
    deg = Degradation.from_dict(table)
    assert deg == Degradation(blur_prob=1.0, noise_sigma=(0, 4), jpeg_quality=(30, 90), h264_crf=(20, 28))
    assert Degradation.from_dict({}) == Degradation()


def test_from_dict_names_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown degradation keys \['blur_size', 'jpg_prob'\]"):
        Degradation.from_dict({"blur_size": 3, "jpg_prob": 0.5, "blur_prob": 0.2})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"blur_prob": 1.5}, "blur_prob must be a probability"),
        ({"noise_gray_prob": True}, "noise_gray_prob must be a probability"),
        ({"blur_sigma": [0, 1]}, "blur_sigma must satisfy"),
        ({"noise_sigma": [5, 2]}, "noise_sigma must satisfy"),
        ({"jpeg_quality": [0, 90]}, "jpeg_quality must satisfy"),
        ({"jpeg_quality": [50.5, 90]}, "jpeg_quality must be two integers"),
        ({"h264_crf": [20, 60]}, "h264_crf must satisfy"),
        ({"h264_crf": [20]}, "h264_crf must be two integers"),
        ({"noise_sigma": "3"}, "noise_sigma must be two numbers"),
    ],
)
def test_from_dict_checks_ranges(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Degradation.from_dict(table)
