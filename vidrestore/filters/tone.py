"""Tone curves: gamma, log, histogram equalisation and CLAHE.

All work on (N, 3, H, W) R'G'B' float tensors in [0, 1], frame by frame.
Histograms have 256 bins (8-bit code values); the mappings are interpolated
between bins, so 10-bit frames keep their finer steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidrestore.ops.color import Matrix, rgb_to_ycbcr, ycbcr_to_rgb

BINS = 256
# Upper bounds of the parameters: beyond them a curve is a step, and inf or nan
# (1e309 parses to inf) would turn every pixel into nan.
MAX_GAMMA = 10.0
MAX_GAIN = 10.0
MAX_CLIP = 100.0
MAX_TILES = 64  # the grid is padded to tiles x tiles regions of at least one pixel each


def gamma(rgb: torch.Tensor, g: float) -> torch.Tensor:
    """x ** g: g < 1 brightens the shadows, g > 1 darkens them, 1 changes nothing."""
    if not 0 < g <= MAX_GAMMA:
        raise ValueError(f"gamma must be positive and at most {MAX_GAMMA:g}, got {g:g}")
    return rgb.clamp(0.0, 1.0).pow(g)


def log_curve(rgb: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """gain * log2(1 + x): lifts dark tones, compresses bright ones; maps 0 -> 0 and 1 -> gain."""
    if not 0 < gain <= MAX_GAIN:
        raise ValueError(f"log gain must be positive and at most {MAX_GAIN:g}, got {gain:g}")
    return (gain * torch.log2(1.0 + rgb.clamp(0.0, 1.0))).clamp(0.0, 1.0)


def _histograms(planes: torch.Tensor) -> torch.Tensor:
    """(P, L) values in [0, 1] -> (P, BINS) counts of their 8-bit codes."""
    p = planes.shape[0]
    codes = (planes * (BINS - 1)).round().clamp(0, BINS - 1).long()
    index = codes + torch.arange(p, device=planes.device)[:, None] * BINS
    return torch.bincount(index.reshape(-1), minlength=p * BINS).reshape(p, BINS).to(planes.dtype)


def _apply_lut(planes: torch.Tensor, luts: torch.Tensor) -> torch.Tensor:
    """Look up (P, L) values in per-plane curves (P, BINS), linear between bins."""
    pos = planes.clamp(0.0, 1.0) * (BINS - 1)
    lo = pos.floor().long().clamp(max=BINS - 2)
    frac = pos - lo
    return torch.gather(luts, 1, lo) * (1 - frac) + torch.gather(luts, 1, lo + 1) * frac


def equalize(rgb: torch.Tensor) -> torch.Tensor:
    """Histogram equalisation of each channel of each frame.

    The mapping is the channel's cumulative histogram, stretched so that the
    darkest code present goes to 0 and the brightest to 1 (as OpenCV's
    equalizeHist does). A flat channel is left as it is.
    """
    n, c, h, w = rgb.shape
    planes = rgb.reshape(n * c, h * w).clamp(0.0, 1.0)
    cdf = _histograms(planes).cumsum(dim=1)
    first = torch.where(cdf > 0, cdf, cdf[:, -1:]).min(dim=1, keepdim=True).values  # pixels at the lowest code
    span = cdf[:, -1:] - first
    flat = span <= 0
    luts = (cdf - first).clamp(min=0) / torch.where(flat, torch.ones_like(span), span)
    out = _apply_lut(planes, luts)
    out = torch.where(flat, planes, out)
    return out.reshape(n, c, h, w)


def clahe(rgb: torch.Tensor, matrix: Matrix, clip: float = 2.0, tiles: int = 8) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation of luma (Zuiderveld,
    Graphics Gems IV, 1994), chroma untouched.

    The frame is cut into tiles x tiles regions; each region's histogram is
    clipped at `clip` times its mean bin count (the excess spread evenly over
    all bins, which bounds the curve's slope and so the noise gain), turned
    into a mapping, and every pixel blends the mappings of the four nearest
    region centres bilinearly, so no seams show. `clip` and `tiles` mean what
    OpenCV's clipLimit and tileGridSize (tiles x tiles) mean.
    """
    if not 0 < clip <= MAX_CLIP:
        raise ValueError(f"the clip limit must be positive and at most {MAX_CLIP:g}, got {clip:g}")
    if not 1 <= tiles <= MAX_TILES:
        raise ValueError(f"tiles must be from 1 to {MAX_TILES}, got {tiles}")
    ycc = rgb_to_ycbcr(rgb.clamp(0.0, 1.0), matrix)
    y = ycc[:, 0]
    n, h, w = y.shape
    # Pad (mirrored) to a multiple of the grid, as OpenCV does, so every region is equal.
    th, tw = -(-h // tiles), -(-w // tiles)
    ph, pw = th * tiles - h, tw * tiles - w
    padded = F.pad(y[:, None], (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")[:, 0]
    regions = padded.reshape(n, tiles, th, tiles, tw).permute(0, 1, 3, 2, 4).reshape(n * tiles * tiles, th * tw)
    hist = _histograms(regions)
    limit = max(clip * th * tw / BINS, 1.0)
    excess = (hist - limit).clamp(min=0).sum(dim=1, keepdim=True)
    hist = hist.clamp(max=limit) + excess / BINS
    luts = (hist.cumsum(dim=1) / (th * tw)).reshape(n, tiles, tiles, BINS)

    # Each pixel's position among the region centres, and its four neighbours.
    def axis(length: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = (torch.arange(length, dtype=rgb.dtype, device=rgb.device) + 0.5) / size - 0.5
        lo = t.floor().clamp(0, tiles - 1)
        frac = (t - lo).clamp(0, 1) if tiles > 1 else torch.zeros_like(t)
        return lo.long(), (lo + 1).clamp(max=tiles - 1).long(), frac

    r0, r1, fy = axis(h, th)
    c0, c1, fx = axis(w, tw)
    codes = y.clamp(0, 1) * (BINS - 1)
    lo = codes.floor().long().clamp(max=BINS - 2)
    fv = codes - lo
    batch = torch.arange(n, device=rgb.device)[:, None, None]

    flat = luts.reshape(-1)

    def look(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        at = ((batch * tiles + rows[None, :, None]) * tiles + cols[None, None, :]) * BINS + lo
        return flat[at] * (1 - fv) + flat[at + 1] * fv

    fy, fx = fy[None, :, None], fx[None, None, :]
    top = look(r0, c0) * (1 - fx) + look(r0, c1) * fx
    bottom = look(r1, c0) * (1 - fx) + look(r1, c1) * fx
    ycc = torch.cat(((top * (1 - fy) + bottom * fy)[:, None], ycc[:, 1:]), dim=1)
    return ycbcr_to_rgb(ycc, matrix).clamp(0.0, 1.0)
