"""Tiny media files built with PyAV for the tests, and ways to read them back.

Everything is written into a folder the test owns (its `tmp_path`); nothing
here reads shared data. Frames carry a moving pattern, so encoders have real
work to do and every frame differs from its neighbours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

# Layout of the planar formats the tests write: (chroma x shift, chroma y shift, bytes per sample).
_PLANAR = {
    "yuv420p": (1, 1, 1),
    "yuvj420p": (1, 1, 1),
    "yuv422p": (1, 0, 1),
    "yuv444p": (0, 0, 1),
    "yuv420p10le": (1, 1, 2),
}

_EXTENSION_FORMATS = {".mp4": "mp4", ".m4a": "mp4", ".mkv": "matroska", ".webm": "webm", ".mov": "mov"}


@dataclass(frozen=True)
class Audio:
    """An audio stream to add: `seconds` of a sine tone, encoded with `codec`."""

    codec: str = "aac"
    rate: int = 48000
    layout: str = "stereo"
    seconds: float | None = None  # default: as long as the video
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Subtitles:
    """A SubRip stream: (start s, duration s, text) cues."""

    cues: Sequence[tuple[float, float, str]] = ((0.0, 0.2, "Hello"), (0.24, 0.12, "World"))
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Color:
    """FFmpeg's colour codes: AVColorPrimaries, AVColorTransferCharacteristic, AVColorSpace, AVColorRange."""

    primaries: int = 1  # bt709
    trc: int = 1
    space: int = 1
    range: int = 1  # 1 limited (MPEG), 2 full (JPEG)


