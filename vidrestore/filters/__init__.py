"""Classical enhancement filters, and the one list of them.

Each filter takes (N, 3, H, W) R'G'B' float frames in [0, 1] and the frames'
Y'CbCr matrix (for the filters that work on luma) and returns frames of the
same size. On the command line a filter is ``NAME[=VALUE]``, where VALUE is
the filter's main parameter and/or ``key=value`` pairs, comma-separated:

    gamma=0.8   clahe   clahe=3,tiles=16   unsharp=1.5,radius=2
    richardson-lucy=motion:15:30   wiener=defocus:4,nsr=0.005

`parse_filter` turns that text into a `Filter`; `FILTERS` lists them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vidrestore.errors import UsageError
from vidrestore.filters import deconv, sharpen, tone
from vidrestore.filters.psf import parse_psf
from vidrestore.ops.color import Matrix

_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    convert: Callable[[str], Any]
    default: Any = _REQUIRED


@dataclass(frozen=True)
class FilterDef:
    name: str
    summary: str
    params: tuple[Param, ...]  # the first one is what a bare VALUE sets
    apply: Callable[..., torch.Tensor]  # apply(rgb, matrix, **params)
    syntax: str


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _deconvolve(method: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def apply(rgb: torch.Tensor, matrix: Matrix, *, psf: Any, **options: Any) -> torch.Tensor:
        return method(rgb, psf.kernel(), **options).clamp(0.0, 1.0)

    return apply


FILTERS: dict[str, FilterDef] = {
    f.name: f
    for f in (
        FilterDef("histeq", "histogram equalisation of each R'G'B' channel", (),
                  lambda rgb, matrix: tone.equalize(rgb), "histeq"),
        FilterDef("clahe", "contrast-limited adaptive histogram equalisation of luma",
                  (Param("clip", float, 2.0), Param("tiles", _positive_int, 8)),
                  lambda rgb, matrix, **p: tone.clahe(rgb, matrix, **p), "clahe[=CLIP][,tiles=N]"),
        FilterDef("sharpen", "3x3 Laplacian sharpening (centre 5 at amount 1)", (Param("amount", float, 1.0),),
                  lambda rgb, matrix, **p: sharpen.laplacian_sharpen(rgb, **p), "sharpen[=AMOUNT]"),
        FilterDef("unsharp", "unsharp mask: x + amount (x - gaussian(x, radius))",
                  (Param("amount", float, 1.0), Param("radius", float, 1.0)),
                  lambda rgb, matrix, **p: sharpen.unsharp_mask(rgb, **p), "unsharp[=AMOUNT][,radius=SIGMA]"),
        FilterDef("gamma", "x ** G (G < 1 brightens)", (Param("g", float),),
                  lambda rgb, matrix, **p: tone.gamma(rgb, **p), "gamma=G"),
        FilterDef("log", "gain * log2(1 + x): lifts dark tones", (Param("gain", float, 1.0),),
                  lambda rgb, matrix, **p: tone.log_curve(rgb, **p), "log[=GAIN]"),
        FilterDef("wiener", "Wiener deconvolution with a known blur",
                  (Param("psf", parse_psf), Param("nsr", float, 1e-2)),
                  _deconvolve(deconv.wiener), "wiener=PSF[,nsr=K]"),
        FilterDef("richardson-lucy", "Richardson-Lucy deconvolution with a known blur",
                  (Param("psf", parse_psf), Param("iterations", _positive_int, 30)),
                  _deconvolve(deconv.richardson_lucy), "richardson-lucy=PSF[,iterations=N]"),
    )
}


@dataclass(frozen=True)
class Filter:
    """One filter with its parameter values; call it on frames."""

    definition: FilterDef
    values: tuple[tuple[str, Any], ...]

    def __call__(self, rgb: torch.Tensor, matrix: Matrix = "bt601") -> torch.Tensor:
        return self.definition.apply(rgb, matrix, **dict(self.values))

    def __str__(self) -> str:
        if not self.values:
            return self.definition.name
        return f"{self.definition.name}=" + ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values)


def parse_filter(text: str) -> Filter:
    """``NAME[=VALUE]`` -> `Filter`; anything wrong is one `UsageError` naming the filter's syntax."""
    name, _, value = text.strip().partition("=")
    name = name.strip().lower()
    if name not in FILTERS:
        raise UsageError(f"unknown filter {name!r}; available: {', '.join(FILTERS)}")
    definition = FILTERS[name]
    by_name = {p.name: p for p in definition.params}
    given: dict[str, str] = {}
    parts = [part.strip() for part in value.split(",")] if value.strip() else []
    for i, part in enumerate(parts):
        key, eq, raw = part.partition("=")
        if not eq:
            if i or not definition.params:
                raise UsageError(f"--filter {text!r}: unexpected {part!r}; syntax: {definition.syntax}")
            key, raw = definition.params[0].name, part
        if key not in by_name:
            raise UsageError(f"--filter {text!r}: {name} has no parameter {key!r}; syntax: {definition.syntax}")
        if key in given:
            raise UsageError(f"--filter {text!r}: {key} is given twice")
        given[key] = raw
    values = []
    for p in definition.params:
        if p.name not in given:
            if p.default is _REQUIRED:
                raise UsageError(f"--filter {text!r}: {name} needs a value; syntax: {definition.syntax}")
            values.append((p.name, p.default))
            continue
        try:
            values.append((p.name, p.convert(given[p.name])))
        except UsageError as exc:
            raise UsageError(f"--filter {text!r}: {exc}") from None
        except ValueError as exc:
            raise UsageError(f"--filter {text!r}: bad {p.name} {given[p.name]!r} ({exc}); syntax: {definition.syntax}") from None
    result = Filter(definition, tuple(values))
    try:  # check the values once on a tiny frame, so a bad one fails before any work starts
        result(torch.full((1, 3, 8, 8), 0.5))
    except ValueError as exc:
        raise UsageError(f"--filter {text!r}: {exc}") from None
    return result
