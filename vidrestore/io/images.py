"""Still images: read into the pipeline's planar form, and back.

An RGB image becomes full-range BT.601 YCbCr 4:4:4 (JPEG's convention), so
images go through exactly the processors that video frames do. 8-bit images
get 10-bit planes: 8-bit R'G'B' survives the trip to Y'CbCr and back exactly,
and filters that steepen tones (gamma, sharpening) do not magnify a rounding
step of the detour.

16-bit and float images get 16-bit planes and are written back at 16 bits
to PNG and TIFF. Pillow reads 16-bit grey and float grey exactly but 16-bit colour
only as 8-bit, so 16-bit colour (and float colour TIFF, which Pillow cannot
open) is decoded by FFmpeg. What neither reads right is refused.
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from vidrestore.errors import InputError, UsageError
from vidrestore.io.paths import check_readable_file
from vidrestore.ops.resize import imresize
from vidrestore.frames import FrameBatch, PlaneFormat

log = logging.getLogger(__name__)

IMAGE_FORMAT = PlaneFormat(pix_fmt="yuv444p10le", full_range=True, chroma_left=False)
DEEP_FORMAT = PlaneFormat(pix_fmt="yuv444p16le", full_range=True, chroma_left=False)
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
_WITH_ALPHA = ("PNG", "WEBP", "TIFF")
# Formats written at 16 bits, by FFmpeg's encoders, and their byte orders.
_DEEP_CODECS = {"PNG": ("png", "be"), "TIFF": ("tiff", "le")}
# Pillow modes it reads 8-bit images into, all of which convert to RGB without loss of meaning.
_EIGHT_BIT_MODES = frozenset({"1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "LA", "La", "PA", "CMYK", "YCbCr", "LAB", "HSV"})
_GREY16_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
# Image.transpose methods that undo each EXIF orientation, as numpy on (H, W, ...) arrays.
_ORIENTATIONS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


Depth = Literal["8-bit", "16-bit", "float"]  # what a source holds per sample


@dataclass(frozen=True)
class Picture:
    """An image as the pipeline takes it, and what writing it back needs."""

    batch: FrameBatch  # one frame: IMAGE_FORMAT planes, DEEP_FORMAT for 16-bit and float sources
    alpha: np.ndarray | None  # (H, W) float32 in [0, 1]
    depth: Depth
    grey: bool = False  # a one-channel 16-bit or float source, written back as one channel

    def __post_init__(self) -> None:
        if self.depth not in get_args(Depth):
            raise ValueError(f"unknown image depth {self.depth!r}; expected one of {get_args(Depth)}")

    @property
    def deep(self) -> bool:
        return self.depth != "8-bit"


_Samples = tuple[np.ndarray, "np.ndarray | None", Depth, bool]  # values (H, W[, 3]) and alpha in [0, 1], depth, grey


def read_rgb(path: Path) -> tuple[torch.Tensor, np.ndarray | None, Depth, bool]:
    """The image's R'G'B' as (3, H, W) float32 in [0, 1] (grey repeated in all three), at the
    precision its file holds, upright (EXIF orientation applied); with its alpha channel, depth
    and whether it is grey. Bad or hostile files are one `InputError`."""
    check_readable_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            values, alpha, depth, grey = _read(path)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, _ffmpeg_error()) as exc:
            raise InputError(f"{path}: not an image Pillow can read ({exc})") from None
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            continue  # `_open` has refused such images already
        if "PIL" in Path(w.filename).parts:  # odd EXIF and the like: one line, not Python's two
            log.warning("%s: %s", path, w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    t = torch.from_numpy(np.ascontiguousarray(values))
    t = t.permute(2, 0, 1) if t.ndim == 3 else t[None].expand(3, -1, -1)
    return t, alpha, depth, grey


def read_image(path: Path) -> Picture:
    """The image as a one-frame batch, with its alpha channel if it has one."""
    from vidrestore.frames.color import rgb_to_planes

    rgb, alpha, depth, grey = read_rgb(path)
    fmt = IMAGE_FORMAT if depth == "8-bit" else DEEP_FORMAT
    # JPEG's full-range BT.601 levels: neutral chroma is half-way (code 128 at 8 bits, 512 at 10).
    return Picture(rgb_to_planes(rgb[None], fmt, [0]), alpha, depth, grey)


def _read(path: Path) -> _Samples:
    try:
        img = _open(path)
    except UnidentifiedImageError:
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise
        try:  # float colour TIFF: Pillow has no mode for it, FFmpeg's decoder reads it
            return _decode(path, orientation=1)
        except (_ffmpeg_error(), StopIteration):
            pass
        raise
    with img:
        frames = getattr(img, "n_frames", 1)
        if frames > 1:
            kind = "pages" if img.format == "TIFF" else "frames (animated)"
            log.warning("%s: %d %s; only the first is processed", path, frames, kind)
        if img.mode in ("RGB", "RGBA", "LA") and ";16" in _raw_mode(img):
            return _decode(path, orientation=img.getexif().get(0x0112, 1))
        if img.mode in _EIGHT_BIT_MODES:
            return _eight_bit(img)
        return _deep_grey(path, img)


def pixel_limit() -> int | None:
    """The most pixels an image may claim: where Pillow's decompression-bomb check turns from a
    warning into an error (about 179 million; a 100-megapixel photo is fine)."""
    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None


def _open(path: Path) -> Image.Image:
    """Pillow's image of `path`, its size checked against `pixel_limit` before any pixel is decoded."""
    limit = pixel_limit()
    try:
        img = Image.open(path)
    except Image.DecompressionBombError as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        raise InputError(_too_large(path, int(claimed.group(1)) if claimed else None, limit)) from None
    if limit and img.width * img.height > limit:
        img.close()
        raise InputError(_too_large(path, img.width * img.height, limit))
    return img


