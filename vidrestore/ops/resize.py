"""MATLAB-compatible image resizing in PyTorch (bicubic and Lanczos-3).

`imresize` reproduces MATLAB's ``imresize`` contributions: Keys cubic with
a = -0.5, a kernel widened by the scale when shrinking (antialiasing), and
symmetric edge handling. SR papers build their LR images this way, so training
data, the bicubic baseline and the chroma upscaling all use this one routine.

Resizing is separable: per axis, each output sample is a weighted sum of a few
input samples, done as ``index_select`` plus multiply-add. That keeps it exact
for any scale, fast enough for video, and exportable to ONNX.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, Literal

import numpy as np
import torch

Kernel = Literal["bicubic", "lanczos"]


def _cubic(x: np.ndarray) -> np.ndarray:
    a = -0.5  # Keys (1981); MATLAB's choice. torch's bicubic uses -0.75.
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
    far = (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2))
    return near + far


def _lanczos3(x: np.ndarray) -> np.ndarray:
    return np.sinc(x) * np.sinc(x / 3) * (np.abs(x) < 3)


_KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bicubic": (_cubic, 4.0),
    "lanczos": (_lanczos3, 6.0),
}


@lru_cache(maxsize=64)
def _contributions(
    in_len: int, out_len: int, scale: float, kernel: str, antialias: bool, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (out_len, taps) into the input and their weights (rows sum to 1)."""
    func, width = _KERNELS[kernel]
    if scale < 1 and antialias:
        def h(x: np.ndarray) -> np.ndarray:
            return scale * func(scale * x)
        width = width / scale
    else:
        h = func
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale) + shift  # output sample centre in input coords (1-based)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    weights = h(u[:, None] - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    keep = np.any(weights != 0, axis=0)
    idx, weights = idx[:, keep], weights[:, keep]
    # Symmetric (mirror) edges, as MATLAB does.
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    return idx, weights.astype(np.float32)


@lru_cache(maxsize=64)
def _phases(factor: int, kernel: str, shift: float) -> tuple[np.ndarray, int]:
    """Integer upscaling as a polyphase filter: output k = factor * i + p reads
    input i + lo + t with weights[p, t], the same for every i.

    Returns (weights (factor, taps), lo); the input needs -lo pixels of context
    before it and lo + taps - 1 after it.
    """
    func, width = _KERNELS[kernel]
    p = np.arange(factor, dtype=np.float64)
    u = (p + 1) / factor + 0.5 * (1 - 1 / factor) + shift - 1  # 0-based centre for i = 0
    left = np.floor(u - width / 2).astype(np.int64)
    lo = int(left.min())
    taps = int(left.max()) - lo + int(math.ceil(width)) + 2
    pos = lo + np.arange(taps)[None, :]
    weights = func(u[:, None] - pos)
    weights /= weights.sum(axis=1, keepdims=True)
    keep = np.flatnonzero(np.any(weights != 0, axis=0))
    first, last = keep[0], keep[-1]
    return weights[:, first : last + 1].astype(np.float32), lo + int(first)


