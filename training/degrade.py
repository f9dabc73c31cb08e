"""Realistic LR making for training on video sources: blur, noise, JPEG, H.264.

The stages follow the first-order degradation model of Real-ESRGAN (Wang et
al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure
Synthetic Data", ICCVW 2021): blur the HR image, downscale it, add noise,
compress. Each stage fires with its own probability; Real-ESRGAN's kernel
zoo, Poisson noise and second-order pass are left out, and H.264 is added
because our inputs are videos. With every probability at 0 the result is
exactly `photos.make_lr`.

1. Blur: isotropic Gaussian on the HR image, sigma in HR pixels.
2. Downscale: MATLAB bicubic, antialiased (`imresize`), as `make_lr`.
3. Noise: Gaussian, sigma in 8-bit code values; with `noise_gray_prob` the
   same noise goes on R, G and B, which is luma-only noise (the BT.601 Cb and
   Cr of an equal RGB offset are 0), otherwise each channel gets its own.
   The result is rounded to 8 bits, as a saved image or decoded frame is.
4. JPEG: Pillow, in memory, 4:2:0 chroma.
5. H.264: libx264 through PyAV, 8-bit limited-range BT.601 yuv420p with
   left-sited chroma (H.264's default), CRF rate control, preset veryfast;
   packets go straight from encoder to decoder, with no container or file.
   Most frames of a video are P- or B-frames: they inherit the artefacts of
   the frames they are predicted from and are quantised more coarsely than
   the I-frame (x264's ipratio), and a lone I-frame shows neither. So the
   patch is coded as a three-frame clip I, P, P that moves by a random
   sub-pixel step per frame (`H264_MOTION`) and ends on the patch itself;
   the last P-frame is kept, aligned with the HR patch. The earlier frames
   are resampled copies, so their noise moves with the picture instead of
   changing, which flatters the prediction a little. ultrafast is not used:
   it turns off the deblocking filter that real encodes keep on.
   Odd sizes are padded to even by edge replication and cropped back.

Edges: blur and the downscale read HR pixels beyond each LR pixel; at the
patch border those are mirrored, which a crop of a larger frame does not
see. Callers that care cut the HR patch with `margin` extra LR pixels on
each side (`context_margin` says how many make the blur and downscale match
degrading the whole frame) and pass ``margin=``; everything is applied to
the larger patch and the margin is cropped off the LR at the end. The codec
stages then see the margin too, so their block grid lands at an offset of
`margin` LR pixels in the returned patch.

Randomness: `Degradation.sample` draws a fixed number of values from the
caller's generator whatever fires (the noise gets its own seed), so the
caller's stream does not depend on the patch or on which stages ran; `apply`
is deterministic given those values (x264 runs single-threaded).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F

from vidrestore.frames import FrameBatch, PlaneFormat
from vidrestore.frames.color import planes_to_rgb, rgb_to_planes
from vidrestore.frames.pyav import planes_of, video_frame
from vidrestore.ops.resize import imresize
from vidrestore.training.photos import quantize8

H264_FRAMES = 3  # I, P, P: the kept frame is predicted from a P-frame, as most of a GOP is
H264_MOTION = 1.0  # largest per-frame motion along each axis, in LR pixels
_X264_PARAMS = "threads=1:bframes=0:scenecut=0:log=-1"  # deterministic, and frame types as planned
# Step 5's planes: how a decoder reads an H.264 stream that carries no colour tags.
_H264_PLANES = PlaneFormat("yuv420p", full_range=False, chroma_left=True, matrix="bt601")


@dataclass(frozen=True)
class Degradation:
    """Which stages may fire and the ranges their strengths are drawn from (uniformly)."""

    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.2, 1.5)  # HR pixels
    noise_prob: float = 0.5
    noise_sigma: tuple[float, float] = (1.0, 8.0)  # 8-bit code values
    noise_gray_prob: float = 0.4  # Real-ESRGAN's gray_noise_prob
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (50, 95)
    h264_prob: float = 0.3
    h264_crf: tuple[int, int] = (18, 35)

    def __post_init__(self) -> None:
        for name in ("blur_prob", "noise_prob", "noise_gray_prob", "jpeg_prob", "h264_prob"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        _check_range("blur_sigma", self.blur_sigma, lo=0, hi=None, integer=False, open_lo=True)
        _check_range("noise_sigma", self.noise_sigma, lo=0, hi=255, integer=False)
        _check_range("jpeg_quality", self.jpeg_quality, lo=1, hi=100, integer=True)
        _check_range("h264_crf", self.h264_crf, lo=0, hi=51, integer=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Degradation:
        """From a TOML table: same names as the fields, ranges as two-element arrays."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown degradation keys {unknown}; expected some of {names}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    def sample(self, rng: np.random.Generator) -> DegradationParams:
        """One draw of which stages fire and how strongly (always 12 values from `rng`)."""
        blur = rng.random() < self.blur_prob
        blur_sigma = rng.uniform(*self.blur_sigma)
        noise = rng.random() < self.noise_prob
        noise_sigma = rng.uniform(*self.noise_sigma)
        noise_gray = bool(rng.random() < self.noise_gray_prob)
        noise_seed = int(rng.integers(2**63))
        jpeg = rng.random() < self.jpeg_prob
        quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        h264 = rng.random() < self.h264_prob
        crf = int(rng.integers(self.h264_crf[0], self.h264_crf[1] + 1))
        motion = (float(rng.uniform(-H264_MOTION, H264_MOTION)), float(rng.uniform(-H264_MOTION, H264_MOTION)))
        return DegradationParams(
            blur_sigma=float(blur_sigma) if blur else None,
            noise_sigma=float(noise_sigma) if noise else None,
            noise_gray=noise_gray,
            noise_seed=noise_seed,
            jpeg_quality=quality if jpeg else None,
            h264_crf=crf if h264 else None,
            h264_motion=motion,
        )


