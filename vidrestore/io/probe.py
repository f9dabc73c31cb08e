"""What an input file holds: `probe` opens it once and describes it.

Colour is not probed: the tags a stream's header gives are often missing or
wrong, so the decoder decides the colour at the first frame
(`frames.StreamFormat`)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidrestore.errors import InputError
from vidrestore.io.paths import check_readable_file
from vidrestore.io.tags import stream_tags


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    pix_fmt: str
    codec: str
    time_base: Fraction
    rate: Fraction  # average frame rate; a guess for variable-rate files
    frames: int  # from the header, 0 when unknown
    duration: float | None  # seconds
    other_streams: tuple[str, ...]  # "audio:aac", "subtitle:mov_text", ...
    index: int = 0  # the video stream's index in the file
    tags: tuple[tuple[str, str], ...] = ()  # the file's metadata
    video_tags: tuple[tuple[str, str], ...] = ()  # the video stream's, titles under "title"

    @property
    def frame_step(self) -> int:
        """One frame's duration in time-base ticks (at least 1)."""
        return max(1, round(1 / (self.rate * self.time_base)))

    @property
    def expected_frames(self) -> int:
        """The frames a progress line counts to: the header's count, else duration x rate, else 0."""
        return self.frames or (round(self.duration * self.rate) if self.duration else 0)


def _rate_of(stream: av.video.stream.VideoStream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            return Fraction(rate)
    return Fraction(25)


def probe(path: Path) -> VideoInfo:
    """Describe the first video stream of `path`, or raise `InputError`."""
    check_readable_file(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: not a video file FFmpeg can read ({_reason(exc)})") from None
    with container:
        videos = [s for s in container.streams.video if not _is_cover_art(s)]
        if not videos:
            kinds = sorted({s.type for s in container.streams}) or ["no"]
            raise InputError(f"{path}: no video stream (found {', '.join(kinds)} streams)")
        stream = videos[0]
        ctx = stream.codec_context
        if not ctx.width or not ctx.height:
            raise InputError(f"{path}: video stream has no frame size; the file may be truncated or corrupt")
        duration = None
        if stream.duration is not None and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        others = tuple(
            f"{s.type}:{s.codec_context.name if s.codec_context else 'unknown'}"
            for s in container.streams
            if s is not stream
        )
        return VideoInfo(
            path=path,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt or "unknown",
            codec=ctx.name,
            time_base=Fraction(stream.time_base),
            rate=_rate_of(stream),
            frames=stream.frames or 0,
            duration=duration,
            other_streams=others,
            index=stream.index,
            tags=tuple(container.metadata.items()),
            video_tags=tuple(stream_tags(stream).items()),
        )


def _is_cover_art(stream: av.stream.Stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _reason(exc: av.error.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or str(exc)
