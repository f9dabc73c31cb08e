"""Point-spread functions: normalised, centred, the right size and shape."""

from __future__ import annotations

import math

import pytest
import torch

from vidrestore.filters.psf import defocus_psf, gaussian_psf, motion_psf


def centroid(k: torch.Tensor) -> tuple[float, float]:
    n = k.shape[0]
    r = torch.arange(n, dtype=torch.float64) - n // 2
    return float((k.sum(1) * r).sum()), float((k.sum(0) * r).sum())


@pytest.mark.parametrize("kernel", [motion_psf(15, 30), motion_psf(7.5, 90), defocus_psf(4), defocus_psf(1.3), gaussian_psf(2)])
def test_kernels_sum_to_one_are_odd_and_centred(kernel: torch.Tensor) -> None:
    assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert kernel.sum().item() == pytest.approx(1.0)
    assert (kernel >= 0).all()
    cy, cx = centroid(kernel)
    assert abs(cy) < 1e-9 and abs(cx) < 1e-9


def test_motion_kernel_lies_along_its_angle_and_spans_its_length() -> None:
    horizontal = motion_psf(9, 0)
    assert horizontal[horizontal.shape[0] // 2].sum().item() == pytest.approx(1.0)  # all on the centre row
    vertical = motion_psf(9, 90)
    assert vertical[:, vertical.shape[1] // 2].sum().item() == pytest.approx(1.0)
    # Second moment along the line: a uniform segment of length L has variance L^2 / 12.
    k = motion_psf(15, 30)
    n = k.shape[0]
    r = torch.arange(n, dtype=torch.float64) - n // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    along = xx * math.cos(math.radians(30)) - yy * math.sin(math.radians(30))  # rows grow downwards
    across = xx * math.sin(math.radians(30)) + yy * math.cos(math.radians(30))
    assert float((k * along**2).sum()) == pytest.approx(15**2 / 12, rel=0.05)
    assert float((k * across**2).sum()) < 0.2


def test_defocus_disc_has_the_area_of_its_radius() -> None:
    k = defocus_psf(6)
    assert k.shape[0] == 13
    support = (k > 0).sum().item()
    assert math.pi * 6**2 * 0.9 < support < math.pi * 7**2
    assert k[6, 6] == k.max()  # uniform inside: the centre is as bright as any


def test_no_blur_is_the_identity_kernel() -> None:
    for k in (motion_psf(0.5, 10), defocus_psf(0.3), gaussian_psf(0.05)):
        assert k.shape == (1, 1) and k.item() == 1.0


def test_the_largest_parameters_fit_the_kernel_limit_and_larger_ones_are_refused_before_building() -> None:
    from vidrestore.filters.psf import MAX_LENGTH, MAX_RADIUS, MAX_SIGMA, MAX_SIZE

    for k in (motion_psf(MAX_LENGTH, 30), defocus_psf(MAX_RADIUS), gaussian_psf(MAX_SIGMA)):
        assert k.shape[0] <= MAX_SIZE
    # Built, these would be 80 GB and more: the checks come first.
    for make, message in ((lambda: motion_psf(1e5, 0), "motion length must be from 0 to 253 pixels, got 100000"),
                          (lambda: motion_psf(9, float("inf")), "motion angle must be a finite number of degrees, got inf"),
                          (lambda: defocus_psf(1e9), "defocus radius must be from 0 to 127 pixels, got 1e+09"),
                          (lambda: gaussian_psf(float("nan")), "gaussian sigma must be from 0 to 42 pixels, got nan")):
        with pytest.raises(ValueError, match=message.replace("+", r"\+")):
            make()