@dataclass(frozen=True)
class DegradationParams:
    """One concrete degradation; None skips a stage."""

    blur_sigma: float | None = None
    noise_sigma: float | None = None
    noise_gray: bool = False
    noise_seed: int = 0
    jpeg_quality: int | None = None
    h264_crf: int | None = None
    h264_motion: tuple[float, float] = (0.0, 0.0)  # LR pixels per frame, (rows, columns)


def degrade(hr: torch.Tensor, scale: int, deg: Degradation, rng: np.random.Generator, *, margin: int = 0) -> torch.Tensor:
    """The degraded 8-bit LR of `hr` (3, H, W) RGB in [0, 1]: (3, H/scale - 2 margin, W/scale - 2 margin)."""
    return apply(hr, scale, deg.sample(rng), margin=margin)


def apply(hr: torch.Tensor, scale: int, params: DegradationParams, *, margin: int = 0) -> torch.Tensor:
    """`degrade` with the random draws already made."""
    _check_input(hr, scale, margin)
    h, w = hr.shape[-2] // scale, hr.shape[-1] // scale
    x = hr.float()
    if params.blur_sigma is not None:
        x = gaussian_blur(x, params.blur_sigma)
    lr = imresize(x, size=(h, w), kernel="bicubic", antialias=True)
    if params.noise_sigma is not None:
        lr = _add_noise(lr, params.noise_sigma, gray=params.noise_gray, seed=params.noise_seed)
    lr = quantize8(lr)
    if params.jpeg_quality is not None:
        lr = jpeg(lr, params.jpeg_quality)
    if params.h264_crf is not None:
        lr = h264(lr, params.h264_crf, params.h264_motion)
    if margin:
        lr = lr[:, margin:-margin, margin:-margin]
    return lr.contiguous()


def context_margin(deg: Degradation, scale: int) -> int:
    """LR pixels of context per side after which blur + downscale match the whole frame.

    The antialiased bicubic kernel reaches 2 LR pixels from an LR pixel's
    centre; a Gaussian of the largest sigma reaches `ceil(3 sigma)` HR pixels more.
    """
    radius = _blur_radius(deg.blur_sigma[1]) if deg.blur_prob > 0 else 0
    return 2 + math.ceil(radius / scale)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable isotropic Gaussian (truncated at 3 sigma) of (..., H, W), mirrored edges."""
    radius = _blur_radius(sigma)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x.dtype)
    for dim in (-2, -1):
        n = x.shape[dim]
        idx = _symmetric_index(n, radius).to(x.device)
        moved = x.index_select(dim, idx).movedim(dim, -1)
        lead = moved.shape[:-1]
        out = F.conv1d(moved.reshape(-1, 1, moved.shape[-1]), kernel.view(1, 1, -1))
        x = out.reshape(*lead, n).movedim(-1, dim)
    return x


def jpeg(lr: torch.Tensor, quality: int) -> torch.Tensor:
    """(3, H, W) 8-bit RGB through a JPEG file of `quality` (4:2:0), in memory."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_to_uint8(lr).transpose(1, 2, 0)).save(buf, format="JPEG", quality=quality, subsampling=2)
    buf.seek(0)
    with Image.open(buf) as im:
        rgb = np.array(im.convert("RGB"))
    return torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0


