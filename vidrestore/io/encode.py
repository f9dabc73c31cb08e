"""Video encoders: which ones exist, how their quality knobs map, and writing frames."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import av
import numpy as np

from vidrestore.errors import UsageError
from vidrestore.frames import PLANAR_FORMATS, FrameBatch, PlaneFormat, StreamFormat
from vidrestore.frames.pyav import video_frame

log = logging.getLogger(__name__)

_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
# x264-style names to SVT-AV1's 0 (slowest) .. 13 (fastest) and NVENC's p1 (fastest) .. p7.
_SVT_PRESETS = dict(zip(_X264_PRESETS, ("12", "11", "10", "9", "8", "7", "5", "4", "3", "2")))
_NVENC_PRESETS = dict(zip(_X264_PRESETS, ("p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7", "p7")))


def _x26x(crf: int | None, preset: str | None, default_crf: int) -> dict[str, str]:
    if preset is not None and preset not in _X264_PRESETS:
        raise UsageError(f"unknown preset {preset!r}; expected one of {', '.join(_X264_PRESETS)}")
    return {"crf": str(default_crf if crf is None else crf), "preset": preset or "medium"}


def _svtav1(crf: int | None, preset: str | None) -> dict[str, str]:
    # SVT-AV1 prints its banner and settings straight to stderr unless told otherwise.
    os.environ.setdefault("SVT_LOG", "1")
    if preset is not None and not preset.isdigit() and preset not in _SVT_PRESETS:
        raise UsageError(f"unknown preset {preset!r}; expected 0-13 or one of {', '.join(_X264_PRESETS)}")
    value = preset if preset is None or preset.isdigit() else _SVT_PRESETS[preset]
    return {"crf": str(30 if crf is None else crf), "preset": value or "8"}


def _nvenc(crf: int | None, preset: str | None) -> dict[str, str]:
    if preset is not None and preset not in _NVENC_PRESETS and preset not in {f"p{i}" for i in range(1, 8)}:
        raise UsageError(f"unknown preset {preset!r}; expected p1-p7 or one of {', '.join(_X264_PRESETS)}")
    value = _NVENC_PRESETS.get(preset, preset) if preset else "p5"
    return {"rc": "vbr", "cq": str(21 if crf is None else crf), "b": "0", "preset": value}


def _ffv1(crf: int | None, preset: str | None) -> dict[str, str]:
    if crf is not None or preset is not None:
        log.warning("ffv1 is lossless: --crf and --preset are ignored")
    return {"level": "3", "slicecrc": "1", "slices": "4", "g": "1"}


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    format_codec: str  # the codec name containers know it by
    options: Callable[[int | None, str | None], dict[str, str]]
    crf_range: tuple[int, int] | None


ENCODERS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec("libx264", "h264", lambda c, p: _x26x(c, p, 18), (0, 51)),
        EncoderSpec("libx265", "hevc", lambda c, p: {**_x26x(c, p, 20), "x265-params": "log-level=error"}, (0, 51)),
        EncoderSpec("libsvtav1", "av1", _svtav1, (0, 63)),
        EncoderSpec("ffv1", "ffv1", _ffv1, None),
        EncoderSpec("h264_nvenc", "h264", _nvenc, (0, 51)),
        EncoderSpec("hevc_nvenc", "hevc", _nvenc, (0, 51)),
        EncoderSpec("av1_nvenc", "av1", _nvenc, (0, 51)),
    )
}


@dataclass(frozen=True)
class EncodeOptions:
    codec: str = "libx264"
    crf: int | None = None
    preset: str | None = None

    def __post_init__(self) -> None:
        spec = ENCODERS.get(self.codec)
        if spec is None:
            raise UsageError(f"unknown codec {self.codec!r}; available: {', '.join(ENCODERS)}")
        if self.crf is not None and spec.crf_range is not None:
            low, high = spec.crf_range
            if not low <= self.crf <= high:
                raise UsageError(f"--crf {self.crf} is out of range for {self.codec} ({low}-{high})")
        spec.options(self.crf, self.preset)  # validates the preset

    @property
    def spec(self) -> EncoderSpec:
        return ENCODERS[self.codec]


def check_encoder_usable(codec: str) -> None:
    """Fail early for encoders this build or machine cannot run (NVENC without a GPU)."""
    try:
        av.Codec(codec, "w")
    except av.error.FFmpegError:
        raise UsageError(f"encoder {codec} is not in this FFmpeg build") from None
    except ValueError:
        raise UsageError(f"encoder {codec} is not in this FFmpeg build") from None
    if "nvenc" in codec:
        try:
            ctx = av.CodecContext.create(codec, "w")
            ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
            ctx.time_base = Fraction(1, 25)
            ctx.open()
        except av.error.FFmpegError:
            raise UsageError(f"encoder {codec} needs an NVIDIA GPU with NVENC, and none is usable here; use libx264, libx265 or libsvtav1") from None


def choose_pix_fmt(codec: str, fmt: PlaneFormat) -> str:
    """The encoder's pixel format closest to the pipeline's: same layout if it can, else 4:2:0 at the nearest depth."""
    supported = {f.name for f in (av.Codec(codec, "w").video_formats or ())}
    if not supported or fmt.pix_fmt in supported:
        return fmt.pix_fmt
    depth = fmt.bit_depth
    for candidate in ("yuv420p10le", "yuv420p") if depth > 8 else ("yuv420p", "yuv420p10le"):
        if candidate in supported:
            return candidate
    return sorted(supported)[0]


class VideoEncoder:
    """Encodes planar frames into a stream of an open output container."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        options: EncodeOptions,
        *,
        width: int,
        height: int,
        stream: StreamFormat,
        time_base: Fraction,
        rate: Fraction,
        metadata: dict[str, str],
    ) -> None:
        self.container = container
        fmt = self.fmt = stream.plane
        self.size = (width, height)
        self.pix_fmt = choose_pix_fmt(options.codec, fmt)
        if self.pix_fmt != fmt.pix_fmt:
            log.warning("%s cannot encode %s; writing %s", options.codec, fmt.pix_fmt, self.pix_fmt)
        self.stream = container.add_stream(options.codec, rate=rate, options=options.spec.options(options.crf, options.preset))
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = self.pix_fmt
        self.stream.time_base = time_base
        self.stream.codec_context.time_base = time_base
        # Frames keep the input's time base: the muxer may replace the stream's
        # (mp4 raises 1/1000 to 1/16000) once the header is written.
        self.time_base = time_base
        self.stream.thread_type = "AUTO"
        self.color = stream.color
        if stream.color is not None:
            ctx = self.stream.codec_context
            ctx.color_primaries, ctx.color_trc = stream.color.primaries, stream.color.transfer
            ctx.colorspace, ctx.color_range = stream.color.matrix, stream.color.range
        if stream.rotation:
            self.stream.set_display_rotation(stream.rotation)
        for key, value in metadata.items():
            self.stream.metadata[key] = value
        self.frames = 0

    def encode(self, batch: FrameBatch) -> None:
        for i, pts in enumerate(batch.pts):
            frame = self._frame(batch.luma[i], batch.chroma[i])
            frame.pts = pts
            frame.time_base = self.time_base
            self.container.mux(self.stream.encode(frame))
            self.frames += 1

    def flush(self) -> None:
        self.container.mux(self.stream.encode(None))

    def _frame(self, luma: np.ndarray, chroma: np.ndarray) -> av.VideoFrame:
        frame = video_frame(luma, chroma, self.fmt, self.color)
        if self.pix_fmt != self.fmt.pix_fmt:
            frame = frame.reformat(format=self.pix_fmt)
        return frame


def even_size(width: int, height: int, fmt: PlaneFormat) -> tuple[int, int]:
    """The largest size <= (width, height) that the layout's chroma subsampling allows."""
    sx, sy = PLANAR_FORMATS[fmt.pix_fmt][:2]
    return width - (width % (1 << sx)), height - (height % (1 << sy))
