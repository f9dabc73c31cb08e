"""Run a model on overlapping tiles, so frames larger than device memory still fit.

A network's memory grows with the frame area, and a 4K frame through a deep
RGB model can exhaust a GPU. `run_tiled` cuts each frame into tiles, gives
every tile `overlap` pixels of real context from its neighbours (never
invented padding), and cross-fades the overlapping outputs so no seam shows.
`TiledBackend` wraps any backend and does this only when it has to: on an
out-of-memory error it halves the tile and retries the same batch.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch

from vidrestore.backends.base import Backend
from vidrestore.errors import BackendUnavailable, UsageError

log = logging.getLogger(__name__)

MIN_TILE = 32  # below this, context outweighs the tile and shrinking stops helping
# Smaller frames and tiles are mirrored out to this before a model sees them: the
# exported graphs keep the mirrored padding the models chose at the traced size
# (SRN pads to a multiple of 16, the resamplers read a few pixels past each edge),
# and a network whose every pixel is border pixel sees mostly its zero padding.
MIN_SIDE = 16
# torch on CUDA, torch's CPU allocator (a RuntimeError, not torch.OutOfMemoryError), onnxruntime
_OOM_TEXTS = ("out of memory", "DefaultCPUAllocator: can't allocate memory", "Failed to allocate memory")


def check_tiling(tile: int, overlap: int) -> None:
    if tile < 8:
        raise UsageError(f"--tile must be at least 8 pixels, got {tile}")
    if not 0 <= overlap < tile:
        raise UsageError(f"tile overlap must be between 0 and the tile size minus 1 ({tile - 1}), got {overlap}")


def _spans(size: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """(core start, core end, context start, context end) along one axis.

    The cores split `size` into equal parts of at most `tile` pixels, so no
    tile is a thin leftover strip; context is clamped to the frame.
    """
    count = -(-size // tile)
    bounds = [i * size // count for i in range(count + 1)]
    return [(a, b, max(a - overlap, 0), min(b + overlap, size)) for a, b in zip(bounds, bounds[1:])]


def _weights(spans: list[tuple[int, int, int, int]], size: int, scale: int, overlap: int) -> list[torch.Tensor]:
    """Per-tile blending weights along one axis, in output pixels, summing to 1.

    Each weight ramps linearly across the middle half of the overlap band and
    is 0 in its outer half: the outermost context pixels, the ones that saw
    the tile's cut edge, feed their neighbours but never reach the output.
    """
    ramp = overlap * scale
    raw = []
    for a, b, lo, hi in spans:
        q = torch.arange(lo * scale, hi * scale, dtype=torch.float64) + 0.5
        w = torch.ones_like(q)
        if ramp and a > 0:
            w = torch.minimum(w, ((q - a * scale) / ramp + 0.5).clamp(0, 1))
        if ramp and b < size:
            w = torch.minimum(w, ((b * scale - q) / ramp + 0.5).clamp(0, 1))
        raw.append(w)
    total = torch.zeros(size * scale, dtype=torch.float64)
    for (_, _, lo, hi), w in zip(spans, raw):
        total[lo * scale : hi * scale] += w
    return [(w / total[lo * scale : hi * scale]).float() for (_, _, lo, hi), w in zip(spans, raw)]


def run_tiled(run: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, *, scale: int, tile: int, overlap: int) -> torch.Tensor:
    """`run` on tiles of at most tile x tile pixels of `batch` (N, C, H, W), blended.

    Each tile carries `overlap` pixels of context on every side the frame has
    them; all N frames of a tile go through `run` at once. A frame no larger
    than one tile is a single call, so its result is exactly `run(batch)`.
    """
    check_tiling(tile, overlap)
    h, w = batch.shape[-2:]
    if h <= tile and w <= tile:
        return run(batch)
    rows, cols = _spans(h, tile, overlap), _spans(w, tile, overlap)
    row_weights, col_weights = _weights(rows, h, scale, overlap), _weights(cols, w, scale, overlap)
    out: torch.Tensor | None = None
    for (_, _, top, bottom), wy in zip(rows, row_weights):
        for (_, _, left, right), wx in zip(cols, col_weights):
            piece = run(batch[..., top:bottom, left:right].contiguous())
            expected = ((bottom - top) * scale, (right - left) * scale)
            if tuple(piece.shape[-2:]) != expected:
                raise ValueError(f"model gave {tuple(piece.shape[-2:])} for a {bottom - top}x{right - left} tile; "
                                 f"x{scale} needs {expected}")
            if out is None:
                out = piece.new_zeros(*piece.shape[:-2], h * scale, w * scale)
            weight = (wy[:, None] * wx[None, :]).to(piece.device)
            out[..., top * scale : bottom * scale, left * scale : right * scale] += piece * weight
    assert out is not None  # at least two tiles ran
    return out


def run_at_least(run: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, min_side: int = MIN_SIDE) -> torch.Tensor:
    """`run(batch)` for a batch (N, C, H, W) whose sides are at least `min_side`. Along a
    shorter side, the frame is mirrored out by min_side / 2 pixels at both ends (symmetric
    edges, repeated as often as needed, as `ops.resize.imresize` reads past an edge, so the
    resamplers give exactly their own answer), and the middle of the result is cut back out:
    the model sees the frame as the middle of a picture rather than all border."""
    h, w = batch.shape[-2:]
    if h >= min_side and w >= min_side:
        return run(batch)
    margin = -(-min_side // 2)
    (top, rows), (left, cols) = (_mirrored(n, margin if n < min_side else 0, batch.device) for n in (h, w))
    padded = batch.index_select(-2, rows).index_select(-1, cols)
    out = run(padded)
    sy, sx = out.shape[-2] // padded.shape[-2], out.shape[-1] // padded.shape[-1]
    return out[..., top * sy : (top + h) * sy, left * sx : (left + w) * sx]


def _mirrored(n: int, margin: int, device: torch.device) -> tuple[int, torch.Tensor]:
    """(margin, indices) of n samples with `margin` more at each end: ..., 1, 0, 0, 1, ..., n-1, n-1, ..."""
    i = (torch.arange(n + 2 * margin, device=device) - margin) % (2 * n)
    return margin, torch.where(i < n, i, 2 * n - 1 - i)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch's and onnxruntime's out-of-memory errors."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # onnxruntime's errors derive from Exception, not RuntimeError.
    if isinstance(exc, RuntimeError) or type(exc).__module__.startswith("onnxruntime"):
        return any(text in str(exc) for text in _OOM_TEXTS)
    return False


class TiledBackend:
    """A backend that runs `backend` on whole frames or tiles, shrinking tiles on out-of-memory.

    `tile=None` starts with whole frames. The tile a retry settles on is kept
    for later batches: memory that ran out once will run out again.
    """

    def __init__(self, backend: Backend, *, scale: int, tile: int | None = None, overlap: int = 16) -> None:
        if tile is not None:
            check_tiling(tile, overlap)
        elif overlap < 0:
            raise UsageError(f"tile overlap must not be negative, got {overlap}")
        self.backend = backend
        self.name = backend.name
        self.device = backend.device
        self.scale = scale
        self.tile = tile
        self.overlap = overlap

    def run(self, batch: torch.Tensor) -> torch.Tensor:
        return self._retrying(self.backend.run, batch)

    def run_device(self, batch: torch.Tensor) -> torch.Tensor:
        return self._retrying(self.backend.run_device, batch)

    def _retrying(self, run: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor) -> torch.Tensor:
        while True:
            try:
                return self._run_once(run, batch)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                self._shrink(*batch.shape[-2:], exc)
            # Outside the except block, so the failed attempt's tensors are freed first.
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _run_once(self, run: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor) -> torch.Tensor:
        def padded(frames: torch.Tensor) -> torch.Tensor:  # a tiny frame, or a tiny tile of --tile 8
            return run_at_least(run, frames)

        if self.tile is None:
            return padded(batch)
        overlap = min(self.overlap, self.tile - 1)  # a shrunk tile may be smaller than the overlap
        return run_tiled(padded, batch, scale=self.scale, tile=self.tile, overlap=overlap)

    def _shrink(self, h: int, w: int, exc: BaseException) -> None:
        current = min(self.tile or max(h, w), max(h, w))
        smaller = max(MIN_TILE, current // 2 // 8 * 8)
        if smaller >= current:
            hint = "lower --batch or free memory" if self.device == "cpu" else "lower --batch, free memory on the device or use --device cpu"
            raise BackendUnavailable(f"out of memory on {self.device} even with --tile {current} on {w}x{h} frames; {hint}") from exc
        where = f"on whole {w}x{h} frames" if self.tile is None else f"with {self.tile}-pixel tiles"
        log.warning("out of memory %s; retrying with %d-pixel tiles", where, smaller)
        self.tile = smaller