def _mirror_pad(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """Symmetric (MATLAB) edges along the last axis: x[1] x[0] | x[0] x[1] ...
    Slices and flips only, so a traced (ONNX) graph keeps the length dynamic."""
    n = x.shape[-1]
    if before <= n and after <= n:
        parts = [x[..., :before].flip(-1)] if before > 0 else []
        parts.append(x)
        if after > 0:
            parts.append(x[..., n - after :].flip(-1))
        return torch.cat(parts, dim=-1)
    # Fewer pixels than the context: the mirror wraps around more than once.
    mirror = np.concatenate([np.arange(n), np.arange(n - 1, -1, -1)])
    idx = mirror[np.mod(np.arange(-before, n + after), 2 * n)]
    return x.index_select(-1, torch.from_numpy(idx).to(x.device))


def _upscale_axis(x: torch.Tensor, dim: int, factor: int, kernel: str, shift: float) -> torch.Tensor:
    w_np, lo = _phases(factor, kernel, shift)
    span = w_np.shape[1]
    dim, last = dim % x.dim(), x.dim() - 1  # positive axes: ONNX's Transpose takes no negative ones
    moved = x.movedim(dim, last)
    lead = moved.shape[:-1]
    in_len = moved.shape[-1]
    padded = _mirror_pad(moved.reshape(-1, 1, in_len), max(-lo, 0), max(lo + span - 1, 0))
    if lo > 0:
        padded = padded[..., lo:]
    weight = torch.from_numpy(w_np).to(device=x.device, dtype=x.dtype).unsqueeze(1)
    out = torch.nn.functional.conv1d(padded, weight)  # (B, factor, in_len)
    out = out.transpose(1, 2).reshape(*lead, in_len * factor)
    return out.movedim(last, dim)


@lru_cache(maxsize=64)
def _polyphase_2d(factor: int, kernel: str, shift_y: float, shift_x: float) -> tuple[torch.Tensor, tuple[int, int]]:
    """The (factor^2, 1, taps_y, taps_x) weights of `_upscale_2d` and each axis' `lo` (see `_phases`)."""
    (wy, lo_y), (wx, lo_x) = _phases(factor, kernel, shift_y), _phases(factor, kernel, shift_x)
    taps = np.einsum("pt,qs->pqts", wy, wx).reshape(factor * factor, 1, wy.shape[1], wx.shape[1])
    return torch.from_numpy(np.ascontiguousarray(taps)), (lo_y, lo_x)


def prepare_for_compile() -> None:
    """Make `imresize` traceable by `torch.compile`: its numpy weight builder is then called
    as it is rather than traced (`torch.compiler.disable`). Done on demand by the backend
    that compiles, not at import: the decorator imports torch._dynamo, about 60 MB of
    memory and over a second of start-up that every other run would pay for nothing."""
    global _polyphase_2d, _compile_ready
    if not _compile_ready:
        _polyphase_2d = torch.compiler.disable(_polyphase_2d)
        _compile_ready = True


_compile_ready = False  # `prepare_for_compile` has run


def upscale_phases(x: torch.Tensor, factor: int, kernel: Kernel = "bicubic",
                   shift: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """An integer upscale of (..., H, W) before its pixels are interleaved: (N, factor^2, H, W),
    N the leading dims flattened, channel `factor * p + q` holding the output pixels of row
    phase p and column phase q. `pixel_shuffle(upscale_phases(x, f), f)` is `imresize(x, scale=f)`
    for one leading plane; a sub-pixel network adds its own (N, factor^2, H, W) output to this
    and shuffles once (`models.espcn.ESPCNLite`)."""
    weight, (lo_y, lo_x) = _polyphase_2d(factor, kernel, shift[0], shift[1])
    taps_y, taps_x = weight.shape[-2:]
    h, w = x.shape[-2:]
    x = x.reshape(-1, 1, h, w)
    x = _mirror_pad(x, max(-lo_x, 0), max(lo_x + taps_x - 1, 0))
    if lo_x > 0:
        x = x[..., lo_x:]
    x = _mirror_pad(x.transpose(-1, -2), max(-lo_y, 0), max(lo_y + taps_y - 1, 0)).transpose(-1, -2)
    if lo_y > 0:
        x = x[..., lo_y:, :]
    return torch.nn.functional.conv2d(x, weight.to(x))


def _upscale_2d(x: torch.Tensor, factor: int, kernel: str, shift: tuple[float, float]) -> torch.Tensor:
    """Both axes made `factor` times larger in one pass: the two polyphase filters'
    outer product as one convolution with factor^2 output channels, one per
    output phase, interleaved by pixel shuffle (the sub-pixel layout ESPCN
    uses). Equal to two `_upscale_axis` passes up to float rounding, and about
    3x faster on a CPU: no transposes of the large intermediate."""
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    out = torch.nn.functional.pixel_shuffle(upscale_phases(x, factor, kernel, shift), factor)  # type: ignore[arg-type]
    return out.reshape(*lead, h * factor, w * factor)


def _resize_axis(
    x: torch.Tensor, dim: int, out_len: int, scale: float, kernel: str, antialias: bool, shift: float
) -> torch.Tensor:
    in_len = x.shape[dim]
    if in_len == out_len and scale == 1 and shift == 0:
        return x
    factor = round(scale)
    if factor >= 2 and factor == scale and out_len == in_len * factor:
        return _upscale_axis(x, dim, factor, kernel, shift)
    idx_np, w_np = _contributions(in_len, out_len, scale, kernel, antialias, shift)
    idx = torch.from_numpy(idx_np).to(x.device)
    w = torch.from_numpy(w_np).to(device=x.device, dtype=x.dtype)
    shape = [1] * x.dim()
    shape[dim] = out_len
    out = None
    for t in range(idx.shape[1]):
        term = x.index_select(dim, idx[:, t]) * w[:, t].reshape(shape)
        out = term if out is None else out + term
    return out


def imresize(
    x: torch.Tensor,
    size: tuple[int, int] | None = None,
    *,
    scale: float | None = None,
    kernel: Kernel = "bicubic",
    antialias: bool = True,
    shift: tuple[float, float] = (0.0, 0.0),
) -> torch.Tensor:
    """Resize the last two dims of a float tensor (..., H, W).

    Give either ``size=(out_h, out_w)`` or ``scale``. With ``scale`` the output
    is ``ceil(H * scale) x ceil(W * scale)``, as in MATLAB. ``shift`` (rows,
    columns) moves the sampling grid by that many input samples; chroma that
    is co-sited with the left luma column needs it (see `chroma_shift`).
    """
    if kernel not in _KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {sorted(_KERNELS)}")
    if not x.is_floating_point():
        raise TypeError(f"imresize needs a float tensor, got {x.dtype}")
    h, w = x.shape[-2], x.shape[-1]
    if size is None:
        if scale is None:
            raise ValueError("give size or scale")
        size = (math.ceil(h * scale), math.ceil(w * scale))
        sh = sw = float(scale)
    else:
        sh, sw = size[0] / h, size[1] / w
    factor = round(sh)
    if factor >= 2 and sh == sw == factor and size == (h * factor, w * factor):
        return _upscale_2d(x, factor, kernel, shift)
    # Resize the axis that shrinks most first: less work on the second pass.
    order = [(-2, size[0], sh, shift[0]), (-1, size[1], sw, shift[1])]
    order.sort(key=lambda t: t[2])
    for dim, n, s, d in order:
        x = _resize_axis(x, x.dim() + dim, n, s, kernel, antialias, d)
    return x


def chroma_shift(scale: float, subsampled: bool) -> float:
    """Grid shift, in chroma samples, that keeps left-sited chroma left-sited.

    Input chroma sample c sits on luma column 2c. Output chroma sample k must
    sit on output luma column 2k, i.e. input chroma position k / scale, while
    centre-aligned resampling reads position (k + 0.5) / scale - 0.5.
    """
    return 0.5 * (1 - 1 / scale) if subsampled else 0.0