def _too_large(path: Path, pixels: int | None, limit: int | None) -> str:
    claimed = f"{pixels:,} pixels" if pixels is not None else "too many pixels"
    return (f"{path}: {claimed}, more than the {limit:,} vidrestore reads (Pillow's decompression-bomb error limit); "
            "a damaged file, or one made to exhaust memory")


def _raw_mode(img: Image.Image) -> str:
    """How the file stores its samples (PNG "RGB;16B", TIFF "RGBA;16N"), where Pillow says."""
    if not img.tile:
        return ""
    args = img.tile[0].args
    raw = args[0] if isinstance(args, tuple) and args else args
    return raw if isinstance(raw, str) else ""


def _eight_bit(img: Image.Image) -> _Samples:
    img = ImageOps.exif_transpose(img)
    if img.mode in ("P", "PA", "LA") or "transparency" in img.info:
        img = img.convert("RGBA")  # palette/grey transparency becomes a real alpha band
    alpha = np.asarray(img.getchannel("A"), dtype=np.float32) / 255 if "A" in img.getbands() else None
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255, alpha, "8-bit", False


def _deep_grey(path: Path, img: Image.Image) -> _Samples:
    """Pillow's 16-bit and float grey modes, values kept."""
    orientation = img.getexif().get(0x0112, 1)
    if img.mode == "F":
        values = _in_unit_range(path, np.asarray(img, dtype=np.float32))
        return _oriented(values, orientation), None, "float", True
    if not (img.mode in _GREY16_MODES or (img.mode == "I" and _stored_bits(img) == 16)):
        if img.mode == "I":
            raise InputError(f"{path}: 32-bit integer samples are not supported; save it with 16-bit or float samples")
        raise InputError(f"{path}: samples of Pillow's mode {img.mode} are not supported; save it as 8 or 16-bit RGB or grey")
    raw = np.asarray(img).astype(np.int64)
    alpha = None
    if isinstance(img.info.get("transparency"), int):  # PNG's tRNS: one grey level marks transparent pixels
        alpha = _oriented((raw != img.info["transparency"]).astype(np.float32), orientation)
    return _oriented(raw.astype(np.float32) / 65535, orientation), alpha, "16-bit", True


def _stored_bits(img: Image.Image) -> int:
    """Bits per sample in the file: a TIFF says; Pillow reads only 16-bit PNG grey as mode I."""
    bits = getattr(img, "tag_v2", {}).get(258)
    if bits is None:
        return 16 if img.format == "PNG" else 32
    return int(bits[0] if isinstance(bits, tuple) else bits)


def _ffmpeg_error() -> type[Exception]:
    """PyAV's error type. PyAV is imported only for what Pillow cannot do alone (16-bit colour
    and float files), so 8-bit images and grey ones read where PyAV is missing (a training box)."""
    try:
        import av
    except ImportError:
        return OSError
    return av.error.FFmpegError


def _decode(path: Path, *, orientation: int) -> _Samples:
    """16-bit colour or grey + alpha PNG/TIFF and float colour TIFF, by FFmpeg's decoders."""
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    limit = pixel_limit()
    if limit and frame.width * frame.height > limit:
        raise InputError(_too_large(path, frame.width * frame.height, limit))
    components = frame.format.components
    alpha = any(c.is_alpha for c in components)
    grey = sum(not c.is_alpha for c in components) == 1
    if "f32" in frame.format.name or "f16" in frame.format.name:
        samples = _in_unit_range(path, frame.reformat(format="rgbaf32le" if alpha else "rgbf32le").to_ndarray())
        depth = "float"
    else:
        target = "rgba64le" if alpha else ("gray16le" if grey else "rgb48le")
        samples = frame.reformat(format=target).to_ndarray().astype(np.float32) / 65535
        depth = "16-bit" if max(c.bits for c in components) > 8 else "8-bit"
    samples = _oriented(samples, orientation)
    values = samples[..., 0] if grey and alpha else (samples[..., :3] if alpha else samples)
    return values, samples[..., 3] if alpha else None, depth, grey and depth != "8-bit"


