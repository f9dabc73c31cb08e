"""Point-spread functions: what blurred the picture, as a small normalised kernel.

Two kinds cover the blurs a user can describe in numbers:

- linear motion: a line segment of ``length`` pixels at ``angle`` degrees
  (counter-clockwise from the x axis, as the picture is seen), the blur of a
  camera or object moving straight at constant speed during the exposure;
- defocus: a uniform disc of ``radius`` pixels, the geometric-optics model of
  an out-of-focus lens (the circle of confusion).

Both are anti-aliased, so fractional lengths, radii and any angle give smooth
kernels, and both sum to 1 (blurring keeps the brightness). Kernels are
(k, k) float64 tensors with k odd, centred on the middle pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from vidrestore.errors import UsageError

PsfKind = Literal["motion", "defocus", "gaussian"]
_SUPERSAMPLE = 8  # sub-pixel samples per pixel and axis when rasterising a disc
MAX_SIZE = 255  # pixels: anything larger is a typo, and FFT sizes stay sane
# The largest parameters whose kernels fit MAX_SIZE, checked before a kernel is
# built: motion:100000:0 would otherwise ask for an 80 GB kernel.
MAX_LENGTH = MAX_SIZE - 2
MAX_RADIUS = (MAX_SIZE - 1) // 2
MAX_SIGMA = 42  # a 6-sigma kernel of 253 pixels


def _odd(n: float) -> int:
    k = int(math.ceil(n))
    return k if k % 2 else k + 1


def motion_psf(length: float, angle: float) -> torch.Tensor:
    """A line of ``length`` pixels through the centre at ``angle`` degrees.

    The segment is sampled every 1/8 pixel and each sample is shared
    bilinearly among its four neighbours, so the kernel's mass follows the
    exact segment. A length of at most 1 is the identity (no motion).
    """
    if not 0 <= length <= MAX_LENGTH:
        raise ValueError(f"motion length must be from 0 to {MAX_LENGTH} pixels, got {length:g}")
    if not math.isfinite(angle):
        raise ValueError(f"motion angle must be a finite number of degrees, got {angle:g}")
    if length <= 1:
        return _identity()
    theta = math.radians(angle)
    dx, dy = math.cos(theta), -math.sin(theta)  # image rows grow downwards
    size = _odd(length + 2)
    c = size // 2
    steps = max(2, int(math.ceil(length * _SUPERSAMPLE)) + 1)
    t = torch.linspace(-length / 2, length / 2, steps, dtype=torch.float64)
    return splat(c + t * dx, c + t * dy, size)


def defocus_psf(radius: float) -> torch.Tensor:
    """A uniform disc of ``radius`` pixels, edge pixels weighted by the area they
    cover (estimated on an 8x8 sub-pixel grid). A radius under 0.5 is the identity."""
    if not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"defocus radius must be from 0 to {MAX_RADIUS} pixels, got {radius:g}")
    if radius < 0.5:
        return _identity()
    size = _odd(2 * radius + 1)
    c = size // 2
    s = _SUPERSAMPLE
    offsets = (torch.arange(s, dtype=torch.float64) + 0.5) / s - 0.5
    grid = torch.arange(size, dtype=torch.float64) - c
    fine = (grid[:, None] + offsets[None, :]).reshape(-1)
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2) <= radius**2
    kernel = inside.double().reshape(size, s, size, s).mean(dim=(1, 3))
    return kernel / kernel.sum()


def gaussian_psf(sigma: float) -> torch.Tensor:
    """An isotropic Gaussian of standard deviation ``sigma`` pixels, cut at 3 sigma."""
    if not 0 <= sigma <= MAX_SIGMA:
        raise ValueError(f"gaussian sigma must be from 0 to {MAX_SIGMA} pixels, got {sigma:g}")
    if sigma < 0.1:
        return _identity()
    size = _odd(6 * sigma + 1)
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-0.5 * (r / sigma) ** 2)
    kernel = torch.outer(g, g)
    return kernel / kernel.sum()


def _identity() -> torch.Tensor:
    return torch.ones(1, 1, dtype=torch.float64)


def splat(x: torch.Tensor, y: torch.Tensor, size: int) -> torch.Tensor:
    """A size x size kernel from equal-weight points (x, y) (float64, pixel units,
    (0, 0) the top-left pixel's centre), each shared bilinearly among its four
    neighbouring pixels; normalised to sum 1."""
    kernel = torch.zeros(size, size, dtype=torch.float64)
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    for ox, wx in ((0, 1 - fx), (1, fx)):
        for oy, wy in ((0, 1 - fy), (1, fy)):
            xi, yi = (x0 + ox).long(), (y0 + oy).long()
            ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
            kernel.index_put_((yi[ok], xi[ok]), (wx * wy)[ok], accumulate=True)
    return kernel / kernel.sum()


@dataclass(frozen=True)
class PSF:
    """A described point-spread function, as the command line gives it."""

    kind: PsfKind
    params: tuple[float, ...]

    def kernel(self) -> torch.Tensor:
        if self.kind == "motion":
            return motion_psf(*self.params)
        if self.kind == "defocus":
            return defocus_psf(*self.params)
        return gaussian_psf(*self.params)

    def __str__(self) -> str:
        return ":".join([self.kind, *(f"{p:g}" for p in self.params)])


_PSF_ARGS = {"motion": ("LENGTH", "ANGLE"), "defocus": ("RADIUS",), "gaussian": ("SIGMA",)}
PSF_SYNTAX = "motion:LENGTH:ANGLE, defocus:RADIUS or gaussian:SIGMA (pixels, degrees)"


def parse_psf(text: str) -> PSF:
    """``motion:15:30``, ``defocus:4`` or ``gaussian:1.5`` -> `PSF`; bad text is a `UsageError`
    (without the text itself: `parse_filter` names the whole filter)."""
    kind, *values = text.strip().split(":")
    if kind not in _PSF_ARGS:
        raise UsageError(f"unknown blur {kind!r}; expected {PSF_SYNTAX}")
    names = _PSF_ARGS[kind]
    if len(values) != len(names):
        raise UsageError(f"{kind} takes {':'.join((kind, *names))}")
    try:
        params = tuple(float(v) for v in values)
    except ValueError:
        raise UsageError(f"{kind}:{':'.join(names)} must be numbers, got {text.strip()!r}") from None
    psf = PSF(kind, params)  # type: ignore[arg-type]
    try:  # the kernel functions check their ranges before they allocate anything
        size = psf.kernel().shape[0]
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    assert size <= MAX_SIZE, size
    return psf