def h264(lr: torch.Tensor, crf: int, motion: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """(3, H, W) 8-bit RGB as the last P-frame of a short moving H.264 clip (see the module doc)."""
    _, h, w = lr.shape
    x = F.pad(lr[None], (0, w % 2, 0, h % 2), mode="replicate")[0]
    clip = torch.stack([_shift(x, (k * motion[0], k * motion[1])) for k in range(H264_FRAMES - 1, -1, -1)])
    last = _encode_decode(rgb_to_planes(clip, _H264_PLANES, list(range(H264_FRAMES))), crf)
    return quantize8(planes_to_rgb(last)[0])[:, :h, :w]


def _encode_decode(clip: FrameBatch, crf: int) -> FrameBatch:
    """`clip` through libx264 and back; only its last frame is needed, returned as a batch of one."""
    w, h = clip.size
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = w, h, clip.fmt.pix_fmt
    enc.time_base, enc.framerate = Fraction(1, 25), Fraction(25)
    enc.thread_count = 1
    enc.options = {"crf": str(crf), "preset": "veryfast", "x264-params": _X264_PARAMS}
    packets: list[av.Packet] = []
    for luma, chroma, pts in zip(clip.luma, clip.chroma, clip.pts, strict=True):
        frame = video_frame(luma, chroma, clip.fmt)
        frame.pts = pts
        packets += enc.encode(frame)
    packets += enc.encode(None)
    dec = av.CodecContext.create("h264", "r")
    dec.thread_count = 1
    decoded = [frame for packet in [*packets, None] for frame in dec.decode(packet)]
    if len(decoded) != len(clip):
        raise RuntimeError(f"libx264 round trip returned {len(decoded)} frames for {len(clip)}")
    luma, chroma = planes_of(decoded[-1], clip.fmt)
    return FrameBatch(luma[None], chroma[None], clip.pts[-1:], clip.fmt)


def _shift(x: torch.Tensor, offset: tuple[float, float]) -> torch.Tensor:
    """Content moved by a sub-pixel offset (bicubic, mirrored edges)."""
    if offset == (0.0, 0.0):
        return x
    return imresize(x, size=tuple(x.shape[-2:]), shift=(-offset[0], -offset[1])).clamp(0, 1)


def _add_noise(lr: torch.Tensor, sigma: float, *, gray: bool, seed: int) -> torch.Tensor:
    shape = (1, *lr.shape[1:]) if gray else tuple(lr.shape)
    noise = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    return lr + torch.from_numpy(noise) * (sigma / 255.0)


def _blur_radius(sigma: float) -> int:
    return max(1, math.ceil(3 * sigma))


def _symmetric_index(n: int, radius: int) -> torch.Tensor:
    """Indices of a length-n axis padded by `radius` on both sides, mirrored as MATLAB's 'symmetric'."""
    raw = np.arange(-radius, n + radius)
    mirror = np.concatenate([np.arange(n), np.arange(n - 1, -1, -1)])
    return torch.from_numpy(mirror[np.mod(raw, 2 * n)])


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()


def _check_input(hr: torch.Tensor, scale: int, margin: int) -> None:
    if hr.dim() != 3 or hr.shape[0] != 3 or not hr.is_floating_point():
        raise ValueError(f"hr must be a float (3, H, W) RGB tensor, got {hr.dtype} {tuple(hr.shape)}")
    if scale < 1 or hr.shape[1] % scale or hr.shape[2] % scale:
        raise ValueError(f"hr size {tuple(hr.shape[1:])} is not a multiple of scale {scale}")
    if margin < 0 or min(hr.shape[1:]) // scale <= 2 * margin:
        raise ValueError(f"margin {margin} leaves no LR pixels of a {tuple(hr.shape[1:])} patch at x{scale}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(name: str, value: Any, *, lo: float, hi: float | None, integer: bool, open_lo: bool = False) -> None:
    kind = "integers" if integer else "numbers"
    ok = isinstance(value, tuple) and len(value) == 2
    ok = ok and all(isinstance(v, int) if integer else _is_number(v) for v in value)
    ok = ok and all(not isinstance(v, bool) for v in value)
    if not ok:
        raise ValueError(f"{name} must be two {kind} [low, high], got {value!r}")
    low, high = value
    bad_lo = low <= lo if open_lo else low < lo
    if bad_lo or low > high or (hi is not None and high > hi):
        limits = f"{'>' if open_lo else '>='} {lo}" + (f" and <= {hi}" if hi is not None else "")
        raise ValueError(f"{name} must satisfy low <= high, both {limits}; got {list(value)}")