def _in_unit_range(path: Path, values: np.ndarray) -> np.ndarray:
    """Float samples as they mean: 0 black, 1 white; beyond that clipped, with a warning."""
    if not np.isfinite(values).all():
        raise InputError(f"{path}: float samples include NaN or infinity")
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 1:
        log.warning("%s: float samples from %g to %g were clipped to 0..1", path, lo, hi)
        values = values.clip(0, 1)
    return values.astype(np.float32)


def _oriented(values: np.ndarray, orientation: int) -> np.ndarray:
    """`values` (H, W[, C]) turned upright as its EXIF orientation says (ImageOps.exif_transpose's way)."""
    turn = _ORIENTATIONS.get(orientation)
    return np.ascontiguousarray(turn(values)) if turn else values


def resize_alpha(alpha: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An alpha channel in [0, 1] resized to `size` (width, height), bicubic."""
    out = imresize(torch.from_numpy(np.ascontiguousarray(alpha, dtype=np.float32))[None], (size[1], size[0]), kernel="bicubic")[0]
    return out.clamp_(0, 1).numpy()


def to_rgb(batch: FrameBatch, bits: int = 8) -> np.ndarray:
    """(H, W, 3) RGB of a one-frame full-range 4:4:4 batch, uint8 or (bits 16) uint16."""
    from vidrestore.frames.color import planes_to_rgb

    top = (1 << bits) - 1
    rgb = planes_to_rgb(batch)[0].mul_(top).round_().clamp_(0, top).permute(1, 2, 0)
    return rgb.to(torch.uint8).numpy() if bits == 8 else rgb.to(torch.int32).numpy().astype(np.uint16)


def _grey16(batch: FrameBatch) -> np.ndarray:
    """(H, W) uint16 grey of a full-range batch: its Y' plane, rescaled to 16 bits."""
    top = (1 << batch.fmt.bit_depth) - 1
    return np.round(batch.luma[0].astype(np.float64) * (65535 / top)).astype(np.uint16)


def check_image_suffix(path: Path) -> None:
    if path.suffix.lower() not in _SAVE_FORMATS:
        raise UsageError(f"cannot write {path.suffix or 'files without an extension'}; image extensions: {', '.join(sorted(_SAVE_FORMATS))}")


def write_image(path: Path, picture: Picture, *, format_suffix: str, shown_as: Path | None = None) -> None:
    """`picture` as the format of `format_suffix`; what the format cannot hold (alpha, 16 bits)
    is dropped with a warning naming `shown_as` (default `path`)."""
    fmt = _SAVE_FORMATS[format_suffix.lower()]
    name = shown_as or path
    alpha = picture.alpha
    if alpha is not None and fmt not in _WITH_ALPHA:
        if (alpha < 254.5 / 255).any():  # an opaque alpha channel loses nothing
            log.warning("%s: %s has no alpha channel; the transparency is dropped", name, fmt)
        alpha = None
    if picture.deep and fmt in _DEEP_CODECS:
        _write_deep(path, picture, alpha, *_DEEP_CODECS[fmt])
        return
    if picture.deep:
        log.warning("%s: %s holds 8 bits per sample; the %s picture is written with 8 (write .png or .tif to keep 16)",
                    name, fmt, picture.depth)
    img = Image.fromarray(to_rgb(picture.batch), "RGB")
    if alpha is not None:
        img.putalpha(Image.fromarray(np.round(alpha * 255).astype(np.uint8), "L"))
    options = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}.get(fmt, {})
    img.save(path, format=fmt, **options)


def _write_deep(path: Path, picture: Picture, alpha: np.ndarray | None, codec: str, order: str) -> None:
    """16 bits per sample by FFmpeg's encoder: grey or RGB, with alpha if there is one."""
    import av

    if picture.grey:
        samples, layout = _grey16(picture.batch)[..., None], "gray16" if alpha is None else "ya16"
    else:
        samples, layout = to_rgb(picture.batch, 16), "rgb48" if alpha is None else "rgba64"
    if alpha is not None:
        samples = np.concatenate([samples, np.round(alpha * 65535).astype(np.uint16)[..., None]], axis=-1)
    pix_fmt = f"{layout}{order}"
    if layout == "ya16":  # PyAV has no numpy conversion for it: fill the packed plane
        frame = av.VideoFrame(samples.shape[1], samples.shape[0], pix_fmt)
        plane = frame.planes[0]
        rows = np.frombuffer(plane, dtype=f"{'>' if order == 'be' else '<'}u2").reshape(-1, plane.line_size // 2)
        rows[: samples.shape[0], : 2 * samples.shape[1]] = samples.reshape(samples.shape[0], -1)
    else:
        frame = av.VideoFrame.from_ndarray(samples[..., 0] if layout == "gray16" else samples, format=pix_fmt)
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = frame.width, frame.height, pix_fmt, Fraction(1, 1)
    path.write_bytes(b"".join(bytes(packet) for packet in [*ctx.encode(frame), *ctx.encode(None)]))