def pattern(index: int, width: int, height: int, pix_fmt: str) -> list[np.ndarray]:
    """Y, Cb, Cr planes of frame `index`: diagonal ramps that move a few pixels a frame."""
    sx, sy, nbytes = _PLANAR[pix_fmt]
    top = 1023 if nbytes == 2 else 255
    lo, hi = (64, 940) if nbytes == 2 else (16, 235)
    yy, xx = np.mgrid[:height, :width]
    luma = lo + (hi - lo) * (((xx + yy + 3 * index) % 32) / 31.0)
    cw, ch = -(-width // (1 << sx)), -(-height // (1 << sy))
    cy, cx = np.mgrid[:ch, :cw]
    mid = (top + 1) // 2
    cb = mid + (hi - lo) / 4 * np.sin((cx + index) / 5.0)
    cr = mid + (hi - lo) / 4 * np.cos((cy + 2 * index) / 7.0)
    dtype = np.uint16 if nbytes == 2 else np.uint8
    return [np.clip(p, 0, top).round().astype(dtype) for p in (luma, cb, cr)]


def video_frame(index: int, width: int, height: int, pix_fmt: str) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, pattern(index, width, height, pix_fmt)):
        rows = np.frombuffer(plane, dtype=data.dtype).reshape(-1, plane.line_size // data.dtype.itemsize)
        rows[: data.shape[0], : data.shape[1]] = data
    return frame


def make_video(
    path: Path,
    *,
    size: tuple[int, int] = (64, 48),
    frames: int = 12,
    rate: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    audio: Sequence[Audio] = (),
    subtitles: Sequence[Subtitles] = (),
    rotation: int | None = None,
    color: Color | None = None,
    tags: dict[str, str] | None = None,
    container_tags: dict[str, str] | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Write a small video; `pts` (in `time_base`, default 1/rate) makes it variable-rate.

    `tags` label the video stream, `container_tags` the file; `options` go to
    the video encoder, `container_options` to the muxer.
    Returns `path`. Audio and subtitle streams follow the video stream in order.
    """
    width, height = size
    if time_base is None:
        time_base = Fraction(1, rate)
    if pts is None:
        step = Fraction(1, rate) / time_base
        pts = [int(i * step) for i in range(frames)]
    assert len(pts) == frames, "one pts per frame"
    end = float((pts[-1] + max(1, int(Fraction(1, rate) / time_base))) * time_base)
    codec_options = {"preset": "ultrafast"} if codec in ("libx264", "libx265") else {}
    if codec == "libx265":
        codec_options["x265-params"] = "log-level=error"
    codec_options.update(options or {})
    fmt = _EXTENSION_FORMATS.get(path.suffix.lower())
    with av.open(str(path), "w", format=fmt, options=container_options or {}) as out:
        for key, value in (container_tags or {}).items():
            out.metadata[key] = value
        video = out.add_stream(codec, rate=rate, options=codec_options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if color is not None:
            ctx = video.codec_context
            ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = color.primaries, color.trc, color.space, color.range
        if rotation is not None:
            video.set_display_rotation(rotation)
        for key, value in (tags or {}).items():
            video.metadata[key] = value
        audio_streams = [(_add_audio(out, spec), spec) for spec in audio]
        sub_streams = [(_add_subtitles(out, spec), spec) for spec in subtitles]
        for i, t in enumerate(pts):
            frame = video_frame(i, width, height, pix_fmt)
            if color is not None:
                frame.color_primaries, frame.color_trc, frame.colorspace, frame.color_range = color.primaries, color.trc, color.space, color.range
            frame.pts = t
            frame.time_base = time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        for stream, spec in audio_streams:
            _write_audio(out, stream, spec, spec.seconds if spec.seconds is not None else end)
        for stream, spec in sub_streams:
            _write_subtitles(out, stream, spec)
    return path


def make_audio_only(path: Path, audio: Audio = Audio(), seconds: float = 0.5) -> Path:
    """A file with one audio stream and no video (an .m4a, or an .mp4 holding only sound)."""
    with av.open(str(path), "w", format=_EXTENSION_FORMATS.get(path.suffix.lower())) as out:
        _write_audio(out, _add_audio(out, audio), audio, seconds)
    return path


def _add_audio(out: av.container.OutputContainer, spec: Audio) -> av.audio.stream.AudioStream:
    stream = out.add_stream(spec.codec, rate=spec.rate, layout=spec.layout)
    for key, value in spec.tags.items():
        stream.metadata[key] = value
    return stream


def _write_audio(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, spec: Audio, seconds: float) -> None:
    fmt = stream.codec_context.format.name
    channels = stream.codec_context.layout.nb_channels
    total = int(round(seconds * spec.rate))
    chunk = 1024
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (start + np.arange(n)) / spec.rate
        tone = 0.3 * np.sin(2 * np.pi * 440.0 * t)
        data = np.repeat(tone[None, :], channels, axis=0)
        if fmt in ("s16", "s16p"):
            data = (data * 32767).astype(np.int16)
        elif fmt in ("u8", "u8p"):
            data = (data * 127 + 128).astype(np.uint8)
        else:
            data = data.astype(np.float32)
        if not fmt.endswith("p"):  # packed: one row, channels interleaved
            data = data.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=spec.layout)
        frame.sample_rate = spec.rate
        frame.pts = start
        frame.time_base = Fraction(1, spec.rate)
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _add_subtitles(out: av.container.OutputContainer, spec: Subtitles) -> av.stream.Stream:
    stream = out.add_mux_stream("subrip")
    stream.time_base = Fraction(1, 1000)
    for key, value in spec.tags.items():
        stream.metadata[key] = value
    return stream


def _write_subtitles(out: av.container.OutputContainer, stream: av.stream.Stream, spec: Subtitles) -> None:
    for start, duration, text in spec.cues:
        packet = av.Packet(text.encode())
        packet.stream = stream
        packet.time_base = Fraction(1, 1000)
        packet.pts = packet.dts = int(round(start * 1000))
        packet.duration = int(round(duration * 1000))
        out.mux(packet)


def remux_timestamps(src: Path, dst: Path, pts: Sequence[int], dts: Sequence[int], time_base: Fraction = Fraction(1, 1000)) -> Path:
    """Copy the video packets of `src` into `dst` with the given pts and dts (in `time_base`).

    This is how broken timestamps (out of order, repeated) get into a file:
    the encoder never sees them, the muxer stores them as given.
    """
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=_EXTENSION_FORMATS.get(dst.suffix.lower())) as out:
        source = inp.streams.video[0]
        stream = out.add_stream_from_template(source)
        stream.time_base = time_base
        packets = [p for p in inp.demux(source) if p.size]
        assert len(packets) == len(pts) == len(dts), (len(packets), len(pts), len(dts))
        for packet, p, d in zip(packets, pts, dts):
            packet.stream = stream
            packet.time_base = time_base
            packet.pts, packet.dts = p, d
            packet.duration = 0
            out.mux(packet)
    return dst


def make_image(path: Path, size: tuple[int, int] = (40, 30), *, alpha: bool = False) -> Path:
    """An RGB (or RGBA with a horizontal alpha ramp) image in the format of its extension."""
    width, height = size
    yy, xx = np.mgrid[:height, :width]
    rgb = np.stack([(xx * 255 // max(1, width - 1)), (yy * 255 // max(1, height - 1)), ((xx + yy) * 4) % 256], axis=-1).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    if alpha:
        img.putalpha(Image.fromarray((xx * 255 // max(1, width - 1)).astype(np.uint8), "L"))
    img.save(path)
    return path


# ---------------------------------------------------------------------------
# Reading back


@dataclass(frozen=True)
class FrameInfo:
    seconds: float  # pts * time_base (exact Fraction, then float)
    pts: int | None
    width: int
    height: int
    format: str
    rotation: float


def decoded_frames(path: Path) -> list[FrameInfo]:
    """Every decoded frame of the first video stream, in decode-output order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [
            FrameInfo(
                seconds=float(frame.pts * frame.time_base) if frame.pts is not None else float("nan"),
                pts=frame.pts,
                width=frame.width,
                height=frame.height,
                format=frame.format.name,
                rotation=frame.rotation,
            )
            for frame in container.decode(stream)
        ]


def stream_packets(path: Path, kind: str, index: int = 0) -> list[av.Packet]:
    """The non-empty packets of the `index`-th stream of type `kind` ("audio", "subtitle")."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == kind]
        return [p for p in container.demux(streams[index]) if p.size]


def packet_bytes(path: Path, kind: str, index: int = 0) -> list[bytes]:
    return [bytes(p) for p in stream_packets(path, kind, index)]


def container_tags(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        return dict(container.metadata)


def stream_summary(path: Path) -> list[dict]:
    """One dict per stream: type, codec name and tags."""
    with av.open(str(path)) as container:
        return [
            {
                "type": s.type,
                "codec": s.codec_context.name if s.codec_context is not None else None,
                "tags": dict(s.metadata),
            }
            for s in container.streams
        ]


def audio_seconds(path: Path, index: int = 0) -> float:
    """Decoded audio duration: every decoded sample, at the stream's rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[index]
        return sum(frame.samples / frame.sample_rate for frame in container.decode(stream))


def video_seconds(path: Path) -> float:
    """From the first frame's start to the last frame's end, at the last frame step."""
    frames = decoded_frames(path)
    times = sorted(f.seconds for f in frames)
    step = times[-1] - times[-2] if len(times) > 1 else 0.0
    return times[-1] + step - times[0]


def textured_photo(seed: int, size: tuple[int, int] = (72, 60)) -> np.ndarray:
    """An 8-bit RGB (height, width) = `size` picture: a smooth random colour field with
    some hard edges, which networks can learn from and which is not noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6, 3)
        wave = 0.5 + 0.35 * np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        wave += 0.15 * ((x * rng.uniform(2, 5)) % 1 > 0.5)
        channels.append(wave)
    return (np.clip(np.stack(channels, -1), 0, 1) * 255).round().astype(np.uint8)
