"""Classical filters: known answers, and the command-line syntax."""

from __future__ import annotations

import math

import pytest
import torch

from vidrestore import metrics as M
from vidrestore.errors import UsageError
from vidrestore.filters import FILTERS, parse_filter
from vidrestore.filters import sharpen, tone
from vidrestore.filters.deconv import convolve, richardson_lucy, wiener
from vidrestore.filters.psf import defocus_psf, motion_psf, parse_psf
from vidrestore.ops.color import rgb_to_ycbcr


def scene(h: int = 96, w: int = 128, seed: int = 0) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1]: smooth gradients, hard-edged shapes and fine texture."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack((0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * torch.sin(6 * x + 4 * y)))
    img[:, h // 4 : h // 2, w // 5 : w // 2] = torch.tensor([0.9, 0.2, 0.1])[:, None, None]
    disc = (x - 0.7) ** 2 + (y - 0.6) ** 2 < 0.03
    img[:, disc] = torch.tensor([0.1, 0.8, 0.3])[:, None]
    img = img + 0.05 * torch.rand(img.shape, generator=g)
    return img.clamp(0, 1)[None]


# -- tone curves ---------------------------------------------------------------------------------
def test_gamma_one_is_identity_and_gamma_brightens_or_darkens() -> None:
    img = scene()
    assert torch.equal(parse_filter("gamma=1")(img), img)
    assert (parse_filter("gamma=0.5")(img) >= img).all()
    assert (parse_filter("gamma=2")(img) <= img).all()
    assert torch.allclose(tone.gamma(img, 2.0), img * img)


def test_log_curve_keeps_ends_and_lifts_dark_tones() -> None:
    ramp = torch.linspace(0, 1, 11).reshape(1, 1, 1, 11).expand(1, 3, 1, 11)
    out = tone.log_curve(ramp)
    assert out[..., 0].abs().max() == 0 and torch.allclose(out[..., -1], torch.ones(1, 3, 1))
    assert (out[..., 1:-1] > ramp[..., 1:-1]).all()
    assert torch.allclose(out[0, 0, 0, 5], torch.tensor(math.log2(1.5)))


def test_histogram_equalisation_flattens_the_histogram() -> None:
    g = torch.Generator().manual_seed(1)
    # A low-contrast frame: every code in 100..140, unevenly used (a squashed bell).
    codes = (120 + 8 * torch.randn(1, 3, 128, 128, generator=g)).round().clamp(100, 140)
    out = tone.equalize(codes / 255)
    for c in range(3):
        before, after = codes[0, c].flatten(), (out[0, c] * 255).round().flatten()
        assert after.min() == 0 and after.max() == 255  # stretched to the full range
        # The equalised values are spread evenly: their CDF is close to the diagonal,
        # while the input's jumps from 0 to 1 within 41 of 256 codes.
        levels = torch.arange(256.0)
        cdf_after = (after[None, :] <= levels[:, None]).float().mean(1)
        cdf_before = (before[None, :] <= levels[:, None]).float().mean(1)
        assert (cdf_after - (levels + 1) / 256).abs().max() < 0.08
        assert (cdf_before - (levels + 1) / 256).abs().max() > 0.4
    # Order is kept: equalisation is a monotonic map of each channel.
    flat_in, flat_out = codes[0, 0].flatten(), out[0, 0].flatten()
    order = flat_in.argsort()
    assert (flat_out[order].diff() >= -1e-6).all()


def test_histogram_equalisation_leaves_a_flat_frame_alone() -> None:
    flat = torch.full((1, 3, 16, 16), 0.25)
    assert torch.equal(tone.equalize(flat), flat)


def test_clahe_raises_local_contrast_of_luma_and_keeps_chroma() -> None:
    img = scene(256, 256)
    low = 0.45 + 0.1 * img  # a dull, low-contrast picture
    out = parse_filter("clahe")(low)
    ycc_in, ycc_out = rgb_to_ycbcr(low), rgb_to_ycbcr(out)
    edges_in, edges_out = M.gradient_energy(ycc_in[:, 0]), M.gradient_energy(ycc_out[:, 0])
    assert edges_out > 3 * edges_in  # local contrast: the mapping's slope is above 1 where the tile's values lie
    assert (ycc_out[:, 1:] - ycc_in[:, 1:]).abs().max() < 0.02  # chroma untouched (up to the [0, 1] clamp)
    # A higher clip limit allows steeper mappings; a flat frame stays flat (no seams between tiles).
    assert M.gradient_energy(rgb_to_ycbcr(tone.clahe(low, "bt601", clip=8.0))[:, 0]) > 3 * edges_out
    flat = tone.clahe(torch.full((1, 3, 50, 70), 0.3), "bt601")
    assert flat.std() < 1e-6


def test_clahe_handles_sizes_that_do_not_divide_into_tiles() -> None:
    out = tone.clahe(scene(37, 53), "bt709", tiles=8)
    assert out.shape == (1, 3, 37, 53) and torch.isfinite(out).all()


# -- sharpening ----------------------------------------------------------------------------------
def test_laplacian_kernel_is_the_classic_centre_five() -> None:
    assert sharpen.laplacian_kernel().tolist() == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    img = scene()
    assert torch.allclose(sharpen.laplacian_sharpen(img, 0.0), img)


def test_sharpening_adds_edge_contrast_and_leaves_flat_areas() -> None:
    step = torch.zeros(1, 3, 20, 20)
    step[..., 10:] = 0.5
    step += 0.25
    for f in ("sharpen", "unsharp=1.5,radius=2"):
        out = parse_filter(f)(step)
        assert out[..., 9].max() < 0.25 and out[..., 10].min() > 0.75  # over/undershoot at the edge
        assert torch.allclose(out[..., :3], step[..., :3]) and torch.allclose(out[..., -3:], step[..., -3:])


# -- deconvolution -------------------------------------------------------------------------------
@pytest.mark.parametrize("psf", ["motion:11:30", "motion:9:100", "defocus:3"])
def test_deconvolution_with_the_true_kernel_recovers_the_picture(psf: str) -> None:
    sharp = scene(96, 128)
    kernel = parse_psf(psf).kernel()
    blurred = convolve(sharp, kernel).clamp(0, 1)
    blurry_psnr = M.psnr(blurred, sharp)
    rl = richardson_lucy(blurred, kernel, iterations=60).clamp(0, 1)
    wi = wiener(blurred, kernel, nsr=1e-3).clamp(0, 1)
    assert M.psnr(rl, sharp) > blurry_psnr + 3
    assert M.psnr(wi, sharp) > blurry_psnr + 3
    assert M.psnr(rl, sharp) > 30


def test_richardson_lucy_keeps_brightness_and_positivity() -> None:
    sharp = scene()
    kernel = motion_psf(15, 45)
    out = richardson_lucy(convolve(sharp, kernel), kernel, iterations=10)
    assert out.min() >= 0
    assert abs(out.mean().item() - sharp.mean().item()) < 0.01


def test_deconvolving_with_no_blur_changes_nothing() -> None:
    img = scene()
    assert torch.equal(wiener(img, defocus_psf(0.2)), img)
    assert torch.equal(richardson_lucy(img, motion_psf(1, 0)), img)


# -- parsing -------------------------------------------------------------------------------------
def test_every_filter_parses_with_its_defaults_and_keeps_the_frame_size() -> None:
    img = scene(33, 47)
    for name, definition in FILTERS.items():
        text = {"gamma": "gamma=0.8", "wiener": "wiener=motion:7:10", "richardson-lucy": "richardson-lucy=defocus:2,iterations=3"}.get(name, name)
        out = parse_filter(text)(img, "bt709")
        assert out.shape == img.shape and 0 <= out.min() and out.max() <= 1, name


def test_filter_values_positional_and_named() -> None:
    f = parse_filter("unsharp=1.5,radius=2")
    assert dict(f.values) == {"amount": 1.5, "radius": 2.0}
    assert dict(parse_filter("clahe=3,tiles=4").values) == {"clip": 3.0, "tiles": 4}
    rl = parse_filter("richardson-lucy=motion:15:30,iterations=12")
    assert str(dict(rl.values)["psf"]) == "motion:15:30" and dict(rl.values)["iterations"] == 12
    assert str(parse_filter("gamma=0.8")) == "gamma=g=0.8"


@pytest.mark.parametrize("text, message", [
    ("blur", "unknown filter 'blur'; available: histeq, clahe"),
    ("gamma", "gamma needs a value; syntax: gamma=G"),
    ("gamma=0", "gamma must be positive"),
    ("gamma=x", "bad g 'x'"),
    ("clahe=2,tile=3", "clahe has no parameter 'tile'"),
    ("histeq=1", "unexpected '1'"),
    ("richardson-lucy=motion:15", "motion takes motion:LENGTH:ANGLE"),
    ("wiener=box:3", "unknown blur 'box'"),
    ("wiener=defocus:-2", "--filter 'wiener=defocus:-2': defocus radius must be from 0 to 127 pixels, got -2"),
    ("richardson-lucy=defocus:2,iterations=0", "must be at least 1"),
    ("richardson-lucy=defocus:2,iterations=1001", "iterations must be from 1 to 1000, got 1001"),
    ("unsharp=1,amount=2", "amount is given twice"),
    ("wiener=motion:9000:0", "motion length must be from 0 to 253 pixels, got 9000"),
    ("wiener=motion:9:x", "motion:LENGTH:ANGLE must be numbers, got 'motion:9:x'"),
    ("unsharp=nan", "the unsharp amount must be from 0 to 10, got nan"),
])
def test_bad_filters_are_one_clear_usage_error(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]").replace("+", r"\+")):
        parse_filter(text)
